"""Issue 21's acceptance, measured: a dashboard of 5 runs at 5 commits, every run with its report, images and
mesh stills inlined, is under 3 MB besides its one plotly bundle; the x axis is the commits; points link to runs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import numpy as np

from bench.compare.dashboard import write_dashboard
from bench.imaging import label_columns
from bench.results import ArtifactRecord, RunSettings
from bench.store import Store
from bench.store.sample import sample_cases, sample_run

SITE_LIMIT = 3_000_000  # bytes, everything but plotly.min.js (the "under 3 MB plus one plotly bundle")


def _obj(level: int = 3) -> bytes:
    """An ico-sphere of ``level`` (the mesh_fitting smoke suite fits ico_sphere(4)), squashed, as OBJ text."""
    from bench.backends import load

    mesh = load("torch").utils.ico_sphere(level)
    v = mesh.verts_packed().numpy() * np.array([1.0, 0.5, 0.8])
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces_packed().tolist()]
    return ("\n".join(lines) + "\n").encode()


def _strip_png(rng: np.random.Generator) -> bytes:
    """A held-out strip as the nerf/volumes suites write it (bench.methods.heldout.strip + ctx.image): 4 views
    x (truth | prediction | difference) of 64 px with 2 px gaps, labelled and scaled up by bench.imaging. The
    views are shaded spheres, the prediction with 3 % noise (smoke NeRF renders are noisy); the real smoke
    run's strips were 4-15 kB."""
    import io

    from PIL import Image

    yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
    z = np.sqrt(np.clip(1 - xx**2 - yy**2, 0, None))
    truth = np.clip(0.3 * -xx + 0.5 * -yy + 0.8 * z, 0, 1)[..., None] * np.array([0.9, 0.6, 0.3])
    rows = []
    for _ in range(4):
        pred = np.clip(truth + rng.normal(0, 0.03, truth.shape), 0, 1)
        gap = np.ones((64, 2, 3))
        rows += [np.concatenate([truth, gap, pred, gap, np.abs(truth - pred)], axis=1), np.ones((2, 196, 3))]
    img = (np.concatenate(rows[:-1]) * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(label_columns(img, ["ground truth", "prediction", "difference"], gap=2)).save(buf, "PNG")
    return buf.getvalue()


def _add(root, case, rel: str, name: str, kind: str, data: bytes):
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    rec = ArtifactRecord(name, kind, rel, hashlib.sha256(data).hexdigest(), len(data))
    return dataclasses.replace(case, artifacts=[*case.artifacts, rec])


def test_site_of_five_runs_at_five_commits_is_small_and_by_commit(tmp_path):
    rng = np.random.default_rng(0)
    obj = _obj()
    commits = [f"{k}" * 40 for k in "13579"]
    with Store.open(tmp_path / "s.db") as st:
        for k, commit in enumerate(commits):
            out = tmp_path / f"run{k}"
            run = sample_run(f"run{k}", f"2024-06-0{k + 1}T03:00:00+00:00", commit)
            run = dataclasses.replace(run, settings=RunSettings(profile="smoke", device="cpu", seed=0,
                                                                run_dir=str(out)))
            st.create_run(run)
            for c in sample_cases(out):
                if c.status == "ok":
                    folder = f"artifacts/{c.suite}/{c.case}"
                    c = _add(out, c, f"{folder}/fitted.obj", "fitted", "mesh", obj)
                    c = _add(out, c, f"{folder}/heldout.png", "heldout_vs_truth", "image", _strip_png(rng))
                st.add_case(run.run_id, c)
        index = write_dashboard(st, tmp_path / "site", reports=5, baselines=[])
    site = index.parent
    bundle = (site / "plotly.min.js").stat().st_size
    files = [p for p in site.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total - bundle < SITE_LIMIT, {str(p.relative_to(site)): p.stat().st_size for p in files}
    reports = sorted(site.glob("runs/*/report.html"))
    assert len(reports) == 5
    for r in reports:
        html = r.read_text()
        assert '<script src="../../plotly.min.js"></script>' in html and "Plotly=" not in html.replace(" ", "")
        assert html.count("rendered with the built-in MeshRenderer") == 2 * 3  # every ok fit case's still (note, title)
    page = (site / "suite-mesh_fitting.html").read_text()
    figs = [json.loads(m) for m in re.findall(r'<script type="application/json" id="fig\d+-data">(.*?)</script>',
                                               page, re.S)]
    xs = figs[0]["layout"]["xaxis"]
    assert xs["type"] == "category" and xs["categoryarray"] == [c[:8] for c in commits]
    links = {cd[2] for f in figs for t in f["data"] for cd in (t.get("customdata") or []) if len(cd) > 2}
    assert links == {f"runs/run{k}/report.html" for k in range(5)}
