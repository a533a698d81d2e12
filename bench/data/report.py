"""The result of checking a dataset folder: what was found and what is wrong, file by file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CheckReport:
    """Outcome of ``DatasetSpec.check``: ``problems`` are ``"file: what is wrong"`` lines.

    ``found`` holds what the check saw (counts, splits, image sizes) as JSON-able values;
    ``missing`` is True when the dataset folder itself is absent (one message then says
    where it was looked for, the expected layout and where it is published).
    """

    dataset: str
    root: str
    problems: tuple[str, ...] = ()
    found: Mapping[str, Any] = field(default_factory=dict)
    missing: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "root": self.root, "ok": self.ok, "missing": self.missing,
                "problems": list(self.problems), "found": dict(self.found)}

    def format(self) -> str:
        """Human-readable lines: a status line, then the problems or what was found."""
        head = f"{self.dataset}: {'ok' if self.ok else 'FAILED'} ({self.root})"
        lines = [head]
        lines += [f"  problem: {p}" for p in self.problems]
        for key, value in self.found.items():
            lines.append(f"  {key}: {value}")
        return "\n".join(lines)


class Problems:
    """Collects ``path: problem`` lines relative to a dataset root while a check walks it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.items: list[str] = []

    def add(self, path: Path | str, problem: str) -> None:
        self.items.append(f"{self.rel(path)}: {problem}")

    def rel(self, path: Path | str) -> str:
        p = Path(path)
        try:
            return p.relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(p)

    def __bool__(self) -> bool:
        return bool(self.items)

    def report(self, dataset: str, found: Mapping[str, Any] | None = None) -> CheckReport:
        return CheckReport(dataset, str(self.root), tuple(self.items), dict(found or {}))


def missing_report(dataset: str, root: Path, layout: tuple[str, ...], source: str) -> CheckReport:
    """The single message for an absent standard dataset: folder, expected layout, publisher."""
    msg = (f"dataset {dataset!r} not found: looked in {root}; expected layout: {'; '.join(layout)}; "
           f"published at {source} (bench3d never downloads it: get it there and pass --data-root or --root)")
    return CheckReport(dataset, str(root), (msg,), {}, missing=True)
