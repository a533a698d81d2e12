"""Where the CLI's commands find the output folder and the results database: one rule for all of them.

``--db`` beats ``$BENCH3D_DB``, which beats ``OUT/bench3d.db``; OUT is ``--out DIR``, else ``$BENCH3D_OUT``,
else ``reports``. ``bench3d run --out DIR`` stores into ``DIR/bench3d.db``, so ``report``, ``compare``,
``history``, ``dashboard`` and ``ingest`` given the same ``--out DIR`` (or ``BENCH3D_OUT=DIR``) read it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.api import DEFAULT_OUT, default_db
from bench.errors import UsageError

OUT_ENV = "BENCH3D_OUT"
FILE_SUFFIXES = (".md", ".html", ".htm", ".json", ".txt")


def default_out() -> Path:
    """The output folder when ``--out`` is not given: ``$BENCH3D_OUT``, else ``reports``."""
    return Path(os.environ.get(OUT_ENV) or DEFAULT_OUT)


def out_dir(args: argparse.Namespace) -> Path:
    """The command's output folder (``--out``, ``$BENCH3D_OUT`` or ``reports``)."""
    out = getattr(args, "out", None)
    return Path(out) if out is not None else default_out()


def resolve_db(args: argparse.Namespace) -> str:
    """The database a command reads or writes: ``--db``, ``$BENCH3D_DB`` or ``OUT/bench3d.db``."""
    return getattr(args, "db", None) or default_db(out_dir(args))


def add_location_options(p: argparse.ArgumentParser, *, output_file: bool = False) -> None:
    """``--out DIR`` and ``--db`` (and ``-o/--output FILE`` for commands that write one file)."""
    p.add_argument("--out", type=Path, metavar="DIR",
                   help=f"output folder of the runs, as given to `bench3d run --out` (default: ${OUT_ENV} or "
                        f"{DEFAULT_OUT}); the database is DIR/bench3d.db unless --db or $BENCH3D_DB says otherwise")
    p.add_argument("--db", help="results database: a file path (SQLite) or an SQLAlchemy URL "
                                "(default: $BENCH3D_DB or OUT/bench3d.db)")
    if output_file:
        p.add_argument("-o", "--output", type=Path, metavar="FILE", help="file to write (default: print to stdout)")


def check_out_is_folder(args: argparse.Namespace) -> None:
    """A ``--out`` that names a report file (the old meaning) is refused with the option to use instead."""
    out = getattr(args, "out", None)
    if out is not None and Path(out).suffix.lower() in FILE_SUFFIXES and not Path(out).is_dir():
        raise UsageError(f"--out {out}: --out is the output folder of the runs (as for `bench3d run`); "
                         f"write the file with --output {out}")
