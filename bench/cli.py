"""The ``bench3d`` command: list, run, report, data (and the comparison commands).

Every user error (bad names, paths, databases) is printed as one line and exits 2;
a run whose cases did not all succeed exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import __version__
from bench.api import DEFAULT_OUT, default_db  # noqa: F401  (the one default database, re-used by sub-commands)
from bench.cli_run import add_case_options
from bench.errors import BenchError, Interrupted, UsageError
from bench.paths import add_location_options, check_out_is_folder, resolve_db
from bench.suite import PROFILES


def _add_db(p: argparse.ArgumentParser) -> None:
    from bench.paths import OUT_ENV

    p.add_argument("--db", help="results database: a file path (SQLite) or an SQLAlchemy URL "
                                "(default: $BENCH3D_DB or OUT/bench3d.db)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"output folder for runs and reports (default: ${OUT_ENV} or reports)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench3d",
        description="Benchmark and evaluation harness for 3D deep learning: runs suites, stores results, "
                    "writes reports.")
    parser.add_argument("--version", action="version", version=f"bench3d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list suites with their cases, profiles and metrics",
                       description="List the registered suites (built in and from the bench3d.suites entry points). "
                                   "With --suite: every configuration field with its type, default and value per "
                                   "profile (what --set may change).")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--profile", choices=PROFILES, help="only show cases of this profile")
    p.add_argument("--suite", action="append", metavar="NAME", help="only this suite, with its fields (repeatable)")

    p = sub.add_parser("run", help="run suites and store the results",
                       description="Run every case of the chosen suites (all by default), one subprocess per case; "
                                   "store results and write the run's reports (md, html, json).")
    add_case_options(p)
    p.add_argument("--repeat", type=int, metavar="N",
                   help="run each case in N fresh processes and pool their timing samples, so process-to-process "
                        "variation is measured too (metrics and files come from the first; default 1, or the "
                        "resumed run's); the processes go in rounds over the cases. compare judges a timing "
                        "worse or better only between runs of 2+ processes each")
    p.add_argument("--resume", metavar="RUN_ID",
                   help="continue a run: only its cases not yet stored as ok/skipped, with the run's --repeat, "
                        "--threads and --set")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--no-report", action="store_true", help="do not write the reports")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: one case process at a time here (default); ray: every case process a Ray task on a "
                        "cluster, stored as it finishes (needs bench3d[ray]; docs/ray.md)")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="--executor ray: the cluster's HOST:PORT (or auto); default: a local Ray instance")
    p.add_argument("--memory", metavar="SIZE",
                   help="--executor ray: memory reserved for each case whose suite declares none (e.g. 4G, 512M; "
                        "Ray packs cases onto nodes that have it); default: none reserved")
    p.add_argument("--queue-timeout", type=float, metavar="S",
                   help="--executor ray: a case whose task no node starts within S seconds, while none of the run's "
                        "tasks runs, is recorded as timeout with what it asked for, and the run goes on")
    p.add_argument("--shared-dir", type=Path, metavar="DIR",
                   help="a folder every node sees at the same path: cases write their logs and artifacts into "
                        "DIR/RUN_ID (no files shipped back by --executor ray); reports read them there")
    _add_db(p)

    p = sub.add_parser("report", help="write a report of a stored run",
                       description="Render a stored run as markdown, self-contained HTML or JSON.")
    p.add_argument("run_id", metavar="RUN_ID", help="run id, unique prefix, 'latest' or a git commit")
    p.add_argument("--format", choices=("md", "html", "json"), default="md")
    add_location_options(p, output_file=True)

    for _name, module, add, _run in _EXTENSIONS:
        getattr(importlib.import_module(module), add)(sub)
    return parser


# Sub-commands that live with their own package: (name, module, parser adder, handler). An adder may
# add several sub-commands and route each with ``set_defaults(handler=fn)``; then the handler is "".
_EXTENSIONS: list[tuple[str, str, str, str]] = [
    ("data", "bench.data.cli", "add_data_parser", "run_data_command"),
    ("compare", "bench.compare.cli", "add_parser", ""),
    ("ingest", "bench.ingest", "add_ingest_parser", "run_ingest_command"),
]


def cmd_list(args: argparse.Namespace) -> int:
    from bench.suite import Registry

    reg = Registry()
    suites = reg.select(args.suite)
    profiles = [args.profile] if args.profile else None
    if args.json:
        print(json.dumps({"suites": [s.describe(profiles) for s in suites]}, indent=2, default=str))
        return 0
    arrows = {True: "↑", False: "↓", None: ""}
    for s in suites:
        d = s.describe(profiles)
        print(f"{s.name}: {s.description}")
        for prof, cases in d["profiles"].items():
            print(f"  profile {prof}: {', '.join(cases)}")
        print("  metrics: " + ", ".join(f"{m.name}{arrows[m.higher_is_better]}" + (f" [{m.unit}]" if m.unit else "")
                                       for m in s.metrics))
        if args.suite:
            print("  fields (type; default; per profile):")
            for f in d["config"]:
                per = "; ".join(f"{p} {json.dumps(v, default=str)}" for p, v in f["profiles"].items())
                tags = (" [grid]" if f["grid"] else "") + ("" if f["identity"] else " [not identity]")
                print(f"    {f['name']}: {f['type']}; default {json.dumps(f['default'], default=str)}; {per}{tags}")
                if f["doc"]:
                    print(f"        {f['doc']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import render_report, write_report
    from bench.store import Store

    check_out_is_folder(args)
    store = Store.open(resolve_db(args), create=False)
    try:
        run_id = store.resolve(args.run_id)
        run_dir = _run_dir_for(store, run_id)
        if args.output:
            path = write_report(store, run_id, args.format, args.output, artifact_root=run_dir)
            print(f"wrote {path}")
        else:
            print(render_report(store, run_id, args.format, artifact_root=run_dir))
    finally:
        store.close()
    return 0


def _run_dir_for(store, run_id: str) -> Path | None:
    out = store.get_run(run_id).artifact_dir
    return Path(out) if out else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    handlers = {"list": cmd_list, "report": cmd_report, "run": _cmd_run}
    handlers.update({name: getattr(importlib.import_module(mod), fn) for name, mod, _add, fn in _EXTENSIONS if fn})
    handler = getattr(args, "handler", None) or handlers[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # inside the try: a reader gone before the last block is a broken pipe too
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except BenchError as exc:
        print(f"bench3d {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C; bench.errors.Interrupted: a run stopped by a signal, with its message
        detail = f": {exc}" if str(exc) else ""
        print(f"bench3d {args.command}: interrupted{detail}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, Interrupted) else 130


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (``bench3d report latest | head``): end quietly, as ``cat`` does.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again (the Python
    documentation's recipe for SIGPIPE); the exit status is 128 + SIGPIPE like a process killed by it.
    """
    import os
    import signal

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured): nothing left to flush
        pass
    return 128 + signal.SIGPIPE


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.cli_run import cmd_run

    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "UsageError"]
