"""Which process runs a run, and whether it still lives: how a run whose runner died (SIGKILL, a lost
machine, the OOM killer) is told from one that is still going, so the next open of the store can mark it
``interrupted``.

A runner is named by its host, pid, the kernel's boot id and the process's start time in clock ticks
(Linux ``/proc``): a pid reused by another process after the runner died, or a reboot, is not mistaken for
the runner. Elsewhere only host and pid are known, and a live pid is taken for the runner.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except (OverflowError, ValueError):
        return False
    return True


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat``: the process's start time after boot, in clock ticks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after its last ")"
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def this_runner() -> dict[str, Any]:
    """The identity of this process as a run's runner (stored in ``RunSettings.runner``)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "boot_id": _boot_id(), "start_ticks": _start_ticks(pid)}


def runner_gone(runner: dict[str, Any] | None) -> bool:
    """True only when ``runner`` is known to have ended: it ran on this host and its process is gone (or the
    pid now belongs to another process, or the machine has rebooted since). Unknown or another host: False."""
    if not isinstance(runner, dict) or runner.get("host") != socket.gethostname():
        return False
    pid = runner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    boot = _boot_id()
    if runner.get("boot_id") and boot and runner["boot_id"] != boot:
        return True
    if not pid_alive(pid):
        return True
    ticks = runner.get("start_ticks")
    now = _start_ticks(pid)
    return ticks is not None and now is not None and ticks != now
