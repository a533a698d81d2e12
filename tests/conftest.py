"""Shared fixtures: an isolated output folder and environment for CLI and runner tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


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
