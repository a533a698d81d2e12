"""``bench3d ingest`` validates a pytest-benchmark file completely before anything is stored (issue 15, items 2,
5 and 6): huge, non-finite, negative or out-of-order statistics, bad counts, non-UTF-8 text and deep nesting are
one-line errors naming the file and the field, exit 2, and the database is left exactly as it was."""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import DataError
from bench.ingest import load_benchmark_file, prepare
from tests.conftest import bench3d_cmd

GOOD = {
    "machine_info": {"node": "box", "machine": "x86_64", "python_version": "3.11.7", "system": "Linux",
                     "release": "6.1", "cpu": {"brand_raw": "Some CPU", "count": 2}},
    "commit_info": {"id": "unversioned", "dirty": False, "project": "p", "branch": "(unknown)"},
    "benchmarks": [{
        "group": None, "name": "test_sum", "fullname": "test_t.py::test_sum", "params": None,
        "extra_info": {"n": 3}, "options": {"timer": "perf_counter"},
        "stats": {"min": 2.0e-07, "max": 4.0e-07, "mean": 2.5e-07, "stddev": 1e-08, "rounds": 4,
                  "median": 2.2e-07, "iqr": 2e-09, "q1": 2.1e-07, "q3": 2.3e-07, "iterations": 20,
                  "data": [2.0e-07, 2.1e-07, 2.3e-07, 4.0e-07]},
    }],
    "datetime": "2026-01-02T03:04:05+00:00",
    "version": "5.2.3",
}


def _doc(**stats) -> dict:
    doc = copy.deepcopy(GOOD)
    for key, value in stats.items():
        if value is _DROP:
            doc["benchmarks"][0]["stats"].pop(key)
        else:
            doc["benchmarks"][0]["stats"][key] = value
    return doc


_DROP = object()


def _write(tmp_path: Path, name: str, doc_or_text) -> Path:
    path = tmp_path / name
    if isinstance(doc_or_text, bytes):
        path.write_bytes(doc_or_text)
    else:
        path.write_text(doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text))
    return path


def _dump(db: Path) -> list[str]:
    """Every row of every table, as SQL text (the whole database's content)."""
    with sqlite3.connect(db) as con:
        return list(con.iterdump())


def test_the_valid_file_is_accepted(tmp_path):
    run, cases = prepare(_write(tmp_path, "good.json", GOOD))
    assert [c.status for c in cases] == ["ok"] and cases[0].timings[0].n == 4
    assert cases[0].timings[0].inner_loops == 20


# Each reproducer: (stats changes, what the message must name). All were accepted (or crashed) before.
BAD_STATS = {
    "rounds_1e30": ({"rounds": 10**30}, r"field stats\.rounds: expected an integer from 1 to"),
    "rounds_float": ({"rounds": 4.5}, r"field stats\.rounds: expected an integer"),
    "rounds_bool": ({"rounds": True}, r"stats field\(s\) rounds missing or not numbers"),
    "median_nan": ({"median": float("nan")}, r"field stats\.median: expected a finite number of seconds >= 0, got nan"),
    "median_inf": ({"median": float("inf")}, r"field stats\.median: expected a finite number"),
    "median_negative": ({"median": -1.0}, r"field stats\.median: expected a finite number of seconds >= 0, got -1\.0"),
    "mean_too_big_for_float": ({"mean": 10**400}, r"field stats\.mean: expected a finite number"),
    "min_above_median": ({"min": 3e-07}, r"stats\.min 3e-07 > stats\.median 2\.2e-07; expected min <= median"),
    "median_above_max": ({"median": 5e-07, "q3": 6e-07}, r"stats\.median 5e-07 > stats\.max 4e-07"),
    "iterations_0": ({"iterations": 0}, r"field stats\.iterations: expected an integer from 1 to .*, got 0"),
    "iterations_-3": ({"iterations": -3}, r"field stats\.iterations: expected an integer from 1 to .*, got -3"),
    "iterations_huge": ({"iterations": 10**12}, r"field stats\.iterations"),
    "iqr_negative": ({"iqr": -1e-9}, r"field stats\.iqr"),
    "stddev_nan": ({"stddev": float("nan")}, r"field stats\.stddev"),
    "data_nan": ({"data": [2e-07, float("nan"), 2.3e-07, 4e-07]}, r"field stats\.data: expected finite numbers"),
    "data_short": ({"data": [2e-07, 4e-07]}, r"field stats\.data: 2 samples, stats\.rounds is 4"),
    "data_outside_min": ({"data": [1e-07, 2.1e-07, 2.3e-07, 4e-07]}, r"stats\.data: samples from 1e-07"),
}


@pytest.mark.parametrize("name", sorted(BAD_STATS))
def test_bad_statistics_are_one_line_errors_naming_file_and_field(name, tmp_path):
    changes, message = BAD_STATS[name]
    path = _write(tmp_path, f"{name}.json", _doc(**changes))
    with pytest.raises(DataError, match=message) as err:
        load_benchmark_file(path)
    text = str(err.value)
    assert text.startswith(f"{path}: benchmark 'test_t.py::test_sum'") and "\n" not in text


def test_optional_stats_may_be_absent(tmp_path):
    doc = _doc(max=_DROP, q1=_DROP, q3=_DROP, stddev=_DROP, iterations=_DROP, data=_DROP)
    _run, cases = prepare(_write(tmp_path, "lean.json", doc))
    assert cases[0].timings[0].inner_loops == 1 and cases[0].timings[0].samples == []


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_FILES = {
    "latin1.json": (json.dumps(GOOD).replace("box", "b\u00f6x").encode("latin-1"),
                    r"not UTF-8 text \(byte 0xf6 at offset \d+\)"),
    "deep_100k.json": ('{"benchmarks": ' + _nested(100_000) + "}", r"JSON nested too deeply"),
    "deep_500.json": (json.dumps(GOOD)[:-1] + ', "x": ' + _nested(500) + "}", r"nested more than 32 levels deep"),
    "digits.json": (json.dumps(_doc()).replace('"rounds": 4', '"rounds": ' + "9" * 5000), r"not JSON \("),
    "cpu_string.json": (json.dumps({**GOOD, "machine_info": {**GOOD["machine_info"], "cpu": "fast"}}),
                        r"field machine_info\.cpu: expected an object, got str"),
    "name_number.json": (json.dumps({**GOOD, "benchmarks": [{**GOOD["benchmarks"][0], "name": 7}]}),
                         r"field name: expected a string or null, got 7"),
    "extra_huge_int.json": (json.dumps({**GOOD, "benchmarks": [{**GOOD["benchmarks"][0],
                                                                "extra_info": {"n": 10**400}}]}),
                            r"field extra_info\.n: 1000.* does not fit a float"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_are_one_line_errors(name, tmp_path):
    content, message = BAD_FILES[name]
    path = _write(tmp_path, name, content)
    with pytest.raises(DataError, match=message) as err:
        load_benchmark_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_infinite_extra_info_marks_the_case_like_nan(tmp_path):
    doc = copy.deepcopy(GOOD)
    doc["benchmarks"][0]["extra_info"] = {"n": float("inf")}
    run, cases = prepare(_write(tmp_path, "inf.json", doc))
    assert cases[0].status == "nan" and "extra_info: n" in cases[0].error and run.status == "failed"


@pytest.mark.parametrize("name", ["rounds_1e30", "median_nan", "iterations_0"])
def test_a_refused_file_changes_no_row_of_the_database(name, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BENCH3D_DB", raising=False)
    db = tmp_path / "r.db"
    assert main(["ingest", str(_write(tmp_path, "good.json", GOOD)), "--db", str(db)]) == 0
    before = _dump(db)
    capsys.readouterr()
    bad = _write(tmp_path, "bad.json", _doc(**BAD_STATS[name][0]))
    assert main(["ingest", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("bench3d ingest: error: ") and "bad.json" in err
    assert _dump(db) == before  # no run added, no existing row changed


def test_pooling_refuses_a_bad_second_file_before_storing(tmp_path, capsys):
    db = tmp_path / "r.db"
    good = _write(tmp_path, "good.json", GOOD)
    assert main(["ingest", str(good), "--db", str(db)]) == 0
    before = _dump(db)
    bad = _write(tmp_path, "bad.json", _doc(iterations=-3))
    assert main(["ingest", str(good), str(bad), "--db", str(db)]) == 2
    assert "bad.json" in capsys.readouterr().err and _dump(db) == before


def test_cli_rounds_1e30_is_exit_2_without_traceback(bench_env):
    """The issue's reproducer end to end: before, an OverflowError traceback and a run of 0 cases left stored."""
    db = bench_env / "r.db"
    assert subprocess.run(bench3d_cmd("ingest", str(_write(bench_env, "good.json", GOOD)), "--db", str(db)),
                          capture_output=True).returncode == 0
    before = _dump(db)
    bad = _write(bench_env, "huge.json", _doc(rounds=10**30))
    proc = subprocess.run(bench3d_cmd("ingest", str(bad), "--db", str(db)), capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "stats.rounds" in proc.stderr
    assert _dump(db) == before
