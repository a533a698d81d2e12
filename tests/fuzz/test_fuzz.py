"""Fuzz tests of every file-accepting entry point and numeric option, on a seeded mutation corpus.

Each trial mutates a valid input (tests/fuzz/mutate.py) and runs the entry point in-process. It must end
in success or a one-line error (exit 2; ``data check`` may also report problems, exit 1): no traceback, no
hang past ``TRIAL_TIMEOUT_S``, and no row of the database that was there before changed.
``BENCH3D_FUZZ_TRIALS`` sets the trials per file target (default 60: a few minutes in CI; the nightly
setting is 2000). Each test prints its outcome table (``pytest -s``); ``BENCH3D_FUZZ_REPORT=FILE``
appends them as JSON lines.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch  # imported up front: a trial's alarm inside a first import of torch would leave it half done

import bench.compare.cli  # noqa: F401 - the same for the harness's own heavy modules
import bench.data.cli  # noqa: F401
import bench.ingest  # noqa: F401
import bench.report  # noqa: F401
from bench.cli import main
from bench.store import Store
from bench.store.sample import sample_cases, sample_run
from tests.fuzz.mutate import mutate_bytes, mutate_json_text, mutate_lines, mutate_yaml_text

TRIALS = int(os.environ.get("BENCH3D_FUZZ_TRIALS", "60"))
TRIAL_TIMEOUT_S = 20
ROOT = Path(__file__).resolve().parents[2]
SECOND = sample_run("20240502T120000-ef34cd", "2024-05-02T12:00:00+00:00")


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {TRIAL_TIMEOUT_S} s")


def db_digest(path: Path) -> str:
    """sha256 over every row of every table that holds results (schema rows sorted), for "nothing changed"."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        h = hashlib.sha256()
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            for row in sorted(map(repr, con.execute(f'SELECT * FROM "{table}"'))):
                h.update(row.encode())
        return h.hexdigest()
    finally:
        con.close()


@pytest.fixture
def store_db(tmp_path) -> Path:
    """A results database holding the sample run: the rows a failing trial must never touch."""
    path = tmp_path / "fuzz.db"
    with Store.open(path) as s:
        for run in (sample_run(), SECOND):
            s.create_run(run)
            for c in sample_cases(tmp_path / "out"):
                s.add_case(run.run_id, c)
    return path


def call(argv: list[str]) -> tuple[int | str, str]:
    """``bench3d ARGV`` in-process: (exit code, or "traceback: ..." / "hang"), stderr."""
    err, out = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TRIAL_TIMEOUT_S)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code: int | str = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except Hang:
        code = "hang"
    except BaseException as exc:  # noqa: BLE001 - an escaping exception is the finding
        code = f"traceback: {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, err.getvalue()


def judge(code: int | str, stderr: str, allowed: tuple[int, ...]) -> str:
    """The trial's outcome: "ok", "refused", "problems", or the kind of failure."""
    if isinstance(code, str):
        return code.split(":")[0]
    if code not in allowed:
        return f"exit {code}"
    if "Traceback" in stderr:
        return "traceback in stderr"
    if code == 2:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return "refused" if len(lines) >= 1 and lines[-1].startswith(("bench3d", "usage:")) and (
            len(lines) == 1 or lines[0].startswith("usage:")) else "not one line"
    return {0: "ok", 1: "problems"}[code]


def campaign(name: str, trials: int, make_input: Callable[[random.Random, int], list[str]], store: Path | None,
             allowed: tuple[int, ...] = (0, 2)) -> Counter:
    """Run ``trials`` mutated inputs; fail listing the first failing trials."""
    before = db_digest(store) if store else None
    table: Counter = Counter()
    failures = []
    for t in range(trials):
        rng = random.Random(f"{name}/{t}")
        argv = make_input(rng, t)
        code, err = call(argv)
        outcome = judge(code, err, allowed)
        if store is not None and db_digest_existing(store, before):
            outcome = "stored rows changed"
        table[outcome] += 1
        if outcome not in ("ok", "refused", "problems"):
            failures.append((t, outcome, str(code)[:300], err.strip()[-300:]))
    print(f"\nfuzz {name}: {trials} trials: " + ", ".join(f"{k} {v}" for k, v in sorted(table.items())))
    report = os.environ.get("BENCH3D_FUZZ_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({"target": name, "trials": trials, "outcomes": dict(table)}) + "\n")
    assert not failures, f"{len(failures)} failing trial(s) of {name}, first: {failures[:5]}"
    return table


def db_digest_existing(store: Path, before: str | None) -> bool:
    """True when the rows that were there before the trial are not all there unchanged.

    A successful ingest adds a run; then only the sample run's rows are compared."""
    import sqlite3

    if before is None:
        return False
    if db_digest(store) == before:
        return False
    con = sqlite3.connect(store)
    try:
        ids = [r[0] for r in con.execute("SELECT run_id FROM runs")]
    finally:
        con.close()
    if sample_run().run_id not in ids:
        return True
    with Store.open(store, create=False) as s:
        got = [json.dumps(c.to_dict(), sort_keys=True, default=str) for c in s.cases(sample_run().run_id)]
    want = [json.dumps(c.to_dict(), sort_keys=True, default=str) for c in sample_cases(store.parent / "out")]
    return got != want


# --- seeds --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def benchmark_file(tmp_path_factory) -> str:
    """A real pytest-benchmark JSON file with raw data."""
    from tests.test_ingest import TINY

    root = tmp_path_factory.mktemp("pb")
    (root / "test_tiny.py").write_text(TINY)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={root}", "test_tiny.py",
         "--benchmark-json=b.json", "--benchmark-min-time=0.0005", "--benchmark-max-time=0.005",
         "--benchmark-min-rounds=5"], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (root / "b.json").read_text()


def test_fuzz_ingest(benchmark_file, store_db, tmp_path):
    def make(rng, t):
        path = tmp_path / f"in{t}.json"
        path.write_bytes(mutate_json_text(benchmark_file, rng))
        return ["ingest", str(path), "--db", str(store_db)]

    table = campaign("ingest", TRIALS, make, store_db)
    assert table["refused"] > 0  # the corpus does reach the validation


def test_fuzz_baseline_yaml(store_db, tmp_path):
    shipped = sorted((ROOT / "baselines").glob("*.yaml"))

    def make(rng, t):
        seed = rng.choice(shipped)
        path = tmp_path / f"b{t}.yaml"
        path.write_bytes(mutate_yaml_text(seed.read_text(), rng))
        return ["compare", str(path), sample_run().run_id, "--db", str(store_db)]

    campaign("baseline-yaml", TRIALS, make, store_db)


def test_fuzz_blender_metadata(tmp_path):
    from tests.methods.test_views import write_blender

    scene = tmp_path / "seed"
    write_blender(scene)
    seed = (scene / "transforms_train.json").read_text()

    def make(rng, t):
        root = tmp_path / f"s{t}"
        write_blender(root)
        (root / "transforms_train.json").write_bytes(mutate_json_text(seed, rng))
        return ["data", "check", "nerf-synthetic", "--root", str(root)]

    campaign("nerf-synthetic-check", max(10, TRIALS // 3), make, None, allowed=(0, 1, 2))


OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvn 0 0 1\nvt 0 0\nf 1 2 3\nf 1 3 4\nf 1/1/1 4/1/1 2/1/1\nf 2 4 3\n"
PLY = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
       "element face 4\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n"
       "3 0 1 2\n3 0 2 3\n3 0 3 1\n3 1 3 2\n")


@pytest.mark.parametrize("fmt, text", [("obj", OBJ), ("ply", PLY)])
def test_fuzz_mesh_loaders(fmt, text, tmp_path):
    """The mesh loaders return finite vertices and in-range faces, or raise a one-line error of this project."""
    from bench.backends.torch3d.io import load_obj, load_ply
    from bench.errors import BenchError

    table: Counter = Counter()
    failures = []
    for t in range(TRIALS):
        rng = random.Random(f"{fmt}/{t}")
        path = tmp_path / f"m{t}.{fmt}"
        path.write_bytes(mutate_lines(text, rng) if rng.random() < 0.7 else mutate_bytes(text.encode(), rng))
        try:
            if fmt == "obj":
                verts, faces, _ = load_obj(path, load_textures=False)
                faces = faces.verts_idx
            else:
                verts, faces = load_ply(path)
            ok = bool(torch.isfinite(verts).all()) and verts.ndim == 2 and verts.shape[1] == 3 and (
                faces.numel() == 0 or (int(faces.min()) >= 0 and int(faces.max()) < verts.shape[0]))
            outcome = "ok" if ok else "accepted bad geometry"
        except (BenchError, ValueError) as exc:
            outcome = "refused" if "\n" not in str(exc).strip() else "not one line"
        except Exception as exc:  # noqa: BLE001
            outcome = f"traceback {type(exc).__name__}"
        table[outcome] += 1
        if outcome not in ("ok", "refused"):
            failures.append((t, outcome, path.read_bytes()[:120]))
    print(f"\nfuzz {fmt}-loader: {TRIALS} trials: " + ", ".join(f"{k} {v}" for k, v in sorted(table.items())))
    assert not failures, f"{len(failures)} failing trial(s), first: {failures[:5]}"


NUMBERS = ("nan", "inf", "-inf", "-1", "0", "1e999", "1180591620717411303424", "abc", "", "1e-300", "-0", "3")


@pytest.mark.parametrize("argv_of", [
    lambda v: ["compare", sample_run().run_id, SECOND.run_id, "--factor", v],
    lambda v: ["compare", sample_run().run_id, SECOND.run_id, "--alpha", v],
    lambda v: ["compare", sample_run().run_id, SECOND.run_id, "--tolerance", v],
    lambda v: ["history", "--factor", v],
    lambda v: ["dashboard", "--out", "site", "--factor", v],
    lambda v: ["dashboard", "--out", "site", "--reports", v],
], ids=["compare-factor", "compare-alpha", "compare-tolerance", "history-factor", "dashboard-factor",
        "dashboard-reports"])
def test_fuzz_numeric_options(argv_of, store_db, tmp_path, monkeypatch):
    """Numeric options: a valid value works, anything else is a one-line error; nan/inf never pass silently."""
    monkeypatch.chdir(tmp_path)
    table: Counter = Counter()
    failures = []
    for v in NUMBERS:
        code, err = call([*argv_of(v), "--db", str(store_db)])
        outcome = judge(code, err, (0, 2))
        try:
            finite = math.isfinite(float(v))
        except ValueError:
            finite = False
        if outcome == "ok" and not finite:
            outcome = "accepted a non-finite value"
        table[outcome] += 1
        if outcome not in ("ok", "refused"):
            failures.append((v, outcome, err.strip()[-200:]))
    assert not failures, failures


@pytest.mark.parametrize("option", ["--seed", "--timeout", "--repeat", "--threads"])
def test_fuzz_run_options(option, store_db, tmp_path, monkeypatch):
    """Run options are checked before anything runs or is stored: a bad value leaves the database as it was."""
    monkeypatch.chdir(tmp_path)
    before = db_digest(store_db)
    failures = []
    bad = ("nan", "inf", "-1", "1e999", "1180591620717411303424", "abc") + (("0",) if option != "--seed" else ())
    for v in bad:
        code, err = call(["run", "--suite", "kernels", option, v, "--db", str(store_db), "--out", "o",
                          "--no-report"])
        outcome = judge(code, err, (2,))
        if outcome != "refused":
            failures.append((v, outcome, err.strip()[-200:]))
    assert not failures, failures
    assert db_digest(store_db) == before


def _dataset_writers():
    """(registry name, writer(root, numpy rng)) of every standard-format fixture the format tests write."""
    from tests.data.formats.test_co3d import write_co3d
    from tests.data.formats.test_llff import write_scene as write_llff
    from tests.data.formats.test_pix3d import write_pix3d
    from tests.data.formats.test_realestate10k_kitti import write_kitti, write_re10k
    from tests.data.formats.test_shapenet import write_r2n2

    return {"co3d-v2": write_co3d, "llff": write_llff, "pix3d": write_pix3d, "realestate10k": write_re10k,
            "kitti-synsin": write_kitti, "r2n2": write_r2n2}


def _mutate_file(path: Path, rng: random.Random) -> None:
    """Mutate one file of a dataset in place, by its kind: JSON by structure, text by lines, others by bytes."""
    import gzip

    data = path.read_bytes()
    if path.suffix == ".gz":
        inner = gzip.decompress(data)
        try:
            mutated = mutate_json_text(inner.decode(), rng)
        except UnicodeDecodeError:
            mutated = mutate_bytes(inner, rng)
        path.write_bytes(gzip.compress(mutated) if rng.random() < 0.8 else mutate_bytes(data, rng))
    elif path.suffix == ".json":
        path.write_bytes(mutate_json_text(data.decode(), rng))
    elif path.suffix in (".txt", ".obj", ".mat") and rng.random() < 0.7:
        path.write_bytes(mutate_lines(data.decode("utf-8", "replace"), rng))
    else:
        path.write_bytes(mutate_bytes(data, rng))


@pytest.mark.parametrize("name", sorted(["co3d-v2", "llff", "pix3d", "realestate10k", "kitti-synsin", "r2n2"]))
def test_fuzz_dataset_check(name, tmp_path):
    """``bench3d data check`` on a standard-format dataset with one file mutated: its problems listed (exit 1) or
    a one-line error (exit 2), never a traceback or a hang; the valid layout itself passes (exit 0)."""
    import numpy as np

    writer = _dataset_writers()[name]
    valid = tmp_path / "valid"
    valid.mkdir()
    writer(valid, np.random.default_rng(0))
    assert call(["data", "check", name, "--root", str(valid)])[0] == 0
    files = sorted(p.relative_to(valid) for p in valid.rglob("*") if p.is_file())

    def make(rng, t):
        root = tmp_path / f"d{t}"
        shutil.copytree(valid, root)
        _mutate_file(root / rng.choice(files), rng)
        return ["data", "check", name, "--root", str(root)]

    table = campaign(f"{name}-check", max(10, TRIALS // 3), make, None, allowed=(0, 1, 2))
    assert table["problems"] + table["refused"] > 0  # the mutations do reach the checks


def test_a_ply_whose_data_lines_outnumber_its_header_is_refused_in_one_line(tmp_path):
    """Found by the 300-trial campaign (ply trial 175): vertex lines beyond the header's count were read as faces of
    one index, and reshaping them to (F, 3) raised a RuntimeError traceback."""
    from bench.backends.torch3d.io import load_ply
    from bench.backends.torch3d.io.errors import MeshFileError

    head, body = PLY.split("end_header\n")
    path = tmp_path / "extra.ply"
    path.write_text(head + "end_header\n" + "1 0 0\n" * 14 + body)
    with pytest.raises(MeshFileError, match="faces of fewer than 3 vertex indices") as err:
        load_ply(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
