"""Registry, cache and manifest behaviour on the renderer-free ``meshes`` dataset."""

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from bench.data import manifest, registry
from bench.errors import DataError, UsageError


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_spec_is_complete_and_targets_resolve():
    for name in registry.names():
        spec = registry.get(name)
        assert spec.description and spec.licence and spec.source and spec.layout and spec.version
        for target in filter(None, (spec.checker, spec.loader, spec.generator)):
            assert callable(registry._resolve(target)), target


def test_unknown_name_suggests():
    with pytest.raises(UsageError, match="(?i)did you mean 'pix3d'"):
        registry.get("pix3dd")


def test_generation_is_byte_identical_and_seeded(tmp_path):
    a = registry.generate("meshes", tmp_path / "a", seed=3)
    b = registry.generate("meshes", tmp_path / "b", seed=3)
    c = registry.generate("meshes", tmp_path / "c", seed=4)
    assert tree_bytes(a) == tree_bytes(b)
    assert tree_bytes(a) != tree_bytes(c)
    m = json.loads((a / "manifest.json").read_text())
    assert m["name"] == "meshes" and m["seed"] == 3 and m["version"] == "1"
    for rel, digest in m["files"].items():  # independent re-hash of each listed file
        assert hashlib.sha256((a / rel).read_bytes()).hexdigest() == digest
    assert set(m["files"]) == {p for p in tree_bytes(a) if p != "manifest.json"}


def test_new_version_changes_manifest(tmp_path, monkeypatch):
    a = registry.generate("meshes", tmp_path / "a", seed=0)
    bumped = dataclasses.replace(registry.get("meshes"), version="2")
    monkeypatch.setitem(registry._REGISTRY, "meshes", bumped)
    b = registry.generate("meshes", tmp_path / "b", seed=0)
    assert (a / "manifest.json").read_bytes() != (b / "manifest.json").read_bytes()
    assert json.loads((b / "manifest.json").read_text())["version"] == "2"
    assert registry.generated_folder("meshes", tmp_path).name.startswith("v2-")


def test_prepare_caches_and_rebuilds_corrupt_copy(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path))
    folder = registry.prepare("meshes", seed=1)
    assert folder.parent == tmp_path / "meshes"
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert registry.prepare("meshes", seed=1) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    meshes = registry.load("meshes", seed=1)
    assert set(meshes) >= {"teapot", "torus", "ico_sphere", "ellipsoid", "box"}
    (folder / "box.obj").write_text("v 0 0 0\n")
    assert registry.prepare("meshes", seed=1) == folder  # corrupt copy rebuilt
    assert manifest.manifest_problems(folder) == []


def test_checksum_mismatch_is_named(tmp_path):
    folder = registry.generate("meshes", tmp_path / "m", seed=0)
    with open(folder / "torus.obj", "a") as f:
        f.write("# edited\n")
    spec = registry.get("meshes")
    with pytest.raises(DataError, match="torus.obj: checksum mismatch"):
        spec.load(folder)
    report = spec.check(folder)
    assert not report.ok and report.problems == ("torus.obj: checksum mismatch (sha256 differs from the manifest)",)
    (folder / "extra.txt").write_text("x")
    (folder / "box.obj").unlink()
    problems = spec.check(folder).problems
    assert "box.obj: listed in the manifest but missing" in problems
    assert "extra.txt: not listed in the manifest" in problems


def test_unknown_param_and_standard_cannot_generate(tmp_path):
    with pytest.raises(UsageError, match="no parameter 'nope'"):
        registry.generate("meshes", tmp_path / "x", nope=1)
    with pytest.raises(UsageError, match="cannot be generated"):
        registry.generate("llff", tmp_path / "y")


def test_missing_standard_dataset_is_one_message(tmp_path):
    report = registry.get("pix3d").check(tmp_path / "pix3d")
    assert report.missing and len(report.problems) == 1
    msg = report.problems[0]
    assert str(tmp_path / "pix3d") in msg and "pix3d.json" in msg and "pix3d.csail.mit.edu" in msg
    with pytest.raises(DataError) as err:
        registry.require("pix3d", data_root=tmp_path)
    assert "\n" not in str(err.value) and "pix3d.csail.mit.edu" in str(err.value)


def test_data_root_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    assert registry.data_root() == Path("~/.cache/bench3d/data").expanduser()
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path / "env"))
    assert registry.data_root() == tmp_path / "env"
    assert registry.data_root(tmp_path / "cli") == tmp_path / "cli"


def test_two_builders_of_one_dataset_at_once_both_succeed(tmp_path, monkeypatch):
    """A second process (another run, a Ray worker) builds the same dataset while this one does and renames its
    copy first: this one keeps theirs (it verifies), leaves no temp folder, and sees the same bytes."""
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path))
    real_generate = registry.generate
    other = {}

    def generate_while_another_finishes(name, out, seed=0, **params):
        real_generate(name, out, seed=seed, **params)
        if not other:  # the other builder, racing: it finishes first
            other["started"] = True
            other["folder"] = registry.prepare(name, seed=seed, **params)
        return out

    monkeypatch.setattr(registry, "generate", generate_while_another_finishes)
    folder = registry.prepare("meshes", seed=1)
    assert folder == other["folder"]
    assert manifest.manifest_problems(folder) == []
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temp folder left behind
    monkeypatch.setattr(registry, "generate", real_generate)
    fresh = real_generate("meshes", tmp_path / "fresh", seed=1)
    assert tree_bytes(folder) == tree_bytes(fresh)


def test_a_race_that_leaves_a_bad_copy_is_an_error(tmp_path, monkeypatch):
    """If the folder that won the race does not verify, the rename's error stands (never a silent bad copy)."""
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path))
    real_generate = registry.generate

    def generate_while_a_bad_copy_appears(name, out, seed=0, **params):
        real_generate(name, out, seed=seed, **params)
        bad = registry.generated_folder(name, seed=seed, **params)
        bad.mkdir(parents=True)
        (bad / "junk.txt").write_text("x")
        return out

    monkeypatch.setattr(registry, "generate", generate_while_a_bad_copy_appears)
    with pytest.raises((OSError, DataError)):
        registry.prepare("meshes", seed=1)
    assert [p.name for p in (tmp_path / "meshes").iterdir() if ".tmp-" in p.name] == []
