"""Mesh quality as in Mesh R-CNN's evaluation: sample points with normals, rescale, compare.

``compare_meshes(pred, gt, protocol="meshrcnn")`` samples ``num_samples`` points with face normals
on each mesh (PyTorch3D's ``sample_points_from_meshes``, area-weighted), after scaling both meshes so
the ground truth's longest bounding-box edge is 10 ("meshrcnn") or by 0.57 ("pixel2mesh"), and
returns Chamfer-L2, NormalConsistency, AbsNormalConsistency and F1@t for the protocol's thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.errors import unknown_name
from bench.metrics import validate as V
from bench.metrics.accumulate import ItemMetric, from_items
from bench.metrics.fingerprint import MetricResult, make_fingerprint
from bench.metrics.geometry import chamfer_items, f1_items, f1_result, normal_items, pair_nn
from bench.metrics.units import SQUARED_LENGTH


@dataclass(frozen=True)
class MeshProtocol:
    """A mesh evaluation protocol: how meshes are scaled and which F1 thresholds are reported."""

    name: str
    scale: str | float  # "gt-10": GT longest bbox edge becomes 10; a float multiplies both meshes
    thresholds: tuple[float, ...]
    source: str


PROTOCOLS = {
    "meshrcnn": MeshProtocol("meshrcnn", "gt-10", (0.1, 0.2, 0.3, 0.4, 0.5),
                             "Mesh R-CNN (Gkioxari et al. 2019), ShapeNet evaluation"),
    # Pixel2Mesh thresholds 1e-4 and 2e-4 are on squared distances; F1 here uses unsquared ones.
    "pixel2mesh": MeshProtocol("pixel2mesh", 0.57, (math.sqrt(1e-4), math.sqrt(2e-4)),
                               "Pixel2Mesh (Wang et al. 2018) as evaluated by Mesh R-CNN"),
}
GT_LONG_EDGE = 10.0
GT_SEED_OFFSET = 1 << 20


def _verts_faces(m: Any, name: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Meshes (any object with verts_list/faces_list), trimesh.Trimesh, or (verts, faces) tensors."""
    if hasattr(m, "verts_list") and hasattr(m, "faces_list"):
        verts, faces = list(m.verts_list()), list(m.faces_list())
    elif hasattr(m, "vertices") and hasattr(m, "faces"):  # trimesh.Trimesh
        verts, faces = [m.vertices], [m.faces]
    elif isinstance(m, (tuple, list)) and m and all(hasattr(x, "vertices") for x in m):
        verts, faces = [x.vertices for x in m], [x.faces for x in m]
    elif isinstance(m, (tuple, list)) and len(m) == 2:
        v, f = m
        if isinstance(v, (list, tuple)):
            verts, faces = list(v), list(f)
        else:
            vt, ft = V.as_tensor(v, f"{name} verts"), V.as_tensor(f, f"{name} faces", dtype=torch.int64)
            verts, faces = (list(vt), list(ft)) if vt.ndim == 3 else ([vt], [ft])
    else:
        raise ValueError(f"{name}: expected Meshes, trimesh.Trimesh or a (verts, faces) pair, got {type(m).__name__}")
    vs = [V.as_tensor(v, f"{name}[{i}] verts", dtype=torch.float32) for i, v in enumerate(verts)]
    fs = [V.as_tensor(f, f"{name}[{i}] faces", dtype=torch.int64, device=vs[i].device) for i, f in enumerate(faces)]
    for i, (v, f) in enumerate(zip(vs, fs, strict=True)):
        V.check_ndim(v, f"{name}[{i}] verts", 2, "(V, 3)")
        V.check_last_dim(v, f"{name}[{i}] verts", 3, "(V, 3)")
        V.check_ndim(f, f"{name}[{i}] faces", 2, "(F, 3)")
        V.check_last_dim(f, f"{name}[{i}] faces", 3, "(F, 3)")
        if f.shape[0] == 0 or v.shape[0] == 0:
            raise ValueError(f"{name}[{i}]: empty mesh ({v.shape[0]} verts, {f.shape[0]} faces)")
        if int(f.min()) < 0 or int(f.max()) >= v.shape[0]:
            raise ValueError(f"{name}[{i}] faces: indices must lie in [0, {v.shape[0] - 1}]")
    return vs, fs


def _scales(gt_verts: list[torch.Tensor], protocol: MeshProtocol) -> list[float]:
    if protocol.scale != "gt-10":
        return [float(protocol.scale)] * len(gt_verts)
    out = []
    for i, v in enumerate(gt_verts):
        edge = float((v.amax(0) - v.amin(0)).max())
        if edge <= 0:
            raise ValueError(f"gt[{i}]: degenerate bounding box (longest edge {edge})")
        out.append(GT_LONG_EDGE / edge)
    return out


def _sample(verts: torch.Tensor, faces: torch.Tensor, n: int, seed: int, backend: Any
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3) points and normals on one mesh, reproducible from ``seed`` whatever the batch."""
    devices = [verts.device] if verts.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        mesh = backend.structures.Meshes(verts=[verts], faces=[faces])
        pts, nrm = backend.ops.sample_points_from_meshes(mesh, n, return_normals=True)
    return pts[0].to(torch.float64), nrm[0].to(torch.float64)


@torch.no_grad()
def compare_meshes(pred: Any, gt: Any, *, protocol: str = "meshrcnn", num_samples: int = 10000, seed: int = 0,
                   thresholds: Sequence[float] | None = None, knn: str = "auto", backend: str = "auto",
                   first_index: int = 0) -> dict[str, MetricResult]:
    """Mesh R-CNN style comparison of N predicted meshes with N ground-truth meshes.

    Args:
        pred, gt: Meshes (backend or pytorch3d), trimesh.Trimesh, or (verts (V, 3) | (N, V, 3), faces) pairs.
        protocol: "meshrcnn" (GT longest edge 10, F1@0.1..0.5) or "pixel2mesh" (scale 0.57, F1@sqrt(1e-4), sqrt(2e-4)).
        num_samples: points sampled per mesh (10k in Mesh R-CNN's tables).
        seed: prediction i is sampled under ``torch.manual_seed(seed + first_index + i)`` and its ground
            truth under that plus ``GT_SEED_OFFSET``, so a shape's score does not depend on its batch.
        thresholds: override the protocol's F1 thresholds (recorded in the fingerprint).
    Returns:
        {"Chamfer-L2", "NormalConsistency", "AbsNormalConsistency", "F1@t"...} -> MetricResult, one item per mesh.
    """
    from bench import backends

    if protocol not in PROTOCOLS:
        raise unknown_name("mesh protocol", protocol, PROTOCOLS)
    proto = PROTOCOLS[protocol]
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: expected a positive int, got {num_samples!r}")
    ths = tuple(float(t) for t in (proto.thresholds if thresholds is None else thresholds))
    if not ths or any(not t > 0 for t in ths):
        raise ValueError(f"thresholds: expected positive distances, got {thresholds!r}")
    pv, pf = _verts_faces(pred, "pred")
    gv, gf = _verts_faces(gt, "gt")
    if len(pv) != len(gv):
        raise ValueError(f"gt: {len(gv)} meshes but pred has {len(pv)}")
    ns = backends.load(backend)
    scales = _scales(gv, proto)
    pts = {"pred": [], "gt": []}
    nrm = {"pred": [], "gt": []}
    for i, s in enumerate(scales):
        for key, v, f in (("pred", pv[i], pf[i]), ("gt", gv[i], gf[i])):
            sd = seed + first_index + i + (0 if key == "pred" else GT_SEED_OFFSET)
            p, n = _sample(v * s, f, num_samples, sd, ns)
            pts[key].append(p)
            nrm[key].append(n)
    nns = pair_nn(pts["pred"], pts["gt"], knn, ("pred", "gt"))
    fp_common = {"protocol": proto.name, "scale": proto.scale, "num_samples": num_samples,
                 "sampler": "sample_points_from_meshes (area-weighted, face normals)", "thresholds": list(ths)}
    impl = "bench3d.metrics.compare_meshes (Mesh R-CNN convention)"

    def fp(metric: str, **extra: Any) -> dict[str, Any]:
        return make_fingerprint(metric, impl, **fp_common, **extra)

    out = {
        "Chamfer-L2": from_items("Chamfer-L2", [chamfer_items(n) for n in nns],
                                 fp("chamfer", squared=True, reduction="mean per direction, summed"),
                                 unit=SQUARED_LENGTH, higher_is_better=False),
        "NormalConsistency": from_items("NormalConsistency", [
            normal_items(n, a, b, False) for n, a, b in zip(nns, nrm["pred"], nrm["gt"], strict=True)],
            fp("normal_consistency", absolute=False), higher_is_better=True),
        "AbsNormalConsistency": from_items("AbsNormalConsistency", [
            normal_items(n, a, b, True) for n, a, b in zip(nns, nrm["pred"], nrm["gt"], strict=True)],
            fp("normal_consistency", absolute=True), higher_is_better=True),
    }
    for t in ths:
        res = f1_result([f1_items(n, t) for n in nns], t,
                        fp("f1", threshold=t, distance="unsquared", comparison="<", unit="percent"))
        out[res.name] = res
    return out


class MeshMetrics(ItemMetric):
    """Accumulating :func:`compare_meshes` over batches of shapes (per-instance means)."""

    fn = staticmethod(compare_meshes)

    def reset(self) -> None:
        super().reset()
        self._seen = 0

    def update(self, pred: Any, gt: Any, **kwargs: Any) -> dict[str, MetricResult]:
        res = super().update(pred, gt, first_index=self._seen, **kwargs)
        self._seen += len(next(iter(res.values())).items)
        return res
