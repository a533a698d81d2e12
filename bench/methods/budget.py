"""A memory check before a volumetric fit starts, so an oversized setting fails at once with the reason.

Used by `volumes` and `nerf` (each with its own bytes-per-ray-sample estimate).
"""

from __future__ import annotations

from pathlib import Path


def available_bytes(device: str) -> int | None:
    """Free memory of ``device``: CUDA's free bytes, or the host's MemAvailable; None when unknown."""
    if str(device).startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(what: str, points: int, bytes_per_point: float, device: str, available: int | None = None) -> int:
    """Raise ValueError when ``points`` samples of ``bytes_per_point`` each exceed the free memory; return the estimate.

    Args:
        what: the settings that set ``points`` (named in the message, so the user knows what to lower).
        available: free bytes (default: :func:`available_bytes` of ``device``).
    """
    need = int(points * bytes_per_point)
    free = available_bytes(device) if available is None else available
    if free is not None and need > free:
        raise ValueError(f"{what}: one iteration needs about {need / 2**30:.1f} GiB on {device} "
                         f"({points:,} ray samples), more than the {free / 2**30:.1f} GiB free; lower them")
    return need
