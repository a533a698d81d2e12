"""Any float, NaN and infinities included, survives the database exactly."""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.results import CaseResult, MetricRecord
from bench.store import Store, codec
from bench.store.sample import sample_run

floats = st.floats(allow_nan=True, allow_infinity=True) | st.none()


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))


@given(floats)
def test_encode_decode_inverse(x):
    assert _same(codec.decode(*codec.encode(x)), x)


@settings(max_examples=25, deadline=None)
@given(st.lists(floats, min_size=1, max_size=20))
def test_values_survive_sqlite(values):
    with Store.open("sqlite://") as store:
        store.create_run(sample_run())
        items = [0.0 if v is None else v for v in values]
        store.add_case(sample_run().run_id, CaseResult(
            suite="s", case="c", metrics=[MetricRecord(f"m{i}", v) for i, v in enumerate(values)]
            + [MetricRecord("items", 1.0, items=items)]))
        back = store.cases(sample_run().run_id)[0]
    assert all(_same(m.value, v) for m, v in zip(back.metrics, values, strict=False))
    assert all(_same(a, b) for a, b in zip(back.metrics[-1].items, items, strict=True))
