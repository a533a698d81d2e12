"""Packaging: a wheel built from the repository holds everything a run needs (the published baselines,
the report and compare templates, the teapot and the cow), and ``bench3d run`` from that wheel, in a
fresh virtual environment outside the repository, stores its cases and writes its reports.

The package list in pyproject.toml is explicit (setuptools' discovery cannot map the top-level
``baselines/`` to ``bench.baselines``), so a cheap test keeps it equal to the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from bench.compare import baselines as bl
from bench.errors import UsageError
from bench.report import model
from bench.results import CaseResult
from suites.kernels import KernelsSuite

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = ("bench", "suites")
# Kernel cases at the suite's tiny values: each case takes well under a second of timed work.
TINY = dict(KernelsSuite.tiny)


def _source_files() -> list[Path]:
    """The files a build sees: tracked and untracked-but-not-ignored (no build/, .venv, caches)."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the source file list comes from git ls-files")
    return [Path(p) for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- cheap checks ---------------------------------------------------------------------------------
def test_the_package_list_covers_every_source_directory():
    conf = _pyproject()["tool"]["setuptools"]
    declared = set(conf["packages"])
    mapped = conf.get("package-dir", {})
    assert mapped == {"bench.baselines": "baselines"}
    needed = set()
    for f in _source_files():
        parts = f.parent.parts
        if parts and parts[0] in PACKAGE_ROOTS and all(p.isidentifier() for p in parts):
            needed.add(".".join(parts))
    missing = sorted(needed - declared)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml (else not in the wheel): {missing}"
    stale = sorted(p for p in declared - set(mapped) if not (ROOT / p.replace(".", "/")).is_dir())
    assert not stale, f"remove from [tool.setuptools] packages in pyproject.toml (no such folder): {stale}"


def test_the_five_builtin_suites_are_entry_points():
    eps = _pyproject()["project"]["entry-points"]["bench3d.suites"]
    assert eps == {
        "mesh_fitting": "suites.mesh_fitting:MeshFittingSuite",
        "kernels": "suites.kernels:KernelsSuite",
        "volumes": "suites.volumes:VolumesSuite",
        "nerf": "suites.nerf:NerfSuite",
        "pose": "suites.pose:PoseSuite",
        "smplify": "suites.smplify:SmplifySuite",
        "synsin": "suites.synsin:SynSinSuite",
        "giraffe": "suites.giraffe:GiraffeSuite",
        "meshrcnn": "suites.meshrcnn:MeshRCNNSuite",
        "single_view": "suites.single_view:SingleViewSuite",
    }


def test_a_source_checkout_finds_the_repository_baselines():
    assert bl.default_dir() == ROOT / "baselines"
    assert {b.name for b in bl.load_dir(known_metrics=False)} == {p.stem for p in (ROOT / "baselines").glob("*.yaml")}


def test_missing_shipped_baselines_are_no_error_but_a_given_missing_folder_is(tmp_path, monkeypatch):
    gone = tmp_path / "nowhere"
    monkeypatch.setattr(bl, "_candidates", lambda: [gone / "bench" / "baselines", gone / "baselines"])
    assert bl.default_dir() is None
    assert bl.load_dir() == []
    with pytest.raises(UsageError, match=r"^baselines folder .*nowhere does not exist$"):
        bl.load_dir(gone)
    rows = model.published_rows([CaseResult("kernels", "kernel=chamfer_10k")])
    assert [r["status"] for r in rows] == ["note"]
    assert rows[0]["reason"].startswith("no published baselines found") and str(gone) in rows[0]["reason"]


# --- the wheel, installed in a fresh environment ----------------------------------------------------
def _build_wheel(tmp_path: Path) -> Path:
    """``pip wheel`` of a copy of the working tree's source files, so neither a stale build/ folder of the
    checkout leaks into the wheel nor the build writes into the shared working tree."""
    src = tmp_path / "src"
    for f in _source_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(src)], check=True, cwd=tmp_path)
    (wheel,) = dist.glob("bench3d-*.whl")
    return wheel


def _host_site_dirs() -> list[str]:
    """This interpreter's site-packages folders: torch and the other dependencies (the repository's own
    .venv among them; its editable bench3d is reached only through a .pth file, which a plain line skips)."""
    return [p for p in dict.fromkeys(sys.path) if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]


def _fresh_env(tmp_path: Path, wheel: Path) -> tuple[Path, Path]:
    """A venv without pip that gets the wheel (host pip, ``--python``), then sees the host's dependencies
    through a .pth of plain folder lines: after its own site-packages, their .pth files (the editable
    install's finder) not run."""
    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    # Installed before the .pth exists: else pip, seeing the host's bench3d, would call it installed.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-warn-script-location", str(wheel)], check=True, cwd=tmp_path)
    (purelib / "_bench3d_host_deps.pth").write_text("\n".join(_host_site_dirs()) + "\n")
    return py, purelib


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH3D_", "PYTHON", "VIRTUAL_ENV"))}
    env["BENCH3D_MACHINE"] = "test-machine"
    return env


@pytest.mark.slow
def test_a_wheel_holds_the_data_and_runs_the_kernels_suite_from_a_fresh_venv(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"bench/baselines/{p.name}" for p in (ROOT / "baselines").glob("*.yaml")}
    assert len(want) >= 9
    for folder in ("bench/report/templates", "bench/compare/templates", "bench/data/assets/cow_mesh"):
        files = {f"{folder}/{p.name}" for p in (ROOT / folder).iterdir() if p.is_file()}
        assert files, folder
        want |= files
    want |= {"bench/data/teapot.json", "bench/data/assets/cow_mesh/cow.obj", "bench/data/assets/cow_mesh/cow.mtl",
             "bench/data/assets/cow_mesh/cow_texture.png"}
    assert not want - names, sorted(want - names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for suite in ("mesh_fitting", "kernels", "volumes", "nerf", "pose"):
        assert f"{suite} = suites.{suite}:" in text

    py, purelib = _fresh_env(tmp_path, wheel)
    work = tmp_path / "elsewhere"  # cwd outside the repository, no PYTHONPATH
    work.mkdir()
    env = _clean_env()
    probe = subprocess.run(
        [str(py), "-c", "import json, sys, bench, torch; from bench.compare import baselines as bl; "
         "print(json.dumps({'bench': bench.__file__, 'dir': str(bl.default_dir()), "
         "'n': len(bl.load_dir(known_metrics=False)), 'path': sys.path}))"],
        cwd=work, env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout)
    assert Path(got["bench"]).resolve().is_relative_to(purelib.resolve()), got["bench"]
    assert Path(got["dir"]).resolve() == (purelib / "bench" / "baselines").resolve()
    assert got["n"] == len(list((ROOT / "baselines").glob("*.yaml")))
    assert not any((work / p).resolve() == ROOT.resolve() for p in got["path"]), got["path"]

    script = py.parent / ("bench3d.exe" if os.name == "nt" else "bench3d")
    out = tmp_path / "out"
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    ran = subprocess.run([str(script), "run", "--suite", "kernels", *sets, "--threads", "1", "--json",
                          "--out", str(out)], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-4000:]
    result = json.loads(ran.stdout)
    cases = [c["case"] for c in result["cases"]]
    assert len(cases) == len(KernelsSuite.grid["kernel"])
    assert all(c["suite"] == "kernels" and c["status"] == "ok" for c in result["cases"])
    run_dir = out / "runs" / result["run_id"]
    for name in ("report.md", "report.html", "report.json"):
        assert (run_dir / name).is_file(), name
    md = (run_dir / "report.md").read_text()
    assert "kernels" in md and all(c in md for c in cases), md[:2000]
    assert "does not exist" not in md and "no published baselines" not in md
    assert all(c in (run_dir / "report.html").read_text() for c in cases)
