"""Machine types: which hardware timed a case, so that ``compare`` never puts timings of different kinds of machine
side by side unless asked (``--allow-machine-mismatch``).

A case's **machine type** is the hardware that ran it:

- ``cpu``: the CPU model (``/proc/cpuinfo``'s model name) and ``cpus``, the logical CPUs the machine has;
- ``gpu``: for a case on a CUDA device, the GPU's name (the device the case used); a CPU case has none;
- ``class``: the host class, an optional label the operator gives every machine of one kind
  (``$BENCH3D_HOST_CLASS``, e.g. a cloud instance type ``g5.xlarge``); compared only where both sides have one.

The host name is not part of it: two nodes of one Ray cluster with the same CPU and GPU are the same type. A case
run by ``--executor ray`` records its node's type (``CaseResult.node``); a case of the local executor has the run's
environment (``RunRecord.environment``). Where either is unknown (runs stored before this was recorded), the runs'
machine ids decide, as before.
"""

from __future__ import annotations

import os
from typing import Any

from bench.results import CaseResult, RunRecord

HOST_CLASS_ENV = "BENCH3D_HOST_CLASS"
FIELDS = ("cpu", "cpus", "gpu", "class")


def host_class() -> str | None:
    """The operator's label of this machine's kind (``$BENCH3D_HOST_CLASS``), None when unset."""
    return os.environ.get(HOST_CLASS_ENV) or None


def _gpu_of(device: str, names: list[str]) -> str | None:
    """The name of the GPU a case on ``device`` ("cuda", "cuda:N") used, from the machine's GPU names."""
    if not device.startswith("cuda") or not names:
        return None
    index = device.partition(":")[2]
    i = int(index) if index.isdigit() else 0
    return names[i] if i < len(names) else None


def case_machine(run: RunRecord, case: CaseResult) -> dict[str, Any] | None:
    """The machine type of ``case`` of ``run`` (keys :data:`FIELDS`), None when not recorded."""
    device = str(case.device or run.device or "")
    node = case.node or None
    if node is not None:  # a Ray task: its node's hardware, never the driver's
        if not node.get("cpu_model"):
            return None
        gpu = node.get("gpu") if device.startswith("cuda") else None
        return {"cpu": node["cpu_model"], "cpus": node.get("cpu_cores"), "gpu": gpu, "class": node.get("host_class")}
    env = run.environment or {}
    if not env.get("cpu_model"):
        return None
    return {"cpu": env["cpu_model"], "cpus": env.get("cpu_cores"), "gpu": _gpu_of(device, env.get("gpu_names") or []),
            "class": env.get("host_class")}


def describe(machine: dict[str, Any]) -> str:
    """One line naming a machine type, e.g. ``"AMD EPYC 7763 x16 CPUs + NVIDIA A100 [class g5]"``."""
    out = f"{machine['cpu']} x{machine['cpus']} CPUs" if machine.get("cpus") else str(machine["cpu"])
    if machine.get("gpu"):
        out += f" + {machine['gpu']}"
    if machine.get("class"):
        out += f" [class {machine['class']}]"
    return out


def type_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The fields two machine types differ in, as "field A != B"; the host class only where both have one."""
    out = []
    for key in FIELDS:
        va, vb = a.get(key), b.get(key)
        if key == "class" and (va is None or vb is None):
            continue
        if va != vb:
            out.append(f"{key} {va} != {vb}")
    return out


def machine_mismatch(base_run: RunRecord, base: CaseResult, new_run: RunRecord, new: CaseResult) -> str:
    """Why the timings of two cases come from different kinds of machine ("" when they do not): the machine
    types' differences, or, where a type is unknown, the runs' different machine ids."""
    mb, mn = case_machine(base_run, base), case_machine(new_run, new)
    if mb is not None and mn is not None:
        diff = type_differences(mb, mn)
        return f"machine type {describe(mb)} != {describe(mn)} ({'; '.join(diff)})" if diff else ""
    if (base_run.machine or "") != (new_run.machine or ""):
        return f"machine {base_run.machine} != {new_run.machine}"
    return ""
