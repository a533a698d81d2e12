"""The dataset registry: one frozen record per dataset, with lazy check/load/generate targets.

Standard datasets live where the user put them (``--data-root``/``BENCH3D_DATA``/default
cache, one folder per dataset); generated ones are built into the cache by ``prepare``,
deterministically from a seed, with a checksum manifest.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import manifest as mf
from bench.data.report import CheckReport, missing_report
from bench.errors import DataError, UsageError, unknown_name

ENV_VAR = "BENCH3D_DATA"


def data_root(explicit: str | Path | None = None) -> Path:
    """The data root: ``explicit`` (``--data-root``), else ``$BENCH3D_DATA``, else ``~/.cache/bench3d/data``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/bench3d/data").expanduser()


def _resolve(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and how to check, load (and for generated ones, build) it.

    ``layout`` lists the files/folders a prepared copy must contain (shown when it is missing);
    ``checker``/``loader``/``generator`` are lazy ``"module:function"`` targets.
    """

    name: str
    description: str
    licence: str
    source: str
    format: str
    version: str
    layout: tuple[str, ...]
    checker: str
    loader: str
    generator: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def generated(self) -> bool:
        return self.generator is not None

    def check(self, root: str | Path) -> CheckReport:
        """Validate a folder in this dataset's format (and, if generated, against its manifest)."""
        root = Path(root).expanduser()
        if not root.is_dir() or not any(root.iterdir()):
            if self.generated:
                return CheckReport(self.name, str(root), (
                    f"generated dataset {self.name!r} not found in {root}; build it with "
                    f"`bench3d data prepare {self.name}`",), missing=True)
            return missing_report(self.name, root, self.layout, self.source)
        report: CheckReport = _resolve(self.checker)(root)
        if self.generated:
            problems = tuple(mf.manifest_problems(root)) + tuple(report.problems)
            report = CheckReport(self.name, str(root), problems, report.found)
        return report

    def load(self, root: str | Path, **kw: Any) -> Any:
        """Load from ``root`` (a generated copy's checksums are verified first)."""
        root = Path(root).expanduser()
        if self.generated:
            mf.verify(root)
        else:
            require(self.name, root)
        return _resolve(self.loader)(root, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "generated" if self.generated else "standard",
                "description": self.description, "licence": self.licence, "source": self.source,
                "format": self.format, "version": self.version, "layout": list(self.layout),
                "params": dict(self.params)}


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset; registering a different record under a taken name is an error."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] != spec:
        raise UsageError(f"dataset {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def _ensure_builtin() -> None:
    from bench.data import catalog  # noqa: F401  (registers the built-in datasets)


def names() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def get(name: str) -> DatasetSpec:
    """The record of dataset ``name``; UsageError with "did you mean" otherwise."""
    _ensure_builtin()
    if name not in _REGISTRY:
        raise unknown_name("dataset", name, _REGISTRY)
    return _REGISTRY[name]


def default_folder(name: str, root: str | Path | None = None) -> Path:
    """Where a standard dataset is looked for: ``<data root>/<name>``."""
    return data_root(root) / name


def require(name: str, root: str | Path | None = None, *, data_root: str | Path | None = None) -> CheckReport:
    """Check a dataset folder before a suite runs; ``root`` defaults to ``<data root>/<name>``.

    Raises DataError with the first problem (the one missing-dataset message if absent).
    """
    spec = get(name)
    folder = Path(root).expanduser() if root is not None else default_folder(name, data_root)
    report = spec.check(folder)
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more problems; run `bench3d data check {name} --root {folder}`)" \
            if len(report.problems) > 1 else ""
        raise DataError(f"{name}: {report.problems[0]}{more}")
    return report


def _params(spec: DatasetSpec, overrides: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(spec.params))
    if unknown:
        raise UsageError(f"dataset {spec.name!r} has no parameter {unknown[0]!r}; "
                         f"expected one of: {', '.join(sorted(spec.params)) or '(none)'}")
    return {**spec.params, **overrides}


def generated_folder(name: str, root: str | Path | None = None, seed: int = 0, **params: Any) -> Path:
    """Cache folder of a generated dataset: ``<root>/<name>/v<version>-seed<seed>[-<params hash>]``."""
    spec = get(name)
    full = _params(spec, params)
    tag = f"v{spec.version}-seed{seed}"
    if full != dict(spec.params):
        digest = hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()[:10]
        tag += f"-{digest}"
    return data_root(root) / name / tag


def generate(name: str, out: str | Path, seed: int = 0, **params: Any) -> Path:
    """Build generated dataset ``name`` into the empty folder ``out`` and write its manifest."""
    spec = get(name)
    if not spec.generated:
        raise UsageError(f"dataset {name!r} is a standard dataset; it cannot be generated, only checked and loaded")
    full = _params(spec, params)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise UsageError(f"{out}: output folder for {name!r} is not empty")
    _resolve(spec.generator)(out, seed=seed, **full)
    mf.write_manifest(out, spec.name, spec.version, seed, full)
    return out


def prepare(name: str, root: str | Path | None = None, seed: int = 0, **params: Any) -> Path:
    """The cached copy of a generated dataset, built (atomically) if absent, stale or corrupt."""
    folder = generated_folder(name, root, seed, **params)
    spec = get(name)
    if folder.is_dir():
        try:
            m = mf.verify(folder)
            if m.get("version") == spec.version and m.get("seed") == seed:
                return folder
        except DataError:
            pass
        shutil.rmtree(folder)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        generate(name, tmp, seed=seed, **params)
        try:
            tmp.rename(folder)
        except OSError:
            # Another process (a second run, a Ray worker) built the same dataset and renamed first: its
            # copy is as good as ours if it verifies; otherwise the error stands.
            if not folder.is_dir():
                raise
            m = mf.verify(folder)
            if m.get("version") != spec.version or m.get("seed") != seed:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def load(name: str, root: str | Path | None = None, *, data_root: str | Path | None = None, seed: int = 0,
         params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
    """Load a dataset from its folder ``root``; by default a generated one is prepared in the cache
    under ``data_root`` and a standard one is read from ``<data root>/<name>``."""
    spec = get(name)
    if root is None:
        root = prepare(name, data_root, seed, **dict(params or {})) if spec.generated else \
            default_folder(name, data_root)
    return spec.load(root, **kw)
