"""The ``data`` sub-commands through a bare argparse parser (as the lead's CLI mounts them)."""

import argparse
import json

import pytest

from bench.data import registry
from bench.data.cli import add_data_parser, run_data_command


def parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", default=None)
    add_data_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_list_json(capsys):
    assert run_data_command(parse(["data", "list", "--json"])) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == registry.names()
    assert {r["kind"] for r in rows} == {"generated", "standard"}


def test_list_text(capsys):
    assert run_data_command(parse(["data", "list"])) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(registry.names()) and out[0].split()[0] == registry.names()[0]


def test_prepare_then_check(tmp_path, capsys):
    assert run_data_command(parse(["--data-root", str(tmp_path), "data", "prepare", "meshes", "--seed", "2"])) == 0
    folder = capsys.readouterr().out.strip()
    assert folder.startswith(str(tmp_path / "meshes"))
    assert run_data_command(parse(["data", "check", "meshes", "--root", folder, "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["found"]["meshes"] == 9


def test_check_missing_exits_1(tmp_path, capsys):
    assert run_data_command(parse(["data", "check", "llff", "--root", str(tmp_path / "none")])) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "poses_bounds.npy" in out


def test_check_requires_root():
    with pytest.raises(SystemExit):
        parse(["data", "check", "llff"])
