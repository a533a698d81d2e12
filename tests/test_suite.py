"""The suite contract and registry: grids, profiles, names, entry points and errors."""

from __future__ import annotations

import pytest

from bench.errors import UsageError
from bench.suite import Case, MetricSpec, Registry, Suite, find_case


class Tiny(Suite):
    name = "tiny"
    grid = {"a": [1, 2], "b": ["x", "y", "z"]}
    profiles = {"smoke": {"iters": 2, "grid": {"b": ["x"]}}, "standard": {"iters": 10}}
    metrics = (MetricSpec("m", "s", False),)


def test_cases_are_the_grid_product_with_profile_settings():
    smoke = Tiny().cases("smoke")
    assert [c.name for c in smoke] == ["a=1,b=x", "a=2,b=x"]
    assert all(c.params["iters"] == 2 for c in smoke)
    standard = Tiny().cases("standard")
    assert len(standard) == 6 and {c.params["b"] for c in standard} == {"x", "y", "z"}
    assert standard[0] == Case("tiny", "a=1,b=x", {"iters": 10, "a": 1, "b": "x"})


def test_unknown_profile_and_case_have_close_matches():
    expected = r"unknown profile of suite 'tiny': 'smok'; expected one of: smoke, standard. Did you mean 'smoke'"
    with pytest.raises(UsageError, match=expected):
        Tiny().cases("smok")
    with pytest.raises(UsageError, match="Did you mean 'a=1,b=x'"):
        find_case(Tiny(), "smoke", "a=1,b=xx")


def test_registry_lookup_and_errors():
    reg = Registry({"tiny": "tests.test_suite:Tiny"}, entry_points_group=None)
    assert reg.get("tiny").name == "tiny"
    with pytest.raises(UsageError, match="unknown suite: 'tinny'.*Did you mean 'tiny'"):
        reg.get("tinny")
    with pytest.raises(UsageError, match="registered twice"):
        reg.add("tiny", "elsewhere:Tiny")


def test_registry_rejects_non_suites_and_bad_targets():
    reg = Registry({"x": "tests.test_suite:test_cases_are_the_grid_product_with_profile_settings",
                    "y": "no_such_module_xyz:Thing"}, entry_points_group=None)
    with pytest.raises(UsageError, match="not a bench.suite.Suite"):
        reg.get("x")
    with pytest.raises(UsageError, match="cannot load 'no_such_module_xyz:Thing'"):
        reg.get("y")


def test_extra_suites_from_environment(monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "tiny=tests.test_suite:Tiny")
    assert "tiny" in Registry().names()
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "garbage")
    with pytest.raises(UsageError, match="BENCH3D_EXTRA_SUITES"):
        Registry()


def test_builtin_suites_declare_a_complete_contract():
    reg = Registry()
    for name in reg.names():
        suite = reg.get(name)
        assert suite.description and suite.metrics, name
        assert "smoke" in suite.profiles, name
        assert suite.cases("smoke"), name
        assert len({m.name for m in suite.metrics}) == len(suite.metrics), name
