"""The suite contract and the suite registry.

A suite is one method of the field (mesh fitting, NeRF, ...). It declares its
cases (a parameter grid), its profiles, the datasets it needs and the metrics it
reports, and implements ``run(case, ctx)``, which reports everything through
``ctx`` (see :mod:`bench.context`).

Suites are registered lazily as ``"module:attr"`` targets, both built in and from
the ``bench3d.suites`` entry-point group, so an outside package can add one.
"""

from __future__ import annotations

import importlib
import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from bench.errors import UsageError, unknown_name

if TYPE_CHECKING:
    from bench.context import Context

PROFILES = ("smoke", "standard", "full")
ENTRY_POINT_GROUP = "bench3d.suites"
EXTRA_SUITES_ENV = "BENCH3D_EXTRA_SUITES"


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means: name, unit and direction (None when neither is better)."""

    name: str
    unit: str = ""
    higher_is_better: bool | None = None
    description: str = ""


@dataclass(frozen=True)
class Case:
    """One point of a suite's parameter grid, with the profile's settings merged in."""

    suite: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite, self.name)


class Suite:
    """Base class of a suite. Subclasses set the class attributes and implement ``run``.

    ``grid`` maps parameter names to their values; every combination is a case,
    named ``"k1=v1,k2=v2"``. ``profiles`` maps a profile name to the settings that
    profile passes to every case (merged into ``case.params``; grid values win).
    A profile may restrict the grid with the special key ``"grid"``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    grid: ClassVar[Mapping[str, list[Any]]] = {}
    profiles: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    datasets: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    # Overrides that make a case tiny (e.g. two iterations) for the generated contract tests.
    test_params: ClassVar[Mapping[str, Any]] = {}

    def cases(self, profile: str) -> list[Case]:
        """All cases of this suite at ``profile``, in a stable order."""
        if profile not in self.profiles:
            raise unknown_name(f"profile of suite {self.name!r}", profile, self.profiles)
        settings = dict(self.profiles[profile])
        grid = dict(self.grid)
        grid.update(settings.pop("grid", {}))
        keys = list(grid)
        out = []
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            name = ",".join(f"{k}={v}" for k, v in point.items()) or "default"
            out.append(Case(self.name, name, {**settings, **point}))
        return out

    def metric_spec(self, name: str) -> MetricSpec | None:
        for m in self.metrics:
            if m.name == name:
                return m
        return None

    def run(self, case: Case, ctx: Context) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A JSON-able description, for ``bench3d list``."""
        return {
            "name": self.name,
            "description": self.description,
            "profiles": {p: [c.name for c in self.cases(p)] for p in self.profiles},
            "datasets": list(self.datasets),
            "metrics": [
                {"name": m.name, "unit": m.unit, "higher_is_better": m.higher_is_better} for m in self.metrics
            ],
        }


# Built-in suites: name -> "module:attr". Imported only when used.
BUILTIN_SUITES: dict[str, str] = {
    "mesh_fitting": "suites.mesh_fitting:MeshFittingSuite",
    "kernels": "suites.kernels:KernelsSuite",
    "volumes": "suites.volumes:VolumesSuite",
    "nerf": "suites.nerf:NerfSuite",
    "pose": "suites.pose:PoseSuite",
}


class Registry:
    """Suites by name, from the built-in table and the ``bench3d.suites`` entry points."""

    def __init__(self, targets: Mapping[str, str] | None = None, *, entry_points_group: str | None = ENTRY_POINT_GROUP):
        self._targets: dict[str, str] = dict(BUILTIN_SUITES if targets is None else targets)
        self._loaded: dict[str, Suite] = {}
        if entry_points_group:
            for ep in entry_points(group=entry_points_group):
                self.add(ep.name, ep.value)
        # Extra "name=module:attr" targets separated by ";" (development and tests, no install needed).
        for item in filter(None, os.environ.get(EXTRA_SUITES_ENV, "").split(";")):
            name, sep, target = item.partition("=")
            if not sep or ":" not in target:
                raise UsageError(f"{EXTRA_SUITES_ENV}: expected 'name=module:attr' items separated by ';', "
                                 f"got {item!r}")
            self.add(name.strip(), target.strip())

    def add(self, name: str, target: str) -> None:
        if name in self._targets and self._targets[name] != target:
            raise UsageError(f"suite {name!r} is registered twice: {self._targets[name]} and {target}")
        self._targets[name] = target

    def names(self) -> list[str]:
        return sorted(self._targets)

    def get(self, name: str) -> Suite:
        if name not in self._targets:
            raise unknown_name("suite", name, self._targets)
        if name not in self._loaded:
            self._loaded[name] = _load_target(name, self._targets[name])
        return self._loaded[name]

    def select(self, names: Iterable[str] | None) -> list[Suite]:
        names = list(names or []) or self.names()
        return [self.get(n) for n in names]


def _load_target(name: str, target: str) -> Suite:
    module_name, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"suite {name!r}: cannot load {target!r}: {exc}") from exc
    suite = obj() if isinstance(obj, type) else obj
    if not isinstance(suite, Suite):
        raise UsageError(f"suite {name!r}: {target!r} is not a bench.suite.Suite")
    if suite.name != name:
        raise UsageError(f"suite registered as {name!r} declares name {suite.name!r}")
    return suite


def find_case(suite: Suite, profile: str, case_name: str) -> Case:
    cases = {c.name: c for c in suite.cases(profile)}
    if case_name not in cases:
        raise unknown_name(f"case of suite {suite.name!r}", case_name, cases)
    return cases[case_name]
