"""Numeric CLI options are finite and in range (issue 15, items 5 and 6): a huge seed, a NaN or infinite
timeout, factor, alpha or tolerance, a negative count, and a NaN or infinite ``--set`` float are one-line
errors naming the option (exit 2), checked before anything runs or is stored."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from pathlib import Path

import pytest

from bench import api, config
from bench.cli import main
from bench.compare import diff, history
from bench.errors import UsageError

HUGE = "1180591620717411303424"  # 2**70, the seed


def _runs(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


def _refused(capsys, argv: list[str], option: str) -> str:
    """``argv`` exits 2 with one line on stderr that names ``option``; returns that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"error: {option}" in err, err
    return err


@pytest.fixture
def where(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH3D_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


RUN_BAD = [
    (["--seed", HUGE], "--seed 1180591620717411303424: expected an integer from 0 to 4294967295"),
    (["--seed", str(2**32)], "--seed 4294967296"),
    (["--seed", "-1"], "--seed -1"),
    (["--timeout", "nan"], "--timeout nan: expected a positive, finite number of seconds"),
    (["--timeout", "inf"], "--timeout inf"),
    (["--timeout=-inf"], "--timeout -inf"),
    (["--timeout", "0"], "--timeout 0.0"),
    (["--timeout", "1e30"], "--timeout 1e+30"),
    (["--repeat", "0"], "--repeat 0: expected a number of processes per case >= 1"),
    (["--repeat", "1000000"], "--repeat 1000000"),
    (["--threads", "0"], "--threads 0"),
    (["--threads", "-2"], "--threads -2"),
    (["--threads", str(2**40)], f"--threads {2**40}"),
]


@pytest.mark.parametrize("extra, message", RUN_BAD, ids=[" ".join(e) for e, _ in RUN_BAD])
def test_run_refuses_out_of_range_numbers_and_stores_no_run(where, capsys, extra, message):
    db = where / "r.db"
    _refused(capsys, ["run", "--suite", "kernels", "--db", str(db), "--out", str(where / "out"), *extra], message)
    assert _runs(db) == 0


def test_the_largest_seed_numpy_takes_is_accepted():
    api._check_numbers(api.RunRequest(seed=2**32 - 1, timeout=api.MAX_TIMEOUT_S, threads=1, repeat=1))
    with pytest.raises(UsageError, match="--seed True"):
        api._check_numbers(api.RunRequest(seed=True))
    with pytest.raises(UsageError, match="--repeat 2.5"):
        api._check_numbers(api.RunRequest(repeat=2.5))


SET_BAD = ["min_run_time=NaN", "min_run_time=Infinity", "min_run_time=-Infinity", "min_run_time=1e999",
           "min_run_time=1" + "0" * 400, "min_run_time=1" + "0" * 5000]


@pytest.mark.parametrize("setting", SET_BAD, ids=lambda s: s[:30])
def test_set_refuses_non_finite_floats(where, capsys, setting):
    db = where / "r.db"
    err = _refused(capsys, ["run", "--suite", "kernels", "--set", setting, "--db", str(db), "--out", str(where / "o")],
                   "--set for suite 'kernels': min_run_time=")
    assert "min_run_time is float" in err
    assert _runs(db) == 0


def test_set_finite_reason_is_named():
    with pytest.raises(UsageError, match=r"lr=NaN is not a valid value; lr is float \(expected a finite number\)"):
        config.check_value(_Config, "lr", math.nan, "--set")


@dataclasses.dataclass(frozen=True)
class _Config:
    lr: float = config.param(0.1, "a learning rate")
    limit: config.AnyFloat = config.param(math.inf, "a bound that may be infinite")


def test_a_float_field_may_opt_in_to_non_finite_values():
    assert config.check_value(_Config, "limit", math.inf, "--set") == math.inf
    assert math.isnan(config.check_value(_Config, "limit", math.nan, "--set"))
    assert config.check_value(_Config, "limit", 3, "--set") == 3.0 and config.check_value(_Config, "lr", 3, "x") == 3.0
    with pytest.raises(UsageError, match="limit is AnyFloat"):
        config.check_value(_Config, "limit", "fast", "--set")
    assert config.build(_Config, {"limit": math.inf}, "test").limit == math.inf


COMPARE_BAD = [
    (["--factor", "inf"], "--factor inf: expected a finite ratio > 1"),
    (["--factor", "nan"], "--factor nan"),
    (["--factor", "1"], "--factor 1.0"),
    (["--factor", "-3"], "--factor -3.0"),
    (["--alpha", "nan"], "--alpha nan: expected a probability between 0 and 1"),
    (["--alpha", "inf"], "--alpha inf"),
    (["--alpha", "1"], "--alpha 1.0"),
    (["--tolerance", "nan"], "--tolerance nan: expected a finite relative tolerance >= 0"),
    (["--tolerance", "inf"], "--tolerance inf"),
    (["--tolerance", "-0.1"], "--tolerance -0.1"),
]


@pytest.mark.parametrize("extra, message", COMPARE_BAD, ids=[" ".join(e) for e, _ in COMPARE_BAD])
def test_compare_settings_are_finite_and_checked_first(where, capsys, extra, message):
    # The database does not exist: the option's error comes first, before any store is opened.
    _refused(capsys, ["compare", "a", "b", "--db", str(where / "none.db"), *extra], message)


@pytest.mark.parametrize("value", ["nan", "-3", "inf", "1", "0.5"])
def test_history_factor_is_checked_as_compare_checks_it(where, capsys, value):
    _refused(capsys, ["history", "--factor", value, "--db", str(where / "none.db")],
             f"--factor {float(value)}: expected a finite ratio > 1")


def test_history_api_refuses_a_nan_factor():
    with pytest.raises(UsageError, match="--factor nan"):
        history.collect(None, factor=math.nan)  # refused before the store is read
    with pytest.raises(UsageError, match="--factor inf"):
        diff.Settings(factor=math.inf)


@pytest.mark.parametrize("extra, message", [(["--factor", "nan"], "--factor nan"), (["--factor", "-3"], "--factor"),
                                            (["--reports", "-1"], "--reports -1: expected a count >= 0")])
def test_dashboard_options_are_checked_before_anything_is_written(where, capsys, extra, message):
    site = where / "site"
    _refused(capsys, ["dashboard", "--site", str(site), "--db", str(where / "none.db"), *extra], message)
    assert not site.exists()


def test_dashboard_api_checks_its_numbers_before_writing(tmp_path):
    from bench.compare.dashboard import write_dashboard

    with pytest.raises(UsageError, match="--factor nan"):
        write_dashboard(None, tmp_path / "s1", factor=math.nan)
    with pytest.raises(UsageError, match="--reports -2"):
        write_dashboard(None, tmp_path / "s2", reports=-2)
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()


@pytest.mark.parametrize("extra, message", [(["--factor", "inf"], "--factor inf"), (["--alpha", "nan"], "--alpha"),
                                            (["--reports", "-1"], "--reports -1"),
                                            (["--seed", HUGE], "--seed 1180591620717411303424")])
def test_nightly_checks_its_numbers_before_running(where, capsys, extra, message):
    db = where / "n.db"
    _refused(capsys, ["nightly", "--suite", "kernels", "--db", str(db), "--out", str(where / "out"), *extra], message)
    assert _runs(db) == 0
