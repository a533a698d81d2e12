"""A standard dataset is checked once per state of its folder, not at every case start.

``spec.check`` of a large standard dataset reads every file (R2N2: about 1.05M PNG headers and 44k binvox files)
and its checksum reads every small metadata file: minutes per case on the real data. One walk of the folder gives
its *listing* (relative path, size, ``st_mtime_ns`` of every file); a successful check and the checksum are cached
under the listing's digest, in ``<cache>/checks/`` (``$BENCH3D_CACHE``, else ``~/.cache/bench3d``; never inside
the dataset's folder, which may be read-only). The cache key is the folder's resolved path, the dataset's name
and version and the check code's identity (the checker target, the sha256 of its module's source and of the
``bench.data`` and ``bench.data.formats`` sources it builds on, bench3d's version), so a changed checker
re-checks. A hit costs the walk only.

Any file added, removed, resized or with a new mtime is a miss, and the full check runs again. A failed check is
never cached. Limits: a metadata file rewritten with the same size *and* the same mtime is invisible to the
listing (file systems stamp mtimes at their clock tick, a few ms on Linux: only a same-size rewrite within a tick
of the last write, or one that restores the mtime, is missed); ``BENCH3D_DATA_RECHECK=1`` (or ``touch`` on the
file) forces the full check. The record is written atomically (temp file + ``os.replace``); a corrupt,
unreadable or unwritable cache is ignored (the check runs), never an error. Concurrent cases may race: the last
writer wins, and both wrote a correct record.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_ENV = "BENCH3D_CACHE"
RECHECK_ENV = "BENCH3D_DATA_RECHECK"
FORMAT = 1

# One file of the walk: (path, relative posix path, size in bytes, st_mtime_ns)
Entry = tuple[Path, str, int, int]


def cache_dir() -> Path:
    """Where check records live: ``$BENCH3D_CACHE/checks``, else ``~/.cache/bench3d/checks``."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/bench3d").expanduser() / "checks"


def recheck_forced() -> bool:
    """True where ``$BENCH3D_DATA_RECHECK`` is set to anything but empty, 0, false or no."""
    return os.environ.get(RECHECK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def walk(folder: Path) -> list[Entry]:
    """Every regular file under ``folder`` (symlinks followed as ``Path.rglob`` + ``is_file`` do), sorted by path."""
    out = []
    prefix = str(folder)
    # str(p)[cut:] == p.relative_to(folder).as_posix(), faster; rglob of Path(".") yields bare relative paths
    cut = 0 if prefix == "." else len(prefix) + (0 if prefix.endswith(os.sep) else 1)
    for p in folder.rglob("*"):
        try:
            st = p.stat()
        except OSError:  # a dangling link: is_file() is False for it too
            continue
        if stat.S_ISREG(st.st_mode):
            rel = str(p)[cut:]
            out.append((p, rel if os.sep == "/" else rel.replace(os.sep, "/"), st.st_size, st.st_mtime_ns))
    out.sort(key=lambda e: e[0])
    return out


def listing_digest(entries: list[Entry]) -> str:
    """sha256 over the (relative path, size, mtime_ns) lines: the fingerprint of the folder's state."""
    h = hashlib.sha256()
    for _, rel, size, mtime in entries:
        h.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()


def code_identity(checker: str) -> str:
    """The check code's identity: its ``module:function`` target, the sha256 of its module's source and of the
    ``bench.data`` / ``bench.data.formats`` sources (the helpers checkers use), and bench3d's version."""
    from bench import __version__

    module = importlib.import_module(checker.partition(":")[0])
    data = Path(__file__).parent
    h = hashlib.sha256()
    for path in [Path(module.__file__ or ""), *sorted(data.glob("*.py")), *sorted(data.glob("formats/*.py"))]:
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(f"unreadable {path.name}".encode())
    return f"{checker} src:{h.hexdigest()[:16]} bench3d:{__version__}"


def _record_path(key: dict[str, Any]) -> Path:
    return cache_dir() / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]}.json"


def lookup(key: dict[str, Any], digest: str) -> str | None:
    """The cached checksum for ``key`` whose listing digest is ``digest``; None on a miss or a bad record."""
    try:
        record = json.loads(_record_path(key).read_text())
        if record.get("format") == FORMAT and record.get("key") == key and record.get("listing") == digest:
            checksum = record.get("checksum")
            return checksum if isinstance(checksum, str) else None
    except (OSError, ValueError, AttributeError):
        pass
    return None


def store(key: dict[str, Any], digest: str, checksum: str) -> None:
    """Write the record atomically; a cache folder that cannot be written is ignored."""
    path = _record_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": FORMAT, "key": key, "listing": digest, "checksum": checksum}, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


def checked_checksum(folder: Path, name: str, version: str, checker: str,
                     check: Callable[[Path], Any], checksum: Callable[[Path, list[Entry]], str]) -> str:
    """The folder's checksum, running ``check(folder)`` first unless a record for this state is cached.

    ``check`` returns a report with ``.ok`` (a failed one is returned through ``CheckFailed`` and not cached);
    ``checksum(folder, entries)`` computes the checksum from the walk's entries.
    """
    entries = walk(folder)
    digest = listing_digest(entries)
    key = {"folder": str(folder.resolve()), "dataset": name, "version": version, "code": code_identity(checker)}
    if not recheck_forced():
        hit = lookup(key, digest)
        if hit is not None:
            return hit
    report = check(folder)
    if not report.ok:
        raise CheckFailed(report)
    value = checksum(folder, entries)
    store(key, digest, value)
    return value


class CheckFailed(Exception):
    """``spec.check`` found problems; ``report`` is its CheckReport."""

    def __init__(self, report: Any) -> None:
        super().__init__(report.problems[0] if report.problems else "check failed")
        self.report = report
