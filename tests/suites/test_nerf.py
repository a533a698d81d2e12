"""NeRF at the smoke profile (held-out PSNR clearly above the initial field's, PSNR-vs-time curves), a scene in
the NeRF Blender format (built-in renders written as one) trained through the same model, and
Blender scenes that are absent (skipped) or malformed (an error naming the problem)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import bench3d_cmd

pytestmark = pytest.mark.slow


def run(*args: str) -> dict:
    cmd = bench3d_cmd("run", "--suite", "nerf", "--json", "--threads", "1", *args)  # one thread: robust to shared cores
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def test_smoke_nerf_beats_the_initial_field_and_reports_time_to_quality(bench_env):
    out = run()
    (case,) = out["cases"]
    assert case["status"] == "ok", case["error"]
    m = case["metrics"]
    assert m["psnr"] > m["psnr_init"] + 5, m  # the acceptance, both on the same held-out views
    assert m["psnr"] > 18 and m["ssim"] > 0.6 and m["silhouette_iou"] > 0.75, m
    it = case["timings"]["iteration"]
    assert it["n"] == 200
    details = {c["case"]: c for c in json.loads(Path(out["reports"]["json"]).read_text())["cases"]}
    (loop,) = [t for t in details["scene=builtin"]["details"]["timings"] if t["name"] == "iteration"]
    assert (loop["items_per_call"], loop["item_unit"], loop["phase"]) == (4 * 128, "rays", "loop")  # rays/s
    art = Path(out["reports"]["md"]).parent / "artifacts" / "nerf" / "scene=builtin"
    by_iter = json.loads((art / "psnr_vs_iteration.json").read_text())
    by_time = json.loads((art / "psnr_vs_seconds.json").read_text())
    assert by_iter["x"] == [0, 25, 50, 75, 100, 125, 150, 175, 200]
    (psnrs,) = by_iter["series"].values()
    assert list(by_time["series"].values()) == [psnrs]
    assert by_time["x"][0] == 0 and by_time["x"] == sorted(by_time["x"])
    assert by_time["x"][-1] == pytest.approx(sum(loop["samples"]), rel=1e-6)  # training time, evaluations excluded
    assert psnrs[-1] > psnrs[0] + 5
    assert (art / "heldout_vs_truth.png").is_file()


def test_blender_scene_absent_is_skipped_and_malformed_is_an_error(bench_env):
    fast = ["--profile", "standard", "--case", "scene=lego", "--data-root", str(bench_env / "data")]
    (case,) = run(*fast)["cases"]
    assert case["status"] == "skipped" and "nerf-synthetic" in case["error"] and "not found" in case["error"]
    scene = bench_env / "data" / "nerf-synthetic" / "lego"
    scene.mkdir(parents=True)
    (scene / "transforms_train.json").write_text('{"frames": []}')
    (case,) = run(*fast)["cases"]
    assert case["status"] == "error" and "nerf-synthetic/lego: " in case["error"], case
    assert "transforms_" in case["error"] or "camera_angle_x" in case["error"]


def write_as_blender(scene: Path, size: int = 32) -> None:
    """Built-in cow renders (camera distance 4, inside NeRF's near/far 2..6) written in the Blender format."""
    import numpy as np
    from PIL import Image

    from bench.data import registry
    from bench.data.assets import COW_OBJ

    src = registry.generate("multiview", scene.parent / "src", mesh=str(COW_OBJ), num_views=20, image_size=size,
                            dist=4.0, fov=40.0, test_every=5)
    d = registry.get("multiview").load(src)
    for split, idx in (("train", d["splits"]["train"]), ("val", d["splits"]["test"][:1]),
                       ("test", d["splits"]["test"])):
        (scene / split).mkdir(parents=True)
        frames = []
        for k, i in enumerate(idx):
            R, T = d["R"][i].double().numpy(), d["T"][i].double().numpy()
            c2w = np.eye(4)  # PyTorch3D camera axes (left, up, forward) are rows of R; OpenGL's: right, up, back
            c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = -R[:, 0], R[:, 1], -R[:, 2], -T @ R.T
            rgba = np.concatenate([d["images"][i].numpy(), d["silhouettes"][i].numpy()[..., None]], -1)
            Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(scene / split / f"r_{k}.png")
            frames.append({"file_path": f"./{split}/r_{k}", "transform_matrix": c2w.tolist()})
        doc = {"camera_angle_x": float(np.radians(40.0)), "frames": frames}
        (scene / f"transforms_{split}.json").write_text(json.dumps(doc))


def test_a_blender_scene_trains_through_the_same_model(bench_env):
    write_as_blender(bench_env / "data" / "nerf-synthetic" / "lego")
    small = {"n_harmonic_functions": 8, "n_hidden": 64, "n_rays_per_image": 128, "n_pts_per_ray": 32,
             "batch_size": 4, "lr": 3e-3, "iterations": 200, "eval_every": 100, "test_views": 4, "chunk": 4096}
    sets = [a for k, v in small.items() for a in ("--set", f"{k}={v}")]
    (case,) = run("--profile", "standard", "--case", "scene=lego", "--data-root", str(bench_env / "data"),
                  *sets)["cases"]
    assert case["status"] == "ok", case["error"]
    m = case["metrics"]
    assert m["psnr"] > m["psnr_init"] + 5 and m["silhouette_iou"] > 0.75, m
