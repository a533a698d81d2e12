"""A standard dataset is checked once per state of its folder (bench.data.check_cache), on real files.

The dataset is a tiny ShapeNetCore v1 copy (``<synset>/<model>/model.obj`` plus a metadata file) checked by its
real checker; ``DatasetSpec.check`` is wrapped to count calls. The checksum of a cache hit is compared with a
fresh ``standard_checksum`` of the folder (the definition ``compare`` relies on).
"""

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from bench.data import check_cache, registry
from bench.data.resolve import resolve, standard_checksum
from bench.errors import DataError
from bench.suite import DatasetUse

USE = DatasetUse("shapenetcore-v1")
TRI = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """(data root, shapenet folder, call counter): an isolated cache and a counting ``DatasetSpec.check``."""
    monkeypatch.setenv(check_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(check_cache.RECHECK_ENV, raising=False)
    calls = []
    real = registry.DatasetSpec.check

    def counting(self, root):
        calls.append(self.name)
        return real(self, root)

    monkeypatch.setattr(registry.DatasetSpec, "check", counting)
    folder = tmp_path / "data" / "shapenetcore-v1"
    for synset, model in [("02691156", "a1"), ("02691156", "a2"), ("03001627", "c1")]:
        (folder / synset / model).mkdir(parents=True)
        (folder / synset / model / "model.obj").write_text(TRI)
    (folder / "taxonomy.json").write_text('[{"synsetId": "02691156", "name": "airplane", "children": []}]')
    return tmp_path / "data", folder, calls


def run(data: Path) -> str:
    return resolve(USE, None, data, 0).checksum


def test_second_resolve_skips_the_check_and_keeps_the_checksum(env):
    data, folder, calls = env
    fresh = standard_checksum(folder)
    files = sorted(folder.rglob("*"))
    assert run(data) == fresh and calls == ["shapenetcore-v1"]
    assert run(data) == fresh and len(calls) == 1  # cache hit: no check
    records = list((data.parent / "cache" / "checks").glob("*.json"))
    assert len(records) == 1 and sorted(folder.rglob("*")) == files  # nothing written into the dataset


def _grow(folder: Path) -> None:
    with open(folder / "02691156/a1/model.obj", "a") as f:
        f.write("# more\n")


def _touch(folder: Path) -> None:
    p = folder / "taxonomy.json"
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # content and size unchanged


def _add(folder: Path) -> None:
    (folder / "03001627/c2").mkdir()
    (folder / "03001627/c2/model.obj").write_text(TRI)


def _remove(folder: Path) -> None:
    (folder / "02691156/a2/model.obj").unlink()
    (folder / "02691156/a2").rmdir()


@pytest.mark.parametrize("change", [_grow, _touch, _add, _remove], ids=["size", "mtime", "added", "removed"])
def test_any_change_of_the_listing_checks_again(env, change):
    data, folder, calls = env
    run(data)
    change(folder)
    assert run(data) == standard_checksum(folder) and len(calls) == 2
    assert run(data) == standard_checksum(folder) and len(calls) == 2  # the new state is cached in turn


def test_metadata_rewrite_with_same_size_and_mtime_is_invisible(env):
    """The documented limit: same size and mtime_ns -> a hit with the old checksum; the env var rechecks."""
    data, folder, calls = env
    before = run(data)
    p = folder / "taxonomy.json"
    st = p.stat()
    p.write_text(p.read_text().replace("airplane", "aeroplan"))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert standard_checksum(folder) != before
    assert run(data) == before and len(calls) == 1


def test_failed_check_is_not_cached(env):
    data, folder, calls = env
    obj = folder / "02691156/a1/model.obj"
    obj.write_bytes(b"\0\0binary")
    for n in (1, 2):
        with pytest.raises(DataError, match="a1/model.obj: is binary"):
            run(data)
        assert len(calls) == n
    assert not (data.parent / "cache" / "checks").exists() or not any((data.parent / "cache" / "checks").iterdir())
    obj.write_text(TRI)  # fixed: checked again, then cached
    assert run(data) == standard_checksum(folder) and len(calls) == 3
    assert run(data) == standard_checksum(folder) and len(calls) == 3


def test_garbage_cache_file_is_ignored(env):
    data, folder, calls = env
    run(data)
    (record,) = (data.parent / "cache" / "checks").glob("*.json")
    for garbage in (b"\xff{not json", b"[1, 2]", b'{"format": 1, "checksum": 5}'):
        record.write_bytes(garbage)
        assert run(data) == standard_checksum(folder)
    assert len(calls) == 4 and run(data) == standard_checksum(folder) and len(calls) == 4  # rewritten


def test_env_var_forces_the_check(env, monkeypatch):
    data, _, calls = env
    run(data)
    monkeypatch.setenv(check_cache.RECHECK_ENV, "1")
    run(data)
    run(data)
    assert len(calls) == 3
    monkeypatch.setenv(check_cache.RECHECK_ENV, "0")
    run(data)
    assert len(calls) == 3


def test_changed_check_code_or_version_checks_again(env, monkeypatch):
    data, folder, calls = env
    run(data)
    spec = registry.get("shapenetcore-v1")
    monkeypatch.setitem(registry._REGISTRY, spec.name, dataclasses.replace(spec, version="2"))
    run(data)
    assert len(calls) == 2
    monkeypatch.setattr(check_cache, "code_identity", lambda checker: f"{checker} src:edited")
    run(data)
    assert len(calls) == 3


def test_unwritable_cache_is_not_an_error(env, monkeypatch, tmp_path):
    data, folder, calls = env
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv(check_cache.CACHE_ENV, str(blocker))
    assert run(data) == standard_checksum(folder) and run(data) == standard_checksum(folder)
    assert len(calls) == 2


def test_walk_keeps_the_checksum_order_of_sorted_paths(tmp_path, monkeypatch):
    """Paths sort as Path objects ("a/b" before "a-c"), as the checksum always has; an independent re-hash."""
    for rel in ("a-c", "a/b", "a/b.json", "z.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    h = hashlib.sha256()
    for rel in ("a/b", "a/b.json", "a-c", "z.txt"):
        h.update(f"{rel}\0{len(rel)}\n".encode())
        if rel.endswith((".json", ".txt")):
            h.update(rel.encode())
    assert standard_checksum(tmp_path) == h.hexdigest()[:16]
    assert [e[1] for e in check_cache.walk(tmp_path)] == ["a/b", "a/b.json", "a-c", "z.txt"]
    monkeypatch.chdir(tmp_path / "a")
    assert [e[1] for e in check_cache.walk(Path("."))] == ["b", "b.json"]
    assert [e[1] for e in check_cache.walk(Path("../a/"))] == ["b", "b.json"]


def test_code_identity_follows_the_checker_source(tmp_path, monkeypatch):
    module = tmp_path / "my_checker_i18.py"
    module.write_text("def check(root):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = check_cache.code_identity("my_checker_i18:check")
    assert check_cache.code_identity("my_checker_i18:check") == before
    module.write_text("def check(root):\n    return 1\n")
    assert check_cache.code_identity("my_checker_i18:check") != before


def test_concurrent_writers_never_leave_a_partial_record(tmp_path, monkeypatch):
    """Readers racing writers (atomic replace) see the whole record every time; no temp file is left."""
    import threading

    monkeypatch.setenv(check_cache.CACHE_ENV, str(tmp_path / "cache"))
    key = {"folder": "/x", "dataset": "d", "version": "1", "code": "c"}
    check_cache.store(key, "digest", "0123456789abcdef")
    seen = []

    def write():
        for _ in range(100):
            check_cache.store(key, "digest", "0123456789abcdef")

    def read():
        for _ in range(300):
            seen.append(check_cache.lookup(key, "digest"))

    threads = [threading.Thread(target=f) for f in (write, write, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["0123456789abcdef"] * 300
    assert [p.name for p in (tmp_path / "cache" / "checks").iterdir() if p.suffix != ".json"] == []
