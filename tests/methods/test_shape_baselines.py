"""The mean-shape baselines of `meshrcnn` / `single_view` (bench.methods.shape_eval): the input-blind view-frame
means (of all training images, of the category's), the oracle (category mean rotated by the true camera), and no
test leakage. Expected values are worked out by hand on 4^3 grids."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.methods.shape_eval import BASELINES, baseline_predictions, best_threshold, view_mean_shapes
from bench.methods.single_view import ShapeSet, mean_shapes

G = 4


def _grid(*cells: tuple[int, int, int]) -> torch.Tensor:
    g = torch.zeros(G, G, G)
    for c in cells:
        g[c] = 1.0
    return g


def _set(view: list[torch.Tensor], canonical: list[torch.Tensor], ids: list[str], R: torch.Tensor | None = None
         ) -> ShapeSet:
    n = len(ids)
    return ShapeSet(images=torch.rand(n, 3, 8, 8), voxels=torch.stack(view), verts=[torch.zeros(1, 3)] * n,
                    faces=[torch.zeros(0, 3, dtype=torch.long)] * n, T=torch.tensor([[0.0, 0.0, 2.5]] * n),
                    fov=torch.full((n,), 60.0), ids=ids, categories=[i.split("/")[0] for i in ids],
                    canonical=torch.stack(canonical).bool(), R=torch.eye(3).expand(n, 3, 3) if R is None else R)


A, B, C, D = (0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)


def _train() -> ShapeSet:
    # category "a": three views of two instances; "b": one. View grids given directly (the view-frame targets).
    view = [_grid(A, B), _grid(A, C), _grid(A), _grid(D)]
    canon = [_grid(A, B), _grid(A, B), _grid(C), _grid(D)]  # object frame: one grid per instance
    return _set(view, canon, ["a/i0/v0", "a/i0/v1", "a/i1/v0", "b/i2/v0"])


def _test() -> ShapeSet:
    return _set([_grid(B), _grid(C)], [_grid(B), _grid(C)], ["a/i3/v0", "b/i4/v0"])


def test_view_frame_means_are_the_voxelwise_means_of_the_training_grids():
    m = view_mean_shapes(_train())
    # a: A in 3 of 3 views, B in 1, C in 1 -> only A reaches the threshold; b: D alone.
    assert m["a"][A] == 1.0 and abs(float(m["a"][B]) - 1 / 3) < 1e-6 and abs(float(m["a"][C]) - 1 / 3) < 1e-6
    assert torch.equal(m["b"], _grid(D))
    # all four: A 3/4, B, C, D 1/4 each, the rest 0.
    expect_all = _grid() + 0.25 * (_grid(B) + _grid(C) + _grid(D)) + 0.75 * _grid(A)
    assert torch.allclose(m["*"], expect_all)
    p, th = baseline_predictions(_train(), mean_shapes(_train()), _test())
    assert set(p) == set(BASELINES)
    # thresholds chosen on the training items by voxel IoU (worked by hand; ties go to the lowest):
    # all: {A} (t in [0.25, 0.75)) scores (1/2 + 1/2 + 1 + 0) / 4 = 0.5 > {A, B, C, D} (t < 0.25) 0.375 -> 0.25;
    # a: {A} (t >= 1/3) scores 2/3 > {A, B, C} 5/9 -> 0.35; b: any t < 1 is exact -> 0.05.
    assert th == {"*": 0.25, "a": 0.35, "b": 0.05}
    assert torch.equal(p["baseline_all_"][0], _grid(A)) and torch.equal(p["baseline_all_"][1], _grid(A))
    assert torch.equal(p["baseline_category_"][0], _grid(A))  # test item 0 is an "a"
    assert torch.equal(p["baseline_category_"][1], _grid(D))  # test item 1 is a "b"


def test_best_threshold_trades_the_faint_views_against_the_core():
    core, ring = _grid(A), _grid(B, C)
    mean = core + 0.4 * ring  # the ring is in 2 of 5 grids
    grids = torch.stack([core + ring] * 2 + [core] * 3)
    # t < 0.4: {A, B, C}: IoU (1 + 1 + 1/3 * 3) / 5 = 0.6; t >= 0.4: {A}: (1/3 * 2 + 1 * 3) / 5 = 0.733...
    assert best_threshold(mean, grids) == 0.4
    assert best_threshold(mean, torch.stack([core + ring] * 4 + [core])) == 0.05  # now the ring pays


def test_the_oracle_is_the_per_instance_category_mean_in_the_true_view():
    train, test = _train(), _test()
    # object-frame mean of "a": one vote per instance -> (grid(A, B) + grid(C)) / 2; with R = I the view grid is
    # the object grid in cubify's (D, H, W) = (z, y, x) layout.
    mean_a = (_grid(A, B) + _grid(C)) / 2
    p = baseline_predictions(train, mean_shapes(train), test)[0]["baseline_oracle_"]
    assert torch.allclose(p[0], mean_a.permute(2, 1, 0), atol=1e-6)
    assert torch.allclose(p[1], _grid(D).permute(2, 1, 0), atol=1e-6)
    # a half turn about y maps object x -> -x and z -> -z: cell (x, y, z) lands in (3 - x, y, 3 - z).
    half = torch.diag(torch.tensor([-1.0, 1.0, -1.0]))
    turned = dataclasses.replace(test, R=torch.stack([half, torch.eye(3)]))
    q = baseline_predictions(train, mean_shapes(train), turned)[0]["baseline_oracle_"]
    assert torch.allclose(q[0], mean_a.flip(0, 2).permute(2, 1, 0), atol=1e-6)


def test_no_baseline_depends_on_the_test_items_shapes_or_images():
    train, test = _train(), _test()
    before, th_before = baseline_predictions(train, mean_shapes(train), test)
    other = dataclasses.replace(test, voxels=torch.ones_like(test.voxels), images=torch.zeros_like(test.images),
                                canonical=torch.ones_like(test.canonical))
    after, th_after = baseline_predictions(train, mean_shapes(train), other)
    assert all(torch.equal(before[k], after[k]) for k in BASELINES) and th_before == th_after
    # ...while a training item does move them (so the check above can fail).
    moved = dataclasses.replace(train, voxels=train.voxels.clone(), canonical=train.canonical.clone())
    moved.voxels[2] = _grid(A, B)
    moved.canonical[2] = _grid(A, B).bool()
    changed = baseline_predictions(moved, mean_shapes(moved), test)[0]
    assert all(not torch.equal(before[k], changed[k]) for k in BASELINES)


def test_a_test_category_without_training_items_is_an_error_not_a_fallback():
    train, test = _train(), _test()
    odd = dataclasses.replace(test, categories=["a", "c"])
    with pytest.raises(ValueError, match=r"\['c'\] have no training items"):
        baseline_predictions(train, mean_shapes(train), odd)
