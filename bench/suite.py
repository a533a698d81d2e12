"""The suite contract (v2) and the suite registry.

A suite is one method of the field (mesh fitting, NeRF, ...). It declares

- ``Config``: one frozen dataclass of its case parameters (types, defaults, one-line docs; see
  :mod:`bench.config`);
- ``grid``: config fields -> values; every combination is a case, named ``"k1=v1,k2=v2"``;
- ``profiles``: named :class:`Profile` s (field values, optionally a grid restriction and values per grid
  value), each checked against ``Config``;
- ``datasets``: the :class:`DatasetUse` s a case needs, which the harness resolves before ``run``;
- ``metrics``: the metrics it reports (:class:`MetricSpec`, library metrics through :meth:`MetricSpec.of`);
- ``tiny``: field values that make any case tiny, for the generated contract tests;
- ``backend_tolerances`` (optional): metric -> :class:`BackendTolerance`, how far a case's metric may land
  from the same case on the reference backend (``bench3d compare RUN --backends``);
- ``backend_case_tolerances`` (optional): case name -> metric -> :class:`BackendTolerance`, replacing the
  suite-wide bound of those metrics for that case (a case whose metric is measured to spread further under
  rounding-level perturbations on one backend);
- ``backend_known_differences`` (optional): case name -> why its metrics are not expected to agree across
  backends (a measured defect of one backend, named with where it is documented): outside-tolerance
  metrics of that case are listed as known differences, not failures;

and implements ``run(case, ctx)``, reporting everything through ``ctx`` (:mod:`bench.context`), with
``case.config`` the case's typed configuration.

Suites are registered as ``"module:attr"`` targets in the ``bench3d.suites`` entry-point group (the built-in
suites too, in this package's own metadata), loaded lazily.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from bench import config as cfgmod
from bench.errors import UsageError, unknown_name

if TYPE_CHECKING:
    from bench.context import Context

PROFILES = ("smoke", "standard", "full")
ENTRY_POINT_GROUP = "bench3d.suites"
EXTRA_SUITES_ENV = "BENCH3D_EXTRA_SUITES"


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means: name, unit and direction (None when neither is better).

    ``implementation`` names the ``bench.metrics`` function whose :class:`~bench.metrics.MetricResult`
    this metric records (then unit and direction come from its catalog entry, and the case must pass that
    result, fingerprint included); None for a quantity of the suite's own (a loss, a ratio, a count).

    ``initial`` marks the value at the start (``chamfer_l2_init``: the initial sphere), a condition of the
    case rather than its outcome: reports never rank cases by it.
    """

    name: str
    unit: str = ""
    higher_is_better: bool | None = None
    description: str = ""
    implementation: str | None = None
    initial: bool = False

    @classmethod
    def of(cls, implementation: str, name: str | None = None, description: str | None = None, *,
           unit: str | None = None, initial: bool = False) -> MetricSpec:
        """A metric computed by ``bench.metrics.<implementation>``, recorded as ``name`` (default: the same).

        ``unit`` names the input unit of an implementation whose results are in it (``mpjpe(..., unit="mm")``);
        the case must then pass results computed with that unit.
        """
        from bench.metrics.catalog import info

        m = info(implementation)
        if unit is not None and unit != m.unit and not m.unit_from_input:
            raise ValueError(f"MetricSpec.of({implementation!r}, unit={unit!r}): its results are always in "
                             f"{m.unit!r}; only implementations in the inputs' unit take a unit")
        return cls(name or implementation, m.unit if unit is None else unit, m.higher_is_better,
                   description or m.description, implementation, initial)


@dataclass(frozen=True)
class BackendTolerance:
    """How far a metric may differ between two backends on the same case: ``|v - ref| <= abs + rel * |ref|``.

    ``why`` says where the difference comes from (float rounding; an optimisation whose path diverges; the
    RNG stream of a sampler) and so why the bound is what it is.
    """

    abs: float = 0.0
    rel: float = 0.0
    why: str = ""

    def within(self, value: float, ref: float) -> bool:
        return abs(value - ref) <= self.abs + self.rel * abs(ref)


# Metrics the harness itself records for every case (not declared by suites).
HARNESS_METRICS = (
    MetricSpec("peak_memory_mb", "MiB", False,
               "peak memory of the case's largest phase (CUDA max allocated above entry, or CPU RSS growth)"),
)


@dataclass(frozen=True)
class Profile:
    """A named preset of a suite's configuration.

    Attributes:
        values: config field -> value for every case of the profile.
        grid: config field -> values, replacing those axes of the suite's grid (or adding an axis).
        per_case: config field of the grid -> {grid value -> {field: value}}: settings for the cases with that
            grid value (e.g. a smaller image for one scene), over ``values``.
        description: one line for ``bench3d list``.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    per_case: Mapping[str, Mapping[Any, Mapping[str, Any]]] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class DatasetUse:
    """A dataset a case needs, resolved by the harness before ``run`` (``ctx.dataset(name)``).

    Attributes:
        name: the dataset's registry name (``bench3d data list``).
        when: config field -> value (or tuple of values): only cases with these values need it; {} = all.
        unless: config field -> value (or tuple): cases with these values do not need it.
        params: a generated dataset's parameters from the case: dataset parameter -> config field, or a
            callable ``(config, data_root) -> {parameter: value}``.
        folder: a standard dataset held one sub-folder per item (a scene): the config field naming it.
    """

    name: str
    when: Mapping[str, Any] = field(default_factory=dict)
    unless: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, str] | Callable[[Any, Any], Mapping[str, Any]] = field(default_factory=dict)
    folder: str | None = None

    def applies(self, config: Any) -> bool:
        def hit(k: str, v: Any) -> bool:
            return getattr(config, k) in (v if isinstance(v, tuple) else (v,))

        return all(hit(k, v) for k, v in self.when.items()) and not any(hit(k, v) for k, v in self.unless.items())

    def fields(self) -> list[str]:
        """Config fields this declaration reads (checked against ``Config`` when the suite loads)."""
        named = [*self.when, *self.unless, *([self.folder] if self.folder else [])]
        return named + (list(self.params.values()) if isinstance(self.params, Mapping) else [])


@dataclass(frozen=True)
class Case:
    """One point of a suite's grid at a profile: its name and its resolved, typed configuration.

    ``backend`` is set when a run compares backends (``--backend torch,pytorch3d``; the name ends ``@backend``).
    """

    suite: str
    name: str
    config: Any
    backend: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite, self.name)

    @property
    def params(self) -> dict[str, Any]:
        """The resolved configuration as a JSON-able dict (what the store keeps)."""
        return cfgmod.as_dict(self.config)


@dataclass(frozen=True)
class EmptyConfig:
    """A suite without parameters."""


class Suite:
    """Base class of a suite. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type] = EmptyConfig
    grid: ClassVar[Mapping[str, Sequence[Any]]] = {}
    profiles: ClassVar[Mapping[str, Profile]] = {}
    datasets: ClassVar[tuple[DatasetUse, ...]] = ()
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    # Field values that make any case tiny (two iterations, a few pixels) for the generated contract tests.
    tiny: ClassVar[Mapping[str, Any]] = {}
    # metric -> agreement tolerance between backends on the same case (smoke profile); see BackendTolerance.
    backend_tolerances: ClassVar[Mapping[str, BackendTolerance]] = {}
    # case name ("k=v,...") -> metric -> tolerance replacing backend_tolerances[metric] for that case.
    backend_case_tolerances: ClassVar[Mapping[str, Mapping[str, BackendTolerance]]] = {}
    # case name ("k=v,...") -> why that case is not expected to agree across backends (documented defect).
    backend_known_differences: ClassVar[Mapping[str, str]] = {}

    # --- declarations ----------------------------------------------------------------------
    def validate(self) -> None:
        """Check the declarations against ``Config``; UsageError naming the first inconsistency."""
        where = f"suite {self.name!r}"
        fields = {f.name for f in cfgmod.fields_of(self.Config)}
        for k in self.grid:
            if k not in fields:
                raise unknown_name(f"grid field of {where}", k, fields)
        if "smoke" not in self.profiles:
            raise UsageError(f"{where} declares no 'smoke' profile (every suite runs on a CPU at smoke)")
        for pname, prof in self.profiles.items():
            if not isinstance(prof, Profile):
                raise UsageError(f"{where}: profile {pname!r} must be a bench.suite.Profile")
            pw = f"{where} profile {pname!r}"
            cfgmod.build(self.Config, prof.values, pw)
            for k, values in prof.grid.items():
                for v in values:
                    cfgmod.check_value(self.Config, k, v, f"{pw} grid")
            for k, by_value in prof.per_case.items():
                for v, settings in by_value.items():
                    cfgmod.check_value(self.Config, k, v, f"{pw} per_case")
                    cfgmod.build(self.Config, settings, f"{pw} per_case {k}={v}")
        cfgmod.build(self.Config, self.tiny, f"{where} tiny")
        for use in self.datasets:
            for k in use.fields():
                if k not in fields:
                    raise unknown_name(f"config field in {where} dataset {use.name!r}", k, fields)
        names = [m.name for m in self.metrics]
        dupes = {n for n in names if names.count(n) > 1} | (set(names) & {m.name for m in HARNESS_METRICS})
        if dupes:
            raise UsageError(f"{where} declares metric {sorted(dupes)[0]!r} twice (or a harness metric)")
        tables = {"backend_tolerances": self.backend_tolerances,
                  **{f"backend_case_tolerances[{c!r}]": t for c, t in self.backend_case_tolerances.items()}}
        for table, tols in tables.items():
            for name, tol in tols.items():
                if self.metric_spec(name) is None:
                    raise unknown_name(f"metric in {where} {table}", name, names)
                if not isinstance(tol, BackendTolerance) or tol.abs < 0 or tol.rel < 0 or not tol.why:
                    raise UsageError(f"{where} {table}[{name!r}]: expected a BackendTolerance with "
                                     "abs, rel >= 0 and a reason (why)")
        for table, cases in (("backend_case_tolerances", self.backend_case_tolerances),
                             ("backend_known_differences", self.backend_known_differences)):
            for case in cases:
                for part in str(case).split(","):
                    if part.partition("=")[0] not in self.grid:
                        raise unknown_name(f"grid field in {where} {table}[{case!r}]",
                                           part.partition("=")[0], self.grid)
        for case, why in self.backend_known_differences.items():
            if not isinstance(why, str) or not why:
                raise UsageError(f"{where} backend_known_differences[{case!r}]: expected a reason (a string)")

    def metric_spec(self, name: str) -> MetricSpec | None:
        for m in (*self.metrics, *HARNESS_METRICS):
            if m.name == name:
                return m
        return None

    # --- cases ------------------------------------------------------------------------------
    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise unknown_name(f"profile of suite {self.name!r}", name, self.profiles)
        return self.profiles[name]

    def check_overrides(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """``--set`` values checked against ``Config`` (unknown key: "did you mean"; wrong type: the field's)."""
        return {k: cfgmod.check_value(self.Config, k, v, f"--set for suite {self.name!r}")
                for k, v in overrides.items()}

    def cases(self, profile: str, overrides: Mapping[str, Any] | None = None) -> list[Case]:
        """All cases of this suite at ``profile`` in a stable order, with ``overrides`` (``--set``) applied.

        An override of a grid field fixes that axis to the given value, so the cases are named by what
        they run (``--set loss=chamfer`` runs and names ``loss=chamfer`` cases).
        """
        prof = self.profile(profile)
        over = self.check_overrides(overrides or {})
        grid = {**self.grid, **prof.grid}
        for k in over:
            if k in grid:
                grid[k] = [over[k]]
        keys = list(grid)
        out, seen = [], set()
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            name = ",".join(f"{k}={v}" for k, v in point.items()) or "default"
            if name in seen:
                continue
            seen.add(name)
            settings = dict(prof.values)
            for k, by_value in prof.per_case.items():
                settings.update(by_value.get(point.get(k, settings.get(k)), {}))
            settings.update(point)
            settings.update(over)
            config = cfgmod.build(self.Config, settings, f"suite {self.name!r} profile {profile!r} case {name!r}")
            out.append(Case(self.name, name, config))
        return out

    def case_from(self, name: str, params: Mapping[str, Any], backend: str | None = None) -> Case:
        """A case rebuilt from its stored resolved configuration (the worker's side)."""
        return Case(self.name, name, cfgmod.build(self.Config, params, f"suite {self.name!r} case {name!r}"),
                    backend)

    def memory_mb(self, case: Case) -> int | None:
        """The most memory (MiB) ``case`` needs, for an executor that reserves it (``--executor ray`` asks the
        cluster for it, so cases are packed onto nodes that have it); None: undeclared (``--memory``'s default)."""
        return None

    def run(self, case: Case, ctx: Context) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self, profiles: Iterable[str] | None = None) -> dict[str, Any]:
        """A JSON-able description, for ``bench3d list``: cases, every field with type, default and
        per-profile value, datasets and metrics."""
        wanted = [p for p in self.profiles if profiles is None or p in profiles]
        cases = {p: self.cases(p) for p in wanted}
        fields = []
        for f in cfgmod.fields_of(self.Config):
            per_profile = {}
            for p, cs in cases.items():
                vals = {cfgmod.as_dict(c.config)[f.name] for c in cs if _hashable(cfgmod.as_dict(c.config)[f.name])}
                per_profile[p] = sorted(vals, key=str) if len(vals) != 1 else next(iter(vals))
            fields.append({"name": f.name, "type": f.type_name, "default": cfgmod.as_dict(self.Config())[f.name],
                           "doc": f.doc, "identity": f.identity, "grid": f.name in self.grid,
                           "profiles": per_profile})
        return {
            "name": self.name,
            "description": self.description,
            "profiles": {p: [c.name for c in cs] for p, cs in cases.items()},
            "config": fields,
            "datasets": [u.name for u in self.datasets],
            "metrics": [{"name": m.name, "unit": m.unit, "higher_is_better": m.higher_is_better,
                         "implementation": m.implementation} for m in self.metrics],
        }


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


class Registry:
    """Suites by name, from the ``bench3d.suites`` entry points (built-in suites included)."""

    def __init__(self, targets: Mapping[str, str] | None = None, *, entry_points_group: str | None = ENTRY_POINT_GROUP):
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, Suite] = {}
        for name, target in (targets or {}).items():
            self.add(name, target)
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
            hint = "" if self._targets else (" (no suite is registered: is bench3d installed? "
                                            "`pip install -e .` registers the built-in suites)")
            err = unknown_name("suite", name, self._targets)
            raise UsageError(f"{err}{hint}") if hint else err
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
    if not dataclasses.is_dataclass(suite.Config):
        raise UsageError(f"suite {name!r}: Config must be a frozen dataclass of the case parameters")
    suite.validate()
    return suite


def find_case(suite: Suite, profile: str, case_name: str) -> Case:
    cases = {c.name: c for c in suite.cases(profile)}
    if case_name not in cases:
        raise unknown_name(f"case of suite {suite.name!r}", case_name, cases)
    return cases[case_name]
