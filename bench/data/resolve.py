"""Datasets of a case, resolved by the harness before the suite runs.

A suite declares what a case needs (:class:`bench.suite.DatasetUse`); :func:`resolve_case_datasets`
generates a generated dataset into the cache (or finds it there), locates a standard one under the data
root and checks its layout (once per state of its folder: :mod:`bench.data.check_cache`), and records
name, version and a content checksum with the case. A standard dataset that is absent raises
:class:`~bench.errors.NotAvailable` with the registry's one-line "where to get it" message, so the case is
*skipped*; one that is present but malformed raises DataError (an error).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import check_cache, registry
from bench.data.manifest import read_manifest
from bench.errors import DataError, NotAvailable

# Standard datasets can be many GB: their checksum covers the file listing (paths and sizes) and the content
# of the small metadata files (camera poses, splits, annotations), not every image.
METADATA_SUFFIXES = (".json", ".txt", ".npy", ".csv", ".yaml", ".yml")
METADATA_MAX_BYTES = 8 << 20


@dataclass(frozen=True)
class ResolvedDataset:
    """A dataset folder ready for a case: where it is, what version, and its content checksum."""

    name: str
    root: Path
    version: str
    checksum: str
    generated: bool
    seed: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """What the case result records: ``"v1 sha256:0123456789abcdef"``."""
        return f"v{self.version} sha256:{self.checksum}"

    def load(self, **kw: Any) -> Any:
        """The dataset's registry loader on this folder (generated copies are verified first)."""
        return registry.get(self.name).load(self.root, **kw)


def _generated_checksum(folder: Path) -> str:
    files = read_manifest(folder)["files"]
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def standard_checksum(folder: Path, entries: list[check_cache.Entry] | None = None) -> str:
    """sha256 over every file's relative path and size, and the bytes of its small metadata files.

    ``entries``: the folder's walk (:func:`bench.data.check_cache.walk`) where the caller has it already.
    """
    h = hashlib.sha256()
    for p, rel, size, _ in check_cache.walk(folder) if entries is None else entries:
        h.update(f"{rel}\0{size}\n".encode())
        if p.suffix.lower() in METADATA_SUFFIXES and size <= METADATA_MAX_BYTES:
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def standard_folder(name: str, data_root: str | Path | None, item: str | None) -> Path:
    """``<data root>/<name>[/<item>]``; the archive's own folder name with underscores is accepted too."""
    base = registry.data_root(data_root)
    candidates = [base / name, base / name.replace("-", "_")]
    if item is not None:
        candidates = [c / item for c in candidates]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def resolve(use: Any, config: Any, data_root: str | Path | None, seed: int) -> ResolvedDataset:
    """Resolve one :class:`~bench.suite.DatasetUse` for a case's ``config``."""
    spec = registry.get(use.name)
    if spec.generated:
        params = (use.params(config, data_root) if callable(use.params)
                  else {p: getattr(config, f) for p, f in use.params.items()})
        folder = registry.prepare(use.name, data_root, seed, **params)
        return ResolvedDataset(use.name, folder, spec.version, _generated_checksum(folder), True, seed, params)
    item = getattr(config, use.folder) if use.folder else None
    folder = standard_folder(use.name, data_root, item)
    what = f"{use.name}/{item}" if item else use.name
    if not folder.is_dir() or not any(folder.iterdir()):
        report = spec.check(folder)
        raise NotAvailable(f"{what}: {report.problems[0] if report.problems else f'not found in {folder}'}")
    try:  # checked once per state of the folder (bench.data.check_cache), not at every case start
        checksum = check_cache.checked_checksum(folder, use.name, spec.version, spec.checker, spec.check,
                                                standard_checksum)
    except check_cache.CheckFailed as failed:
        problems = failed.report.problems
        more = f" (and {len(problems) - 1} more; run `bench3d data check {use.name} --root {folder}`)" \
            if len(problems) > 1 else ""
        raise DataError(f"{what}: {problems[0]}{more}") from None
    return ResolvedDataset(use.name, folder, spec.version, checksum, False)


def resolve_case_datasets(suite: Any, config: Any, data_root: str | Path | None, seed: int
                          ) -> dict[str, ResolvedDataset]:
    """Every dataset the suite declares for this case, by name."""
    return {use.name: resolve(use, config, data_root, seed) for use in suite.datasets if use.applies(config)}
