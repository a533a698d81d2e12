"""Checksum manifests of generated datasets: sha256 of every file, plus name, version, seed, params."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import DataError

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path, name: str, version: str, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
    """Hash every file under ``folder`` and write ``manifest.json`` (sorted keys: byte-stable)."""
    folder = Path(folder)
    manifest = {
        "name": name,
        "version": version,
        "seed": seed,
        "params": dict(params),
        "files": {p.relative_to(folder).as_posix(): sha256(p) for p in _files(folder)},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: manifest is missing (prepare the dataset with `bench3d data prepare`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed or truncated JSON ({exc.msg})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise DataError(f"{path}: not a bench3d manifest (no 'files' table)")
    return manifest


def manifest_problems(folder: Path) -> list[str]:
    """``"file: problem"`` lines for missing, altered or unlisted files (empty when all match)."""
    folder = Path(folder)
    try:
        manifest = read_manifest(folder)
    except DataError as exc:
        return [f"{MANIFEST}: {str(exc).split(': ', 1)[-1]}"]
    problems = []
    listed = manifest["files"]
    for rel, digest in sorted(listed.items()):
        p = folder / rel
        if not p.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256(p) != digest:
            problems.append(f"{rel}: checksum mismatch (sha256 differs from the manifest)")
    for p in _files(folder):
        rel = p.relative_to(folder).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not listed in the manifest")
    return problems


def verify(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every file; DataError naming the first bad file otherwise."""
    problems = manifest_problems(folder)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(f"{Path(folder) / problems[0]}{more}")
    return read_manifest(folder)
