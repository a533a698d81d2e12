"""compare_meshes: analytic concentric icospheres, protocol scaling, input forms, accumulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from _tester import MetricTester, assert_bad_input

from bench.errors import UsageError
from bench.metrics.meshes import PROTOCOLS, MeshMetrics, compare_meshes

N = 10000


def sphere(r, center=(0.0, 0.0, 0.0), subdivisions=4):
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=r)
    m.apply_translation(center)
    return m


def _long_edge(m):
    return float(np.ptp(m.vertices, axis=0).max())


def test_concentric_spheres_meshrcnn_analytic():
    r_gt, r_pred = 1.0, 1.05
    gt, pred = sphere(r_gt), sphere(r_pred)
    res = compare_meshes(pred, gt, num_samples=N)
    s = 10.0 / _long_edge(gt)
    gap, R1, R2 = s * (r_pred - r_gt), s * r_gt, s * r_pred
    # With N uniform random samples (density N / 4 pi R^2) the expected squared distance to the nearest
    # sample is gap^2 + 1 / (pi * density) = gap^2 + 4 R^2 / N per direction.
    expected = 2 * gap**2 + 4 * (R1**2 + R2**2) / N
    assert res["Chamfer-L2"].value == pytest.approx(expected, rel=0.02)
    assert res["AbsNormalConsistency"].value > 0.99
    assert res["NormalConsistency"].value > 0.99  # both outward
    # F1 steps from 0 to 100 as the threshold crosses the gap (0.25 after rescaling).
    assert gap == pytest.approx(0.25, rel=0.01)
    assert res["F1@0.1"].value == 0.0 and res["F1@0.2"].value == 0.0
    assert 0.0 < res["F1@0.3"].value < 100.0
    assert res["F1@0.5"].value == pytest.approx(100.0)
    assert set(res) == {"Chamfer-L2", "NormalConsistency", "AbsNormalConsistency",
                        "F1@0.1", "F1@0.2", "F1@0.3", "F1@0.4", "F1@0.5"}


def test_inside_out_prediction_flips_signed_normals_only():
    gt = sphere(1.0)
    inv = sphere(1.0)
    inv.invert()
    res = compare_meshes(inv, gt, num_samples=2000)
    assert res["NormalConsistency"].value < -0.98
    assert res["AbsNormalConsistency"].value > 0.98


def test_meshrcnn_protocol_is_scale_invariant_and_pixel2mesh_scales():
    gt, pred = sphere(1.0, subdivisions=3), sphere(0.9, (0.05, 0, 0), subdivisions=3)
    base = compare_meshes(pred, gt, num_samples=3000, seed=7)
    big = compare_meshes((pred.vertices * 3, pred.faces), (gt.vertices * 3, gt.faces), num_samples=3000, seed=7)
    np.testing.assert_allclose(big["Chamfer-L2"].items, base["Chamfer-L2"].items, rtol=1e-4)
    assert big["F1@0.1"].value == pytest.approx(base["F1@0.1"].value, abs=0.05)
    p2m = compare_meshes(pred, gt, protocol="pixel2mesh", num_samples=3000, seed=7)
    ratio = (10.0 / _long_edge(gt) / 0.57) ** 2
    assert base["Chamfer-L2"].value == pytest.approx(p2m["Chamfer-L2"].value * ratio, rel=1e-4)
    assert list(p2m) == ["Chamfer-L2", "NormalConsistency", "AbsNormalConsistency", "F1@0.01", "F1@0.0141421"]
    assert p2m["F1@0.01"].fingerprint["params"]["scale"] == 0.57
    assert PROTOCOLS["pixel2mesh"].thresholds[1] ** 2 == pytest.approx(2e-4)


def test_input_forms_agree_and_seed_reproducible():
    from bench.backends.torch3d.structures import Meshes

    gt, pred = sphere(1.0, subdivisions=2), sphere(1.2, subdivisions=2)
    as_tm = compare_meshes(pred, gt, num_samples=1000, seed=3)
    as_tuple = compare_meshes((pred.vertices, pred.faces), (gt.vertices, gt.faces), num_samples=1000, seed=3)
    as_meshes = compare_meshes(
        Meshes(verts=[torch.tensor(pred.vertices, dtype=torch.float32)], faces=[torch.tensor(pred.faces)]),
        Meshes(verts=[torch.tensor(gt.vertices, dtype=torch.float32)], faces=[torch.tensor(gt.faces)]),
        num_samples=1000, seed=3)
    for k in as_tm:
        assert as_tm[k].items == as_tuple[k].items == as_meshes[k].items, k
    other = compare_meshes(pred, gt, num_samples=1000, seed=4)
    assert other["Chamfer-L2"].items != as_tm["Chamfer-L2"].items


def test_batched_equals_accumulated():
    preds = [sphere(1.0 + 0.05 * i, (0.02 * i, 0, 0), subdivisions=2) for i in range(4)]
    gts = [sphere(1.0, subdivisions=2) for _ in range(4)]
    kwargs = {"num_samples": 500, "seed": 11}
    batched = compare_meshes(preds, gts, **kwargs)
    MetricTester(compare_meshes, lambda *a, **k: [], (preds, gts), kwargs, accumulator=MeshMetrics
                 ).check_accumulated(batched)
    # a shape's score does not depend on its batch
    single = compare_meshes(preds[2:3], gts[2:3], first_index=2, **kwargs)
    assert single["Chamfer-L2"].items[0] == batched["Chamfer-L2"].items[2]


def test_mesh_bad_inputs():
    gt = sphere(1.0, subdivisions=1)
    assert_bad_input(compare_meshes, (gt.vertices, gt.faces[:0]), gt, match=r"pred\[0\]: empty mesh")
    assert_bad_input(compare_meshes, (gt.vertices, gt.faces + 1000), gt, match=r"pred\[0\] faces: indices")
    assert_bad_input(compare_meshes, gt, [gt, gt], match="gt: 2 meshes but pred has 1")
    assert_bad_input(compare_meshes, gt, gt, protocol="p2m", match="unknown mesh protocol", exc=UsageError)
    assert_bad_input(compare_meshes, gt, gt, num_samples=0, match="num_samples")
    assert_bad_input(compare_meshes, "cow.obj", gt, match="pred: expected Meshes")
    flat = (np.zeros((3, 3)), np.array([[0, 1, 2]]))
    assert_bad_input(compare_meshes, gt, flat, match=r"gt\[0\]: degenerate bounding box")


def test_pipeline_matches_bruteforce_on_the_same_samples():
    """Re-draw the documented samples by hand, rescale, and score them with the brute-force loops."""
    from test_geometry import chamfer_ref, f1_ref, normal_ref

    from bench.backends.torch3d.ops import sample_points_from_meshes
    from bench.backends.torch3d.structures import Meshes
    from bench.metrics.meshes import GT_SEED_OFFSET

    pred, gt = sphere(0.8, (0.1, 0.0, 0.0), subdivisions=2), trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    n, seed = 400, 5
    s = 10.0 / 2.0  # the box's longest edge is 2

    def draw(m, sd):
        torch.manual_seed(sd)
        mesh = Meshes(verts=[torch.tensor(m.vertices, dtype=torch.float32) * s], faces=[torch.tensor(m.faces)])
        p, nrm = sample_points_from_meshes(mesh, n, return_normals=True)
        return p[0].double().numpy(), nrm[0].double().numpy()

    (pp, pn), (gp, gn) = draw(pred, seed), draw(gt, seed + GT_SEED_OFFSET)
    res = compare_meshes(pred, gt, num_samples=n, seed=seed)
    assert res["Chamfer-L2"].items[0] == pytest.approx(chamfer_ref([pp], [gp])[0], rel=1e-9)
    assert res["AbsNormalConsistency"].items[0] == pytest.approx(normal_ref([pp], [gp], [pn], [gn])[0], rel=1e-9)
    assert res["NormalConsistency"].items[0] == pytest.approx(
        normal_ref([pp], [gp], [pn], [gn], absolute=False)[0], rel=1e-9)
    for t in (0.1, 0.3, 0.5):
        assert res[f"F1@{t:g}"].items[0] == pytest.approx(f1_ref([pp], [gp], t)[0], rel=1e-9)
