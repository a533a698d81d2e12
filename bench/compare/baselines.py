"""Published reference figures (``baselines/*.yaml``): loading with schema checks, and run values
shown beside them with a status: within tolerance, outside, or reference only (protocol differs).

A file holds ``source`` (citation, where), ``suite``, ``protocol`` (the conventions behind the
figures), ``metrics`` (bench3d name -> published name, direction, optional scale), ``tolerance``
and ``entries`` (case match, metric, value). See docs/nightly.md for the format.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import UsageError
from bench.results import CaseResult

# The repository keeps the tables in its top-level ``baselines/``; a wheel ships the same files as package
# data ``bench/baselines/*.yaml`` (pyproject.toml maps package ``bench.baselines`` to that folder).
_REPO_DIR = Path(__file__).resolve().parent.parent.parent / "baselines"


def _candidates() -> list[Path]:
    """Where the shipped tables may be, in order: inside the installed package, then the source checkout."""
    out = []
    try:
        shipped = importlib.resources.files("bench") / "baselines"
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - bench is importable wherever this module is
        shipped = None
    if isinstance(shipped, Path):  # a package on the file system (not a zip import)
        out.append(shipped)
    out.append(_REPO_DIR)
    return out


def default_dir() -> Path | None:
    """The folder of the shipped ``*.yaml`` tables: ``bench/baselines`` of an installed wheel, else the
    repository's ``baselines/`` (source checkout, editable install); None when neither exists."""
    return next((p for p in _candidates() if p.is_dir()), None)


def missing_note() -> str:
    """One line for reports and comparisons when no shipped tables are found."""
    return "no published baselines found (looked in " + ", ".join(str(p) for p in _candidates()) + ")"


DEFAULT_DIR = default_dir() or _candidates()[0]  # for messages and direct file paths; load_dir() re-resolves
WITHIN, OUTSIDE_WORSE, OUTSIDE_BETTER, REFERENCE = (
    "within tolerance",
    "outside (worse)",
    "outside (better)",
    "reference only",
)
_TOP = {"source", "suite", "protocol", "metrics", "tolerance", "entries", "default_reference", "notes"}
_DIRECTIONS = {"higher": True, "lower": False}


class BaselineError(UsageError):
    """A baseline file breaks the schema; the message names the file and the field."""


@dataclass(frozen=True)
class Entry:
    """One published figure: the case it belongs to, the metric and its value in bench3d's unit."""

    match: Mapping[str, Any] | str
    metric: str
    value: float
    higher_is_better: bool
    tolerance: Mapping[str, float]
    note: str = ""

    def matches(self, case: CaseResult) -> bool:
        if isinstance(self.match, str):
            return case.case == self.match
        return all(_norm(case.params.get(k)) == _norm(v) for k, v in self.match.items())

    def label(self) -> str:
        return self.match if isinstance(self.match, str) else ",".join(f"{k}={v}" for k, v in self.match.items())


@dataclass
class Baseline:
    path: Path
    name: str
    suite: str
    source: dict[str, str]
    protocol: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    entries: list[Entry] = field(default_factory=list)
    default_reference: Mapping[str, Any] | str | None = None


def _norm(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip().lower()


def _fail(path: Path, where: str, what: str) -> BaselineError:
    return BaselineError(f"baseline {path}: field {where!r}: {what}")


MAX_DEPTH = 16  # nesting of mappings and lists; a baseline file has about 4


def _finite(v: Any) -> float | None:
    """``v`` as a finite float; None for a non-number, a bool, NaN, an infinity or an integer beyond float."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        out = float(v)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def _show(v: Any) -> str:
    """A value for an error message: short, and a container by its size (an aliased one may be huge)."""
    if isinstance(v, Mapping | list | set):
        return f"a {'mapping' if isinstance(v, Mapping) else 'list'} of {len(v)} item(s)"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _nesting(doc: Any) -> float:
    """How deep mappings and lists nest in ``doc`` (inf for one that holds itself through a YAML alias). Each
    node is visited once, so a node aliased many times (a "billion laughs" file) costs nothing extra."""
    depth: dict[int, float] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(doc, False)]
    while stack:
        node, leaving = stack.pop()
        if not isinstance(node, Mapping | list):
            continue
        kids = [k for k in (node.values() if isinstance(node, Mapping) else node) if isinstance(k, Mapping | list)]
        if leaving:
            on_path.discard(id(node))
            depth[id(node)] = 1 + max((depth[id(k)] for k in kids), default=0)
            continue
        if id(node) in on_path:
            return math.inf
        if id(node) in depth:
            continue
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((k, False) for k in kids)
    return depth.get(id(doc), 0)


def _tolerance(path: Path, where: str, tol: Any) -> dict[str, float]:
    if not isinstance(tol, Mapping) or not tol or set(tol) - {"relative", "absolute"}:
        raise _fail(path, where, "expected a mapping with 'relative' and/or 'absolute'")
    out = {}
    for k, v in tol.items():
        value = _finite(v)
        if value is None or value < 0:
            raise _fail(path, f"{where}.{k}", f"expected a finite number >= 0, got {_show(v)}")
        out[k] = value
    return out


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line of a YAML error: the problem and where (``found unhashable key (line 3, column 5)``)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def _known_metrics(suite: str) -> list[str] | None:
    """Metric names the registered suite declares, or None when the suite is not registered here."""
    from bench.suite import Registry

    reg = Registry()
    if suite not in reg.names():
        return None
    return [m.name for m in reg.get(suite).metrics]


def _match(path: Path, where: str, m: Any) -> Mapping[str, Any] | str:
    if isinstance(m, str) and m:
        return m
    if isinstance(m, Mapping) and m and all(isinstance(k, str) for k in m):
        for k, v in m.items():
            _scalar(path, f"{where}.{k}", v)
        return dict(m)
    raise _fail(path, where, "expected a case name or a mapping of case parameters, e.g. {scene: lego}")


def _scalar(path: Path, where: str, v: Any) -> None:
    """A protocol or case-parameter value: a string, a finite number, true/false, null or a date."""
    if isinstance(v, Mapping | list | set | bytes) or (isinstance(v, float) and not math.isfinite(v)):
        raise _fail(path, where, f"expected a plain value (string, finite number, true/false), got {_show(v)}")


def load(path: str | Path, *, known_metrics: list[str] | None | bool = True) -> Baseline:
    """Read and validate one baseline file. ``known_metrics=True`` asks the suite registry."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BaselineError(f"baseline {path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BaselineError(f"baseline {path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                            f"{exc.start})") from None
    try:
        doc = yaml.safe_load(text)  # data only: no Python objects, whatever the tags say
    except RecursionError:
        raise BaselineError(f"baseline {path}: YAML nested too deeply (at most {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as exc:
        raise BaselineError(f"baseline {path}: not valid YAML: {_yaml_problem(exc)}") from None
    if _nesting(doc) > MAX_DEPTH:
        raise BaselineError(f"baseline {path}: YAML nested more than {MAX_DEPTH} levels deep (or holding itself "
                            f"through an alias); expected plain mappings, lists and values")
    if not isinstance(doc, Mapping):
        raise BaselineError(f"baseline {path}: expected a mapping at the top level")
    for key in ("source", "suite", "protocol", "metrics", "tolerance", "entries"):
        if key not in doc:
            raise _fail(path, key, "missing")
    extra = set(doc) - _TOP
    if extra:
        raise _fail(path, sorted(map(str, extra))[0], f"unknown field; expected {', '.join(sorted(_TOP))}")
    src = doc["source"]
    if not isinstance(src, Mapping) or not all(
        isinstance(src.get(k), str) and src.get(k) for k in ("citation", "where")
    ):
        raise _fail(path, "source", "expected a mapping with non-empty 'citation' and 'where'")
    for k in ("citation", "where"):
        if "../" in src[k] or "..\\" in src[k]:
            raise _fail(path, f"source.{k}", f"{src[k]!r} points at a file outside the repository; cite the "
                                             "paper or the repository (file, table) the figures come from")
    suite = doc["suite"]
    if not isinstance(suite, str) or not suite:
        raise _fail(path, "suite", "expected a suite name")
    if not isinstance(doc["protocol"], Mapping) or not doc["protocol"]:
        raise _fail(path, "protocol", "expected a non-empty mapping of conventions (e.g. resolution: 800x800)")
    for key, value in doc["protocol"].items():
        _scalar(path, f"protocol.{key}", value)
    tol = _tolerance(path, "tolerance", doc["tolerance"])
    known = _known_metrics(suite) if known_metrics is True else (known_metrics or None)
    metrics: dict[str, dict[str, Any]] = {}
    if not isinstance(doc["metrics"], Mapping) or not doc["metrics"]:
        raise _fail(path, "metrics", "expected a mapping of bench3d metric names")
    for name, spec in doc["metrics"].items():
        where = f"metrics.{name}"
        if not isinstance(name, str) or not name:
            raise _fail(path, where, "expected a bench3d metric name (a string)")
        if known is not None and name not in known:
            raise _fail(path, where, f"unknown metric for suite {suite!r}; expected one of {', '.join(known)}")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("higher_is_better"), bool):
            raise _fail(path, f"{where}.higher_is_better", "missing or not true/false")
        scale = _finite(spec.get("scale", 1.0))
        if scale is None or not scale > 0:
            raise _fail(path, f"{where}.scale", f"expected a finite positive number, got {_show(spec['scale'])}")
        for key in ("published_as", "unit"):
            if key in spec and not isinstance(spec[key], str):
                raise _fail(path, f"{where}.{key}", f"expected a string, got {_show(spec[key])}")
        own = spec.get("protocol", {})
        if not isinstance(own, Mapping):
            raise _fail(path, f"{where}.protocol", "expected a mapping of protocol fields for this metric only")
        for key, value in own.items():
            _scalar(path, f"{where}.protocol.{key}", value)
        metrics[name] = {
            "protocol": dict(own),
            "published_as": str(spec.get("published_as", name)),
            "unit": str(spec.get("unit", "")),
            "higher_is_better": spec["higher_is_better"],
            "scale": scale,
            "tolerance": _tolerance(path, f"{where}.tolerance", spec["tolerance"]) if "tolerance" in spec else tol,
        }
    if not isinstance(doc["entries"], list) or not doc["entries"]:
        raise _fail(path, "entries", "expected a non-empty list")
    entries = []
    for i, e in enumerate(doc["entries"]):
        where = f"entries[{i}]"
        if not isinstance(e, Mapping):
            raise _fail(path, where, "expected a mapping with case, metric, value")
        for key in ("case", "metric", "value"):
            if key not in e:
                raise _fail(path, f"{where}.{key}", "missing")
        if not isinstance(e["metric"], str) or e["metric"] not in metrics:
            raise _fail(path, f"{where}.metric", f"{_show(e['metric'])} is not declared under 'metrics'")
        value = _finite(e["value"])
        if value is None:
            raise _fail(path, f"{where}.value", f"expected a finite number, got {_show(e['value'])}")
        spec = metrics[e["metric"]]
        if _finite(value * spec["scale"]) is None:
            raise _fail(path, f"{where}.value", f"{value!r} times metrics.{e['metric']}.scale {spec['scale']!r} "
                                                f"is not a finite number")
        if not isinstance(e.get("note", ""), str):
            raise _fail(path, f"{where}.note", f"expected a string, got {_show(e['note'])}")
        hib = spec["higher_is_better"]
        if "direction" in e:
            if not isinstance(e["direction"], str) or e["direction"] not in _DIRECTIONS:
                raise _fail(path, f"{where}.direction", f"expected 'higher' or 'lower', got {_show(e['direction'])}")
            hib = _DIRECTIONS[e["direction"]]
        etol = _tolerance(path, f"{where}.tolerance", e["tolerance"]) if "tolerance" in e else spec["tolerance"]
        entries.append(
            Entry(
                _match(path, f"{where}.case", e["case"]),
                e["metric"],
                value * spec["scale"],
                hib,
                etol,
                str(e.get("note", "")),
            )
        )
    default = doc.get("default_reference")
    return Baseline(
        path,
        path.stem,
        suite,
        dict(src),
        dict(doc["protocol"]),
        metrics,
        entries,
        None if default is None else _match(path, "default_reference", default),
    )


def load_dir(folder: str | Path | None = None, **kwargs: Any) -> list[Baseline]:
    """Every ``*.yaml`` file of a folder, sorted by name. Without a folder: the shipped tables
    (:func:`default_dir`), none when they are not installed; a given folder that does not exist is an error."""
    if folder is None:
        folder = default_dir()
        if folder is None:
            return []
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"baselines folder {folder} does not exist")
    return [load(p, **kwargs) for p in sorted(folder.glob("*.yaml"))]


# --- comparing a run with published figures ---------------------------------------------------
def _lookup(case: CaseResult, metric_fp: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Where a run records a protocol key: case params, the metric's fingerprint, dataset names."""
    if key in case.params:
        return True, case.params[key]
    stack = [metric_fp]
    while stack:
        d = stack.pop()
        for k, v in d.items():
            if isinstance(v, Mapping):
                stack.append(v)
            elif k == key:
                return True, v
    if key == "dataset" and case.datasets:
        return True, ",".join(sorted(case.datasets))
    return False, None


def same_value(got: Any, want: Any) -> bool:
    """Whether a run's protocol value means the published one: numbers equal as numbers (1 == 1.0), a
    range [0, x] the same as its upper end x (a data range written either way), strings case-insensitively."""
    g, w = _as_number(got), _as_number(want)
    if g is not None and w is not None:
        return math.isclose(g, w, rel_tol=1e-9, abs_tol=0.0)
    return _norm(got) == _norm(want)


def _as_number(v: Any) -> float | None:
    """A number, a numeric string, or the upper end of a range [0, x]; None otherwise."""
    if isinstance(v, list | tuple) and len(v) == 2 and _as_number(v[0]) == 0.0:
        return _as_number(v[1])
    if isinstance(v, str):
        try:
            return _finite(float(v))
        except ValueError:
            return None
    return _finite(v)


def _brief(v: Any, limit: int = 40) -> str:
    """A protocol value for a reason: mappings as k=v, at most ``limit`` characters."""
    text = ", ".join(f"{k}={_brief(x)}" for k, x in v.items()) if isinstance(v, Mapping) else str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def metric_protocol(b: Baseline, metric: str) -> dict[str, Any]:
    """The protocol fields that matter for ``metric``: the file's shared ones plus the metric's own
    (``metrics.<name>.protocol``, such as the LPIPS backbone), the metric's winning."""
    return {**b.protocol, **b.metrics.get(metric, {}).get("protocol", {})}


def protocol_differences(b: Baseline, case: CaseResult, metric_fp: Mapping[str, Any],
                         metric: str | None = None) -> list[str]:
    """Why a run value is not comparable with the baseline's protocol for ``metric`` (empty when it is)."""
    out = []
    for key, want in (b.protocol if metric is None else metric_protocol(b, metric)).items():
        found, got = _lookup(case, metric_fp, key)
        if not found:
            out.append(f"run does not record {key} (published: {_brief(want)})")
        elif not same_value(got, want):
            out.append(f"{key} {_brief(got)} (published: {_brief(want)})")
    return out


def status(entry: Entry, run_value: float | None) -> str:
    """Within tolerance or outside (worse / better) of the published value."""
    if run_value is None or not math.isfinite(run_value):
        return OUTSIDE_WORSE
    tol = max(entry.tolerance.get("absolute", 0.0), entry.tolerance.get("relative", 0.0) * abs(entry.value))
    delta = run_value - entry.value
    if abs(delta) <= tol:
        return WITHIN
    return OUTSIDE_BETTER if (delta > 0) == entry.higher_is_better else OUTSIDE_WORSE


def rows_for_cases(cases: list[CaseResult], baselines: list[Baseline]) -> list[dict[str, Any]]:
    """Each run value beside its published figure (one dict per pair) with status and reason."""
    rows = []
    for b in baselines:
        for case in (c for c in cases if c.suite == b.suite and c.status == "ok"):
            matched = [e for e in b.entries if e.matches(case)]
            fallback = False
            if not matched and b.default_reference is not None:
                ref = Entry(b.default_reference, "", 0.0, True, {})
                matched = [e for e in b.entries if e.label() == ref.label()]
                fallback = True
            by_name = {m.name: m for m in case.metrics}
            for e in matched:
                m = by_name.get(e.metric)
                if m is None:
                    continue
                diffs = protocol_differences(b, case, m.fingerprint or {}, e.metric)
                if fallback:
                    diffs.insert(0, f"no published figure for this case; nearest: {e.label()}")
                st = REFERENCE if diffs else status(e, m.value)
                spec = b.metrics[e.metric]
                rows.append(
                    {
                        "baseline": b.name,
                        "citation": b.source["citation"],
                        "where": b.source["where"],
                        "suite": b.suite,
                        "case": case.case,
                        "entry": e.label(),
                        "metric": e.metric,
                        "published_as": spec["published_as"],
                        "unit": spec["unit"],
                        "published": e.value,
                        "run": m.value,
                        "status": st,
                        "reason": "; ".join(diffs),
                        "tolerance": dict(e.tolerance),
                        "higher_is_better": e.higher_is_better,
                    }
                )
    return rows


def rows_for_run(store: Any, run_id: str, baselines: list[Baseline] | None = None) -> list[dict[str, Any]]:
    """Rows of :func:`rows_for_cases` for a stored run (id, prefix, "latest" or commit), with the shipped baselines."""
    rid = store.resolve(run_id)
    return rows_for_cases(store.cases(rid), load_dir() if baselines is None else baselines)


def outside_worse(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == OUTSIDE_WORSE]
