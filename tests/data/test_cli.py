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


def test_check_meshes_fails_on_nan_and_zero_index_files(tmp_path, capsys):
    (tmp_path / "nan.obj").write_text("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "zero.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n")
    assert run_data_command(parse(["data", "check", "meshes", "--root", str(tmp_path), "--json"])) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]  # (also: no manifest, as for any hand-made folder)
    assert any(p.startswith("nan.obj:") and "non-finite" in p for p in report["problems"])
    assert any(p.startswith("zero.obj:") and "index 0" in p for p in report["problems"])


_PLY_NAN = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
            "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
            "nan 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 2 3\n")


@pytest.mark.parametrize("name, text, needle", [("bad.ply", _PLY_NAN, "non-finite"),
                                                ("empty.obj", "", "no vertices")])
def test_volumes_run_on_a_bad_mesh_ends_in_error_naming_the_file(bench_env, name, text, needle):
    """A PLY with a NaN vertex used to be benchmarked as ok (PSNR ~29, IoU 1); an empty OBJ failed with a
    cryptic reduction error. The mesh reaches the generated multiview dataset through --set mesh=..."""
    import os
    import subprocess

    from tests.conftest import bench3d_cmd

    mesh = bench_env / name
    mesh.write_text(text)
    tiny = ["iterations=2", "num_views=10", "image_size=16", "grid_size=8", "n_pts_per_ray=8", "batch_size=2",
            f"mesh={mesh}"]
    cmd = bench3d_cmd("run", "--suite", "volumes", "--json", "--threads", "1", "--no-report",
                      "--db", str(bench_env / "db.sqlite"), "--data-root", str(bench_env / "data"),
                      *[a for s in tiny for a in ("--set", s)])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    out = json.loads(proc.stdout)
    (case,) = out["cases"]
    assert case["status"] == "error", case
    assert str(mesh) in case["error"] and needle in case["error"] and "\n" not in case["error"], case["error"]
    assert "Traceback" not in case["error"] and not case["metrics"].get("psnr")
