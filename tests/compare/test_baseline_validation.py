"""Baseline YAML files are data, checked completely (issue 15, items 5 and 6): non-UTF-8 text, deep or
self-holding nesting, unhashable keys and values, and non-finite or out-of-range numbers are one-line
BaselineErrors (exit 2 from the CLI) naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.compare import baselines as bl

GOOD = """\
source: {citation: "A paper", where: "table 1"}
suite: mesh_fitting
protocol: {points: 10000}
metrics:
  chamfer_l2: {higher_is_better: false, scale: 1.0}
  "f1@0.1": {higher_is_better: true, tolerance: {absolute: 1.0}}
tolerance: {relative: 0.1}
entries:
  - {case: {target: torus}, metric: chamfer_l2, value: 0.10}
  - {case: {target: torus}, metric: "f1@0.1", value: 50, direction: higher}
"""


def _write(tmp_path: Path, content: str | bytes) -> Path:
    p = tmp_path / "b.yaml"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def _load(path: Path) -> bl.Baseline:
    return bl.load(path, known_metrics=False)


def test_the_good_file_loads(tmp_path):
    b = _load(_write(tmp_path, GOOD))
    assert [e.value for e in b.entries] == [0.10, 50.0]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# (edit of GOOD, message). Each was a traceback or was accepted before.
BAD = {
    "scale_inf": (GOOD.replace("scale: 1.0", "scale: .inf"),
                  r"field 'metrics\.chamfer_l2\.scale': expected a finite positive number, got inf"),
    "scale_nan": (GOOD.replace("scale: 1.0", "scale: .nan"), r"field 'metrics\.chamfer_l2\.scale'"),
    "scale_huge_int": (GOOD.replace("scale: 1.0", "scale: 1" + "0" * 400),
                       r"field 'metrics\.chamfer_l2\.scale': expected a finite positive number"),
    "value_inf": (GOOD.replace("value: 0.10", "value: -.inf"), r"field 'entries\[0\]\.value': expected a finite"),
    "value_huge_int": (GOOD.replace("value: 0.10", "value: 1" + "0" * 400),
                       r"field 'entries\[0\]\.value': expected a finite number"),
    "value_times_scale_overflows": (
        GOOD.replace("scale: 1.0", "scale: 1.0e+300").replace("value: 0.10", "value: 1.0e+10"),
        r"field 'entries\[0\]\.value': .* times metrics\.chamfer_l2\.scale 1e\+300 is not a finite"),
    "tolerance_inf": (GOOD.replace("{relative: 0.1}", "{relative: .inf}"),
                      r"field 'tolerance\.relative': expected a finite number >= 0, got inf"),
    "tolerance_huge_int": (GOOD.replace("{absolute: 1.0}", "{absolute: 1" + "0" * 400 + "}"),
                           r"field 'metrics\.f1@0\.1\.tolerance\.absolute'"),
    "direction_list": (GOOD.replace("direction: higher", "direction: [higher]"),
                       r"field 'entries\[1\]\.direction': expected 'higher' or 'lower', got a list of 1 item\(s\)"),
    "metric_list": (GOOD.replace("metric: chamfer_l2, value", "metric: [chamfer_l2], value"),
                    r"field 'entries\[0\]\.metric': a list of 1 item\(s\) is not declared"),
    "metric_name_int": (GOOD.replace('"f1@0.1": {higher', '7: {higher'), r"field 'metrics\.7': expected a bench3d"),
    "unhashable_key": (GOOD.replace("protocol: {points: 10000}", "protocol: {[points]: 10000}"),
                       r"not valid YAML: found unhashable key \(line 3, column 12\)"),
    "unhashable_top_key": (GOOD + "? {a: 1}\n: 2\n", r"not valid YAML: found unhashable key"),
    "mixed_unknown_keys": (GOOD + "1: a\nzz: b\n", r"field '1': unknown field"),
    "protocol_list": (GOOD.replace("{points: 10000}", "{points: [1, 2]}"),
                      r"field 'protocol\.points': expected a plain value"),
    "protocol_nan": (GOOD.replace("{points: 10000}", "{points: .nan}"), r"field 'protocol\.points'"),
    "case_value_mapping": (GOOD.replace("{target: torus}, metric: chamfer_l2", "{target: {a: 1}}, metric: chamfer_l2"),
                           r"field 'entries\[0\]\.case\.target': expected a plain value"),
    "unit_list": (GOOD.replace("scale: 1.0}", "scale: 1.0, unit: [mm]}"), r"field 'metrics\.chamfer_l2\.unit'"),
    "note_mapping": (GOOD.replace("value: 0.10}", "value: 0.10, note: {a: 1}}"), r"field 'entries\[0\]\.note'"),
    "deep_5000": (GOOD.replace("{points: 10000}", "{points: " + _nested(5000) + "}"), r"YAML nested too deeply"),
    "deep_40": (GOOD.replace("{points: 10000}", "{points: " + _nested(40) + "}"), r"nested more than 16 levels"),
    "holds_itself": (GOOD.replace("protocol: {points: 10000}", "protocol: &p {points: 1, self: *p}"),
                     r"holding itself through an alias"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_one_line_errors_naming_file_and_field(name, tmp_path):
    text, message = BAD[name]
    path = _write(tmp_path, text)
    with pytest.raises(bl.BaselineError, match=message) as err:
        _load(path)
    assert str(err.value).startswith(f"baseline {path}: ") and "\n" not in str(err.value)


def test_non_utf8_file(tmp_path):
    path = _write(tmp_path, GOOD.replace("A paper", "A p\u00e4per").encode("latin-1"))
    with pytest.raises(bl.BaselineError, match=r"not UTF-8 text \(byte 0xe4 at offset \d+\)") as err:
        _load(path)
    assert str(path) in str(err.value)


def test_yaml_stays_data_only(tmp_path):
    path = _write(tmp_path, GOOD.replace("protocol: {points: 10000}",
                                         "protocol: {points: !!python/object/apply:os.system [echo hi]}"))
    with pytest.raises(bl.BaselineError, match="not valid YAML"):
        _load(path)


@pytest.mark.timeout(60)
def test_many_aliases_of_one_node_load_without_expanding(tmp_path):
    """A "billion laughs" file: nine levels of nine aliases. The nesting walk visits each node once; the
    protocol refuses the list before anything would print it out whole."""
    lines = ['a0: &a0 ["lol"]'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    text = GOOD.replace("protocol: {points: 10000}", "protocol: {points: *a9}")
    path = _write(tmp_path, "notes:\n  " + "\n  ".join(lines) + "\n" + text)
    with pytest.raises(bl.BaselineError, match=r"field 'protocol\.points': expected a plain value"):
        _load(path)


def test_compare_with_a_bad_baseline_exits_2_with_one_line(tmp_path, capsys):
    from bench.store import Store

    db = tmp_path / "r.db"
    Store.open(db, create=True).close()
    path = _write(tmp_path, GOOD.replace("scale: 1.0", "scale: .inf"))
    assert main(["compare", str(path), "latest", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "metrics.chamfer_l2.scale" in err and str(path) in err
