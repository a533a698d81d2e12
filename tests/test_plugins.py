"""docs/plugins.md: the third-party suite example installs and runs through bench3d."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, bench3d_cmd

pytestmark = pytest.mark.slow


def extract_files(doc: Path) -> dict[str, str]:
    text = doc.read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.S)
    return dict(blocks)


def test_plugin_example_installs_and_runs(tmp_path, bench_env):
    files = extract_files(ROOT / "docs" / "plugins.md")
    assert set(files) == {"pyproject.toml", "bench3d_kabsch.py"}
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name, content in files.items():
        (pkg / name).write_text(content)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(pkg)], check=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ["PYTHONPATH"]])}

    listed = subprocess.run(bench3d_cmd("list", "--json"), env=env, capture_output=True, text=True, check=True)
    names = [s["name"] for s in json.loads(listed.stdout)["suites"]]
    assert "kabsch" in names

    ran = subprocess.run(bench3d_cmd("run", "--suite", "kabsch", "--json", "--out", str(tmp_path / "out")),
                         env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    cases = {c["case"]: c for c in result["cases"]}
    assert set(cases) == {"noise=0.0", "noise=0.01"}
    assert cases["noise=0.0"]["metrics"]["rotation_error_deg"] < 1e-3
    assert cases["noise=0.01"]["metrics"]["rotation_error_deg"] < 1.0
    assert cases["noise=0.0"]["timings"]["kabsch"]["n"] >= 5
    assert cases["noise=0.0"]["timings"]["setup"]["n"] == 1  # the phase it declared, timed by the harness

    shown = subprocess.run(bench3d_cmd("list", "--suite", "kabsch"), env=env, capture_output=True, text=True,
                           check=True).stdout
    assert "points: int; default 100000; smoke 1000; standard 100000" in shown
    typo = subprocess.run(bench3d_cmd("run", "--suite", "kabsch", "--set", "pointz=5", "--out", str(tmp_path / "o")),
                          env=env, capture_output=True, text=True)
    assert typo.returncode == 2 and "Did you mean 'points'" in typo.stderr
