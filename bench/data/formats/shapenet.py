"""ShapeNetCore v1 (``<synset>/<model>/model.obj``) and v2 (``<synset>/<model>/models/model_normalized.obj``).

Meshes load lazily, one model at a time: the index lists models whose OBJ exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.data.files import json_or_problem, read_json
from bench.data.generated.meshes import load_mesh_file
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import ListOf, Obj, String, problem
from bench.errors import DataError

TAXONOMY = ListOf(Obj({"synsetId": String(), "name": String()}))
SNIFF_BYTES = 4096  # every model's first bytes must be UTF-8 OBJ text; the first model of each synset is parsed

SYNSET = re.compile(r"^\d{8}$")
MODEL_FILE = {1: "model.obj", 2: "models/model_normalized.obj"}


def synset_names(root: Path) -> dict[str, str]:
    """``{synset id: category name}`` from ``taxonomy.json`` when present."""
    tax = Path(root) / "taxonomy.json"
    if not tax.is_file():
        return {}
    doc = read_json(tax, TAXONOMY)
    return {d["synsetId"]: d["name"].split(",")[0] for d in doc}


@dataclass
class ShapeNetCore(Sequence):
    """Lazy list of ShapeNetCore models: ``ds[i]`` -> dict(synset, model_id, category, verts (V, 3), faces (F, 3))."""

    root: Path
    version: int = 2
    synsets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.names = synset_names(self.root)
        self.items: list[tuple[str, str, Path]] = []
        for sdir in sorted(p for p in self.root.iterdir() if p.is_dir() and SYNSET.match(p.name)):
            if self.synsets is not None and sdir.name not in self.synsets:
                continue
            for mdir in sorted(p for p in sdir.iterdir() if p.is_dir()):
                obj = mdir / MODEL_FILE[self.version]
                if obj.is_file():
                    self.items.append((sdir.name, mdir.name, obj))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        synset, model, obj = self.items[i]
        v, f = load_mesh_file(obj)
        return {"synset": synset, "model_id": model, "category": self.names.get(synset, synset),
                "verts": torch.tensor(v, dtype=torch.float32), "faces": torch.tensor(f, dtype=torch.int64)}


def _check(root: Path, version: int) -> CheckReport:
    root = Path(root)
    problems = Problems(root)
    synsets = sorted(p for p in root.iterdir() if p.is_dir() and SYNSET.match(p.name))
    if not synsets:
        problems.add(root, "no synset folders (8-digit names such as 02691156)")
    counts: dict[str, int] = {}
    for sdir in synsets:
        n = 0
        parsed = False
        for mdir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            obj = mdir / MODEL_FILE[version]
            if not obj.is_file():
                problems.add(obj, "model file is missing")
            elif obj.stat().st_size == 0:
                problems.add(obj, "model file is empty")
            else:
                msg = _sniff_obj(obj)
                if msg is None and not parsed:  # the first good-looking model of each synset is parsed in full
                    parsed = True
                    try:
                        load_mesh_file(obj)
                    except DataError as exc:
                        msg = str(exc).split(": ", 1)[-1]
                if msg:
                    problems.add(obj, msg)
                else:
                    n += 1
        counts[sdir.name] = n
    names: dict[str, str] = {}
    if (root / "taxonomy.json").is_file():
        doc = json_or_problem(root / "taxonomy.json", problems)
        msg = problem(doc, TAXONOMY) if doc is not None else None
        if msg:
            problems.add(root / "taxonomy.json", msg)
        elif doc is not None:
            names = synset_names(root)
    found = {"synsets": len(synsets), "models": sum(counts.values()),
             "models_per_synset": {names.get(k, k): v for k, v in counts.items()}}
    return problems.report(f"shapenetcore-v{version}", found)


def _sniff_obj(path: Path) -> str | None:
    """None when the file starts as OBJ text (UTF-8, no NUL bytes), else the problem."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if b"\0" in head:
        return "is binary (NUL bytes); expected OBJ text"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
            return f"not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start}); expected OBJ text"
    return None


def check_v1(root: Path) -> CheckReport:
    return _check(root, 1)


def check_v2(root: Path) -> CheckReport:
    return _check(root, 2)


def load_v1(root: Path, synsets: tuple[str, ...] | None = None) -> ShapeNetCore:
    return ShapeNetCore(root, 1, synsets)


def load_v2(root: Path, synsets: tuple[str, ...] | None = None) -> ShapeNetCore:
    return ShapeNetCore(root, 2, synsets)
