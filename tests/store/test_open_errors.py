"""Bad databases and paths: a clear StoreError naming the file, and not one byte written."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from bench.errors import StoreError
from bench.store import SCHEMA_VERSION, Store
from bench.store.sample import sample_run


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _assert_refused(path: Path, match: str) -> None:
    before = _folder_state(path.parent)
    with pytest.raises(StoreError, match=match) as info:
        Store.open(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert _folder_state(path.parent) == before  # nothing overwritten, no -wal/-shm created


def test_random_bytes_file(tmp_path):
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(8192))
    _assert_refused(path, "not a SQLite database")


def test_text_file(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 50)
    _assert_refused(path, "not a SQLite database")


def test_truncated_sqlite_file(tmp_path):
    good = tmp_path / "good.db"
    with Store.open(good) as s:
        s.create_run(sample_run())
    con = sqlite3.connect(good)  # fold the WAL into the main file, then cut it short
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    data = good.read_bytes()
    assert len(data) > 4 * 4096
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = bad_dir / "truncated.db"
    bad.write_bytes(data[: len(data) // 2])
    _assert_refused(bad, "corrupt|damaged")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    with Store.open(path) as s:
        s.create_run(sample_run())
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=rf"schema version 9 is newer than this bench3d supports \({SCHEMA_VERSION}\); "
                                         "upgrade bench3d"):
        Store.open(path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta").fetchall() == [("9",)]
    con.close()


def test_foreign_sqlite_database(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, title TEXT)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a bench3d results store"):
        Store.open(path)
    con = sqlite3.connect(path)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["photos"]
    con.close()


def test_path_below_a_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    path = blocker / "sub" / "bench.db"
    with pytest.raises(StoreError, match="cannot create the folder") as info:
        Store.open(path)
    assert str(path) in str(info.value)
    assert blocker.read_text() == "x"


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Store.open(tmp_path)


def test_missing_file_without_create(tmp_path):
    path = tmp_path / "absent.db"
    with pytest.raises(StoreError, match="no results database at"):
        Store.open(path, create=False)
    assert not path.exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="not writable") as info:
            Store.open(ro / "bench.db")
        assert str(ro) in str(info.value)
    finally:
        ro.chmod(0o755)


def test_unreachable_server_url_hides_password():
    with pytest.raises(StoreError, match="cannot open results database|cannot use database") as info:
        Store.open("postgresql://bench:secret@127.0.0.1:9/bench")
    assert "127.0.0.1:9/bench" in str(info.value) and "secret" not in str(info.value)
