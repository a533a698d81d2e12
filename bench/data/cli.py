"""``bench3d data``: list, check and prepare datasets (the lead's CLI mounts these)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.data import registry


def add_data_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data {list,check,prepare}`` to an argparse sub-parsers object; returns the ``data`` parser."""
    p = subparsers.add_parser("data", help="list, check and prepare datasets")
    sub = p.add_subparsers(dest="data_command", required=True, metavar="{list,check,prepare}")
    ls = sub.add_parser("list", help="the registered datasets")
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ck = sub.add_parser("check", help="validate a dataset folder and print what it holds")
    ck.add_argument("name")
    ck.add_argument("--root", required=True, help="the dataset's folder")
    ck.add_argument("--json", action="store_true", help="print a JSON object")
    pr = sub.add_parser("prepare", help="build a generated dataset into the data cache")
    pr.add_argument("name")
    pr.add_argument("--root", default=None, help="data root (default: --data-root, $BENCH3D_DATA, "
                    "~/.cache/bench3d/data)")
    pr.add_argument("--seed", type=int, default=0)
    return p


def run_data_command(args: argparse.Namespace) -> int:
    """Run the parsed ``data`` command; returns the exit code (1 when a check fails)."""
    cmd = args.data_command
    if cmd == "list":
        specs = [registry.get(n) for n in registry.names()]
        if getattr(args, "json", False):
            print(json.dumps([s.to_dict() for s in specs], indent=1))
        else:
            width = max(len(s.name) for s in specs)
            for s in specs:
                kind = "generated" if s.generated else "standard "
                print(f"{s.name:<{width}}  {kind}  {s.description}")
        return 0
    if cmd == "check":
        report = registry.get(args.name).check(args.root)
        print(json.dumps(report.to_dict(), indent=1) if args.json else report.format())
        return 0 if report.ok else 1
    if cmd == "prepare":
        root = args.root or getattr(args, "data_root", None)
        folder = registry.prepare(args.name, root, seed=args.seed)
        print(folder)
        return 0
    raise AssertionError(f"unhandled data command {cmd!r}")
