#!/usr/bin/env python3
"""One-command set-up and use of bench3d on a machine with only Python 3.11.

    python3 quickstart.py run  [bench3d run options]   # install, run all suites at smoke, write the report
    python3 quickstart.py test [pytest options]        # install with test extras, run the test suite

It makes a virtual environment in .venv (seeing the system's packages, so an already
importable torch, e.g. a CUDA build, is reused rather than replaced), installs torch 2.13.0
(the CPU build here) only when no torch imports, then installs bench3d in editable mode.
Re-running skips what is already installed. In test mode, the reference build of the real PyTorch3D
(``pytorch3d-*.whl`` in the shared folder's wheels/: ../shared beside the clone, or $BENCH3D_SHARED) is
installed into .venv when it is there, so the conformance tests (tests/backends/conformance) run against it;
it is never a dependency of bench3d. ``.ci/run`` also sets $BENCH3D_REQUIRE_PYTORCH3D, which turns those
tests' "pytorch3d is not installed" skip into a failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("BENCH3D_VENV", ROOT / ".venv"))
TORCH_PIN = "torch==2.13.0"
PY = VENV / "bin" / "python"


def sh(*cmd: str, check: bool = True) -> int:
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=check, cwd=ROOT).returncode


def quiet_ok(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True, cwd=ROOT).returncode == 0


def ensure_env(extras: str) -> None:
    if not PY.exists():
        sh(sys.executable, "-m", "venv", "--system-site-packages", str(VENV))
    if not quiet_ok(str(PY), "-c", "import torch"):
        sh(str(PY), "-m", "pip", "install", "-q", TORCH_PIN)
    stamp = VENV / f".bench3d-installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest or not quiet_ok(str(PY), "-c", "import bench"):
        target = f".[{extras}]" if extras else "."
        sh(str(PY), "-m", "pip", "install", "-q", "-e", target)
        stamp.write_text(digest)


def reference_wheel() -> Path | None:
    """The newest ``pytorch3d-*.whl`` of the shared folder's wheels/, or None where there is none."""
    shared = Path(os.environ.get("BENCH3D_SHARED") or ROOT.parent / "shared")
    wheels = sorted((shared / "wheels").glob("pytorch3d-*.whl"))
    return wheels[-1] if wheels else None


def ensure_reference_pytorch3d() -> None:
    """Install the shared PyTorch3D wheel into .venv (tests only) when it is there and not yet importable."""
    wheel = reference_wheel()
    if wheel is None:
        print("note: no pytorch3d wheel in the shared folder's wheels/; the conformance tests will be skipped")
        return
    if quiet_ok(str(PY), "-c", "import torch, pytorch3d._C"):
        return
    sh(str(PY), "-m", "pip", "install", "-q", str(wheel))


def ensure_chromium() -> None:
    """The HTML report tests open reports in headless Chromium; install it where we may (root, Debian)."""
    if shutil.which("chromium") or os.environ.get("BENCH3D_NO_BROWSER"):
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        ok = subprocess.run(["apt-get", "update", "-qq"], env=env).returncode == 0 and subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], env=env).returncode == 0
        if not ok:
            print("note: could not install chromium; the browser checks of the HTML report will be skipped")
    else:
        print("note: chromium not found; the browser checks of the HTML report will be skipped")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    mode, rest = argv[0], argv[1:]
    if mode == "run":
        ensure_env("")
        return subprocess.run([str(VENV / "bin" / "bench3d"), "run", "--profile", "smoke", *rest], cwd=ROOT).returncode
    ensure_env("test")
    ensure_reference_pytorch3d()
    ensure_chromium()
    code = subprocess.run([str(PY), "-m", "pytest", *rest], cwd=ROOT).returncode
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
