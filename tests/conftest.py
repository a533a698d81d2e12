"""Shared fixtures: an isolated output folder and environment for CLI and runner tests, and the shared
folder (``../shared`` beside the repository, or $BENCH3D_SHARED) for tests that read files from it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The shared folder lies beside the clone (CI: X/../shared for a clone in X); $BENCH3D_SHARED overrides.
SHARED = Path(os.environ.get("BENCH3D_SHARED") or ROOT.parent / "shared").resolve()


def in_ci() -> bool:
    """True where the environment says CI (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_file(relative: str) -> Path:
    """The file ``relative`` of the shared folder. Missing: a test failure in CI (which always has the
    shared folder), a skip naming the path elsewhere."""
    path = SHARED / relative
    if path.is_file():
        return path
    where = "$BENCH3D_SHARED" if os.environ.get("BENCH3D_SHARED") else "../shared beside the repository"
    message = f"shared file {relative} not found at {path} (the shared folder is {where})"
    if in_ci():
        pytest.fail(f"{message}; CI (CI={os.environ['CI']}) must provide the shared folder, so this fails "
                    "instead of skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def bench_env(tmp_path, monkeypatch):
    """Environment for subprocess-based tests: the project and fixtures importable, no stray DB."""
    path = os.pathsep.join([str(ROOT), str(FIXTURES), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.delenv("BENCH3D_DB", raising=False)
    monkeypatch.setenv("BENCH3D_MACHINE", "test-machine")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def bench3d_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *args]


@pytest.fixture
def orphan_env(bench_env, monkeypatch):
    """The faulty and spawn suites, and a temp folder of the test's own (TMPDIR) to look for leftovers in."""
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "faulty=faulty_suite:FaultySuite;spawn=tests.test_orphans:SpawnSuite")
    tmp = bench_env / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    return bench_env


REQUIRE_PYTORCH3D_ENV = "BENCH3D_REQUIRE_PYTORCH3D"


def pytorch3d_required() -> bool:
    """True where ``$BENCH3D_REQUIRE_PYTORCH3D`` is set (``.ci/run`` sets it: CI installs the reference wheel)."""
    return os.environ.get(REQUIRE_PYTORCH3D_ENV, "").strip().lower() not in ("", "0", "false", "no")


def require_pytorch3d() -> None:
    """Skip (or, with ``$BENCH3D_REQUIRE_PYTORCH3D`` set, fail) unless the real PyTorch3D imports."""
    from bench import backends

    if backends.pytorch3d_available():
        return
    message = ("pytorch3d is not installed (not on PyPI): install the reference wheel, "
               "pip install ../shared/wheels/pytorch3d-*.whl (python3 quickstart.py test does it when present)")
    if pytorch3d_required():
        pytest.fail(f"{message}; {REQUIRE_PYTORCH3D_ENV} is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def no_pytorch3d(monkeypatch):
    """The real PyTorch3D made absent in this process (its import raises ImportError), backends re-resolved."""
    from bench import backends

    for name in [m for m in sys.modules if m == "pytorch3d" or m.startswith("pytorch3d.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pytorch3d", None)
    monkeypatch.setattr(backends, "_cache", {})
    return backends
