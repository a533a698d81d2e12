"""Issue 22: a phase measures its work, not torch.optim's one-time lazy imports.

The first ``torch.optim`` optimizer of a process imports ``torch._dynamo`` (~68 MiB of anonymous memory with
torch 2.13 CPU). :class:`bench.context.Phase` warms that import (``timing.warm_lazy_imports``) before its
watermark reset. Each check runs in a fresh process, as a case does, since the import happens once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import timing

MiB = 2**20
ROOT = Path(__file__).resolve().parent.parent
linux_glibc = pytest.mark.skipif(not (sys.platform.startswith("linux") and timing._malloc_trim()),
                                 reason="rss_anon_peak needs Linux /proc and glibc malloc_trim")

# A loop that builds an SGD optimizer (momentum) on a 1M-float parameter (4 MiB) and takes 3 steps: its own
# memory is the parameter, its gradient, the momentum buffer and the backward's temporaries: 20-32 MiB measured
# (fresh or warm, the same), below the import's ~68 MiB.
CHILD = """
import json, sys
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from bench import timing
from bench.context import Phase

def loop():
    w = torch.zeros(1 << 20, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

imported_before = "torch._dynamo" in sys.modules
if {phase!r}:
    meter = Phase(None, "iteration", memory=True)
    with meter:
        loop()
    peak, kind = meter._memory.peak_bytes, meter._memory.kind
else:
    with timing.PeakMemory("cpu") as meter:
        loop()
    peak, kind = meter.peak_bytes, meter.kind
print(json.dumps({{"peak": peak, "kind": kind, "imported_before": imported_before}}))
"""


def _fresh(phase: bool) -> dict:
    code = CHILD.format(root=str(ROOT), phase=phase)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    return json.loads(res.stdout.strip().splitlines()[-1])


@linux_glibc
def test_a_phase_reads_its_optimizer_loop_not_the_first_optimizer_s_imports():
    bare, phase = _fresh(phase=False), _fresh(phase=True)
    if bare["imported_before"]:
        pytest.skip("this torch imports torch._dynamo with torch itself: no lazy import to keep out")
    assert bare["kind"] == phase["kind"] == "rss_anon_peak"
    # The loop's own tensors (3 x 4 MiB at least: parameter, gradient, momentum) are counted by both ...
    assert phase["peak"] >= 12 * MiB - 2 * MiB
    assert phase["peak"] < 48 * MiB
    # ... and the bare meter in a fresh process also counts the import, tens of MiB more.
    assert bare["peak"] - phase["peak"] > 30 * MiB


def test_the_warm_up_runs_once_per_process(monkeypatch):
    monkeypatch.setattr(timing, "_WARMED", [])
    assert timing.warm_lazy_imports() is True
    assert "torch._dynamo" in sys.modules  # what the first optimizer imports (torch 2.x)
    assert timing.warm_lazy_imports() is False
