"""Bring-your-own predictions: a folder of meshes named by item id, scored as compare_meshes scores them; every
bad input is one error naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data.generated.meshes import write_obj
from bench.errors import DataError
from bench.methods.predictions import read_predicted_meshes
from bench.metrics import compare_meshes
from bench.suite import Registry
from bench.worker import run_spec

IDS = ["chair/002/v0", "mug/002/v0"]


def _sphere(r: float) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=2, radius=r)
    return np.asarray(m.vertices), np.asarray(m.faces)


def _folder(tmp_path, ids=IDS):
    out = tmp_path / "preds"
    for k, i in enumerate(ids):
        (out / i).parent.mkdir(parents=True, exist_ok=True)
        write_obj(out / f"{i}.obj", *_sphere(0.3 + 0.1 * k))
    return out


def test_reads_every_id_in_order(tmp_path):
    meshes = read_predicted_meshes(_folder(tmp_path), IDS)
    assert [len(v) for v, _ in meshes] == [162, 162]
    assert torch.allclose(meshes[1][0].norm(dim=1), torch.full((162,), 0.4), atol=1e-5)


@pytest.mark.parametrize("damage, message", [
    ("missing", "mug/002/v0.obj: prediction for id 'mug/002/v0' is missing"),
    ("unknown", "lamp/000/v0.obj: id 'lamp/000/v0' is not a test item"),
    ("not_mesh", "notes.txt: not a mesh file"),
    ("empty", "mug/002/v0.obj: has no vertices"),
    ("nan", "mug/002/v0.obj has non-finite"),
])
def test_bad_predictions_name_the_file(tmp_path, damage, message):
    folder = _folder(tmp_path)
    target = folder / "mug/002/v0.obj"
    if damage == "missing":
        target.unlink()
    elif damage == "unknown":
        (folder / "lamp/000").mkdir(parents=True)
        write_obj(folder / "lamp/000/v0.obj", *_sphere(0.5))
    elif damage == "not_mesh":
        (folder / "notes.txt").write_text("hello\n")
    elif damage == "empty":
        target.write_text("# nothing\n")
    else:
        target.write_text("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        read_predicted_meshes(folder, IDS)


def test_meshrcnn_scores_a_predictions_folder_as_compare_meshes_does(tmp_path):
    suite = Registry().get("meshrcnn")
    tiny = dict(suite.tiny)
    probe = suite.cases("smoke", {**tiny, "mode": "voxels"})[0]
    from bench.data.resolve import resolve_case_datasets
    from bench.methods.single_view import to_view_set

    ds = resolve_case_datasets(suite, probe.config, tmp_path / "data", 0)["shapenet-like"]
    test = to_view_set(ds.load(split="test"), probe.config.voxel_size)
    folder = _folder(tmp_path, test.ids)
    case = suite.cases("smoke", {**tiny, "mode": "voxels", "predictions": str(folder)})[0]
    spec = {"suite": "meshrcnn", "case": case.name, "params": case.params, "profile": "smoke", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "art"), "data_root": str(tmp_path / "data")}
    result = run_spec(spec)
    assert result.status == "ok", result.error
    got = {m.name: m for m in result.metrics}
    preds = [(torch.tensor(v, dtype=torch.float32), torch.tensor(f)) for v, f in
             (_sphere(0.3 + 0.1 * k) for k in range(len(test.ids)))]
    direct = compare_meshes(([v for v, _ in preds], [f for _, f in preds]), (test.verts, test.faces),
                            num_samples=case.config.eval_samples, seed=0)
    for name, key in [("chamfer_l2", "Chamfer-L2"), ("normal_consistency", "AbsNormalConsistency"),
                      ("f1@0.1", "F1@0.1"), ("f1@0.3", "F1@0.3"), ("f1@0.5", "F1@0.5")]:
        assert got[name].items == pytest.approx(direct[key].items, rel=1e-5), name
        assert got[name].item_ids == test.ids
