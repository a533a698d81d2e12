"""AP^mesh against hand-computed average precisions of constructed detections."""

from __future__ import annotations

import math

import pytest
import torch
import trimesh

from bench.metrics import Detection, ap_mesh
from bench.metrics.detection import average_precision


def _box(offset: float) -> tuple[torch.Tensor, torch.Tensor]:
    m = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    return torch.tensor(m.vertices + [offset, 0.0, 0.0], dtype=torch.float32), torch.tensor(m.faces)


def test_average_precision_by_hand():
    # hit, miss, hit over 2 objects: precision 1 up to recall 0.5, then 2/3 up to recall 1
    assert math.isclose(average_precision([True, False, True], 2), (51 * 1.0 + 50 * (2 / 3)) / 101)
    assert average_precision([False, False], 3) == 0.0
    assert math.isclose(average_precision([True], 2), 51 / 101)  # recall never passes 0.5


def test_ap_mesh_on_constructed_predictions():
    gt = {"a": [("chair", _box(0.0))], "b": [("chair", _box(0.0)), ("table", _box(0.0))]}
    dets = [Detection("a", "chair", 0.9, _box(0.0)),    # F1@0.3 = 100: hit
            Detection("b", "chair", 0.8, _box(5.0)),    # far away: F1 = 0, miss
            Detection("b", "chair", 0.7, _box(0.0)),    # hit
            Detection("a", "chair", 0.6, _box(0.0)),    # duplicate of a matched object: miss
            Detection("b", "table", 0.5, _box(0.02))]   # within 0.3 after the scale-10 protocol: hit
    res = ap_mesh(dets, gt, num_samples=2000)
    chair = 100.0 * (51 + 50 * (2 / 3)) / 101
    assert res.extra["categories"] == ["chair", "table"]
    assert res.items == pytest.approx([chair, 100.0])
    assert res.value == pytest.approx((chair + 100.0) / 2)
    assert res.unit == "%" and res.higher_is_better


def test_detection_of_an_unknown_image_is_refused():
    with pytest.raises(ValueError, match="image 'zz'"):
        ap_mesh([Detection("zz", "chair", 1.0, _box(0.0))], {"a": [("chair", _box(0.0))]}, num_samples=100)
