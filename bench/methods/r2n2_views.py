"""3D-R2N2 renders + voxels and ShapeNetCore v1 meshes as the view-frame items of `meshrcnn` / `single_view`.

The setting of Mesh R-CNN's ShapeNet experiments (Gkioxari et al. 2019, sec. 4.1, its ``shapenet/`` code) as
PyTorch3D's ``R2N2`` dataset reads it (``pytorch3d/datasets/r2n2``): 137 px renders of ShapeNet v1 models, one
camera per view from ``rendering_metadata.txt`` (:func:`bench.data.formats.r2n2.r2n2_cameras`), the v1
``model.obj`` as the ground-truth mesh, and the 32^3 binvox occupancy aligned to that mesh by matching the
bounding boxes axis by axis (Mesh R-CNN ``tools/preprocess_shapenet.py`` ``align_bbox``; binvox x, y, z are the
mesh's x, y, z). The split is a Mesh R-CNN-style JSON (``pix2mesh_splits_val05.json``:
``{split: {synset: {model: [view ids]}}}``) or, without one, the last ``test_instances`` models of each synset.

The suites' voxel grid covers [-1, 1]^3 of the view frame, so each model is scaled about the origin (the point
every camera aims at) until its farthest vertex is at ``UNIT_RADIUS``; the camera translation is scaled alike,
which leaves every image unchanged, and the Mesh R-CNN protocol rescales the ground truth before scoring anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.files import read_image, read_json
from bench.data.formats import r2n2 as fmt
from bench.data.formats.binvox import read_binvox
from bench.data.generated.meshes import load_mesh_file
from bench.errors import DataError

UNIT_RADIUS = 0.95
# The 13 R2N2 categories (Choy et al. 2016, table 1), for when ShapeNet's taxonomy.json is absent.
SYNSET_NAMES = {"02691156": "airplane", "02828884": "bench", "02933112": "cabinet", "02958343": "car",
                "03001627": "chair", "03211117": "display", "03636649": "lamp", "03691459": "speaker",
                "04090263": "rifle", "04256520": "sofa", "04379243": "table", "04401088": "telephone",
                "04530566": "watercraft"}
Splits = dict[str, dict[str, list[int]]]  # synset -> model -> view ids, of one split


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def read_splits(path: Path, split: str) -> Splits:
    """One split of a Mesh R-CNN-style splits JSON; DataError naming the file and key otherwise."""
    doc = read_json(path)
    if not isinstance(doc, dict) or split not in doc:
        raise DataError(f"{path}: expected an object with a {split!r} split ({{split: {{synset: {{model: "
                        f"[view ids]}}}}}}), got {_kind(doc) if not isinstance(doc, dict) else sorted(doc)}")
    out: Splits = {}
    if not isinstance(doc[split], dict):
        raise DataError(f"{path}: {split}: expected an object of synsets, got {_kind(doc[split])}")
    for synset, models in doc[split].items():
        if not isinstance(models, dict):
            raise DataError(f"{path}: {split}.{synset}: expected an object of models, got {_kind(models)}")
        for model, views in models.items():
            if not (isinstance(views, list) and views and all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 <= v < fmt.VIEWS for v in views)):
                raise DataError(f"{path}: {split}.{synset}.{model}: expected a non-empty list of view ids in "
                                f"0..{fmt.VIEWS - 1}, got {_kind(views)}")
            out.setdefault(synset, {})[model] = list(views)
    return out


def default_splits(r2n2_root: Path, v1_root: Path, test_instances: int) -> dict[str, Splits]:
    """Without a splits file: per synset (sorted), models with renders, voxels and a v1 mesh, sorted; the last
    ``test_instances`` are ``test``, the others ``train``; all 24 views."""
    out: dict[str, Splits] = {"train": {}, "test": {}}
    for sdir in sorted(p for p in (r2n2_root / fmt.RENDER).iterdir() if p.is_dir()):
        models = [m.name for m in sorted(p for p in sdir.iterdir() if p.is_dir())
                  if (r2n2_root / fmt.VOX / sdir.name / m.name / "model.binvox").is_file()
                  and (v1_root / sdir.name / m.name / "model.obj").is_file()]
        cut = max(len(models) - test_instances, 0)
        for split, names in (("train", models[:cut]), ("test", models[cut:])):
            if names:
                out[split][sdir.name] = {m: list(range(fmt.VIEWS)) for m in names}
    return out


def bbox_alignment(occ: np.ndarray, verts: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis ``scale, shift`` (3,) mapping occupied binvox indices (x, y, z) onto the mesh's bounding box
    (Mesh R-CNN's ``align_bbox``): ``world = scale * index + shift``."""
    idx = np.argwhere(occ)
    if len(idx) == 0:
        raise DataError(f"{path}: no occupied voxel; expected the model's 32^3 occupancy")
    lo, hi = idx.min(0).astype(np.float64), idx.max(0).astype(np.float64)
    vlo, vhi = verts.min(0), verts.max(0)
    scale = (vhi - vlo) / np.maximum(hi - lo, 1.0)  # one-voxel-thick axis: keep the voxel size of 1
    return scale, vlo - scale * lo


def canonical_voxels(occ: np.ndarray, scale: np.ndarray, shift: np.ndarray, unit: float, size: int
                     ) -> torch.Tensor:
    """The binvox occupancy (X, Y, Z) resampled (nearest) on a ``size``^3 grid over [-1, 1]^3 of the mesh
    frame scaled by ``unit``: (size, size, size) bool in the suites' canonical (X, Y, Z) layout."""
    centres = -1.0 + (np.arange(size) + 0.5) * 2.0 / size
    cells = []
    for a in range(3):  # index along axis a of the cell centres, in binvox units
        cells.append(np.rint((centres / unit - shift[a]) / scale[a]).astype(np.int64))
    inside = [(c >= 0) & (c < occ.shape[a]) for a, c in enumerate(cells)]
    clipped = [np.clip(c, 0, occ.shape[a] - 1) for a, c in enumerate(cells)]
    vol = occ[np.ix_(*clipped)] & inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
    return torch.from_numpy(np.ascontiguousarray(vol))


def _images(rdir: Path, views: list[int], size: int) -> torch.Tensor:
    """Views ``views`` of one model: RGBA composited on white (as R2N2 renders are shown), (V, size, size, 3)."""
    rgba = torch.from_numpy(np.stack([read_image(rdir / f"{v:02d}.png", "RGBA") for v in views]))
    rgb = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    if rgb.shape[1:3] != (size, size):
        rgb = F.interpolate(rgb.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", antialias=True,
                            align_corners=False).clamp(0, 1).permute(0, 2, 3, 1)
    return rgb.contiguous()


def load_instance(r2n2_root: Path, v1_root: Path, synset: str, model: str, views: list[int], image_size: int,
                  voxel_size: int, names: dict[str, str]) -> dict[str, Any]:
    """One model as an instance of :func:`bench.methods.single_view.to_view_set`, scaled by ``UNIT_RADIUS``:
    images (V, S, S, 3), R (V, 3, 3), T (V, 3), fov (V,), verts (P, 3) / faces (F, 3) in the mesh frame, voxels
    (G, G, G) bool canonical occupancy over [-1, 1]^3 (G = ``voxel_size``), view_names (R2N2's ``00``..``23``)."""
    rdir = r2n2_root / fmt.RENDER / synset / model / "rendering"
    meta_path = rdir / "rendering_metadata.txt"
    meta = fmt.read_metadata(meta_path)
    if max(views) >= len(meta):
        raise DataError(f"{meta_path}: {len(meta)} lines, but view {max(views)} is used; expected {fmt.VIEWS}")
    obj = v1_root / synset / model / "model.obj"
    if not obj.is_file():
        raise DataError(f"{obj}: ShapeNetCore v1 mesh of R2N2 model {synset}/{model} is missing")
    v, f = load_mesh_file(obj)
    v = np.asarray(v, dtype=np.float64)
    unit = UNIT_RADIUS / max(float(np.linalg.norm(v, axis=1).max()), 1e-12)
    vox_path = r2n2_root / fmt.VOX / synset / model / "model.binvox"
    occ = read_binvox(vox_path).data
    scale, shift = bbox_alignment(occ, v, vox_path)
    R, T = fmt.r2n2_cameras(meta[views])
    return {"id": f"{synset}/{model}", "category": names.get(synset, SYNSET_NAMES.get(synset, synset)),
            "view_names": [f"{k:02d}" for k in views], "images": _images(rdir, views, image_size),
            "R": torch.tensor(R, dtype=torch.float32), "T": torch.tensor(T * unit, dtype=torch.float32),
            "fov": torch.full((len(views),), fmt.FOV_DEG), "verts": torch.tensor(v * unit, dtype=torch.float32),
            "faces": torch.as_tensor(np.asarray(f), dtype=torch.int64),
            "voxels": canonical_voxels(occ, scale, shift, unit, voxel_size)}


def _present(r2n2_root: Path, v1_root: Path, synset: str, model: str) -> bool:
    return ((r2n2_root / fmt.RENDER / synset / model / "rendering").is_dir()
            and (r2n2_root / fmt.VOX / synset / model / "model.binvox").is_file()
            and (v1_root / synset / model / "model.obj").is_file())


def case_splits(r2n2_root: Path, v1_root: Path, splits: str, test_instances: int, log: Any = None
                ) -> dict[str, Splits]:
    """The train and test splits of a case: the ``splits`` JSON (a relative path is looked up in the R2N2
    folder) restricted to the models present on disk, or :func:`default_splits`."""
    if not splits:
        return default_splits(r2n2_root, v1_root, test_instances)
    path = Path(splits).expanduser()
    path = path if path.is_absolute() else r2n2_root / path
    if not path.is_file():
        raise DataError(f"{path}: splits file not found; expected a JSON {{split: {{synset: {{model: [view ids]}}}}}} "
                        "(Mesh R-CNN's pix2mesh_splits_val05.json) given by --set splits=PATH")
    out: dict[str, Splits] = {}
    for split in ("train", "test"):
        listed = read_splits(path, split)
        out[split] = {s: {m: v for m, v in ms.items() if _present(r2n2_root, v1_root, s, m)}
                      for s, ms in listed.items()}
        gone = sum(len(ms) for ms in listed.values()) - sum(len(ms) for ms in out[split].values())
        if gone and log is not None:
            log(f"r2n2: {gone} {split} models of {path.name} are not on disk (renders, voxels or v1 mesh); skipped")
    return out


def r2n2_view_data(ctx: Any, config: Any, voxel_size: int) -> Any:
    """The case's R2N2 items as :class:`bench.methods.single_view.ViewData`: the first ``categories`` synsets
    having train and test models, ``instances - test_instances`` train and ``test_instances`` test models of
    each, the first ``views`` views of each model, images resized to ``image_size``."""
    from bench.data.formats.shapenet import synset_names
    from bench.methods.single_view import ViewData, mean_shapes, to_view_set

    r2n2_root, v1_root = Path(ctx.dataset("r2n2").root), Path(ctx.dataset("shapenetcore-v1").root)
    splits = case_splits(r2n2_root, v1_root, config.splits, config.test_instances, ctx.log)
    synsets = sorted(s for s in splits["train"] if splits["train"][s] and splits["test"].get(s))[: config.categories]
    if not synsets:
        raise DataError(f"{r2n2_root}: no synset has both train and test models with renders, voxels and a "
                        f"ShapeNetCore v1 mesh ({v1_root})")
    names = synset_names(v1_root)
    sets = []
    for split, count in (("train", config.instances - config.test_instances), ("test", config.test_instances)):
        insts = [load_instance(r2n2_root, v1_root, s, m, views[: config.views], config.image_size, 32, names)
                 for s in synsets for m, views in sorted(splits[split][s].items())[:count]]
        sets.append(to_view_set(insts, voxel_size))
    ctx.log(f"r2n2: {len(synsets)} synsets, {len(sets[0])} train / {len(sets[1])} test views")
    return ViewData(sets[0], sets[1], mean_shapes(sets[0]))
