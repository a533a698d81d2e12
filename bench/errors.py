"""Typed errors. Each one is shown to the user as a single line, without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """Base class: an error the CLI prints as one line and exits with code 2."""


class UsageError(BenchError):
    """Bad names or values given by the user."""


class StoreError(BenchError):
    """The results database cannot be opened or written safely."""


class NotAvailable(BenchError):
    """An optional dependency, dataset or device is missing; the case is skipped, not failed."""


class DataError(BenchError):
    """A dataset folder or file is missing or malformed."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal (Ctrl-C, SIGTERM, SIGHUP): the CLI prints its message, exits 128 + signal."""

    def __init__(self, message: str = "", signum: int = 2):
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UsageError:
    """One-line error for an unknown name, listing the valid ones and a close match."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UsageError(f"unknown {kind}: {name!r}; expected one of: {', '.join(choices) or '(none)'}.{hint}")
