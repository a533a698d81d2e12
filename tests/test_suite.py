"""The suite contract (v2) and registry: typed configs, grids, profiles, overrides, names and errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from bench.config import config_hash, identity, param
from bench.errors import UsageError
from bench.suite import DatasetUse, MetricSpec, Profile, Registry, Suite, find_case


@dataclass(frozen=True)
class TinyConfig:
    a: int = param(1, "an int")
    b: Literal["x", "y", "z"] = param("x", "a choice")
    iters: int = param(5, "iterations")
    lr: float = param(0.1, "a float")
    chunk: int = param(64, "memory only", identity=False)
    note: str | None = param(None, "optional")


class Tiny(Suite):
    name = "tiny"
    Config = TinyConfig
    grid = {"a": [1, 2], "b": ["x", "y", "z"]}
    profiles = {"smoke": Profile({"iters": 2}, grid={"b": ["x"]}, per_case={"a": {2: {"lr": 0.5}}}),
                "standard": Profile({"iters": 10})}
    metrics = (MetricSpec("m", "s", False),)


def test_cases_are_the_grid_product_with_profile_settings():
    smoke = Tiny().cases("smoke")
    assert [c.name for c in smoke] == ["a=1,b=x", "a=2,b=x"]
    assert all(c.config.iters == 2 for c in smoke)
    assert [c.config.lr for c in smoke] == [0.1, 0.5]  # per_case: only the a=2 case
    standard = Tiny().cases("standard")
    assert len(standard) == 6 and {c.config.b for c in standard} == {"x", "y", "z"}
    assert standard[0].params == {"a": 1, "b": "x", "iters": 10, "lr": 0.1, "chunk": 64, "note": None}


def test_overrides_are_typed_and_checked():
    s = Tiny()
    (c, _) = s.cases("smoke", {"iters": 7, "lr": 1})  # an int where a float is expected becomes a float
    assert c.config.iters == 7 and c.config.lr == 1.0 and isinstance(c.config.lr, float)
    with pytest.raises(UsageError, match=r"unknown parameter .*'itres'.*Did you mean 'iters'"):
        s.cases("smoke", {"itres": 3})
    with pytest.raises(UsageError, match=r"iters=\"3\" is not a valid value; iters is int"):
        s.cases("smoke", {"iters": "3"})
    with pytest.raises(UsageError, match=r"iters=true is not a valid value"):
        s.cases("smoke", {"iters": True})
    with pytest.raises(UsageError, match=r"b=\"w\" is not a valid value; b is 'x' \| 'y' \| 'z'"):
        s.cases("smoke", {"b": "w"})
    assert s.cases("smoke", {"note": "hi"})[0].config.note == "hi"


def test_setting_a_grid_field_renames_the_cases():
    cases = Tiny().cases("standard", {"b": "z"})
    assert [c.name for c in cases] == ["a=1,b=z", "a=2,b=z"]
    assert all(c.config.b == "z" for c in cases)


def test_identity_leaves_out_fields_that_cannot_change_results():
    (c, _) = Tiny().cases("smoke")
    (d, _) = Tiny().cases("smoke", {"chunk": 4096})
    (e, _) = Tiny().cases("smoke", {"iters": 3})
    h = [config_hash(identity(TinyConfig, x.params)) for x in (c, d, e)]
    assert h[0] == h[1] != h[2]


def test_unknown_profile_and_case_have_close_matches():
    expected = r"unknown profile of suite 'tiny': 'smok'; expected one of: smoke, standard. Did you mean 'smoke'"
    with pytest.raises(UsageError, match=expected):
        Tiny().cases("smok")
    with pytest.raises(UsageError, match="Did you mean 'a=1,b=x'"):
        find_case(Tiny(), "smoke", "a=1,b=xx")


class BadProfile(Tiny):
    profiles = {"smoke": Profile({"itres": 2})}


class BadGrid(Tiny):
    grid = {"c": [1]}


class BadDataset(Tiny):
    datasets = (DatasetUse("multiview", when={"scene": "builtin"}),)


class NoSmoke(Tiny):
    profiles = {"standard": Profile()}


@pytest.mark.parametrize("cls, message", [
    (BadProfile, r"unknown parameter in suite 'tiny' profile 'smoke': 'itres'.*Did you mean 'iters'"),
    (BadGrid, r"unknown grid field of suite 'tiny': 'c'"),
    (BadDataset, r"unknown config field in suite 'tiny' dataset 'multiview': 'scene'"),
    (NoSmoke, r"declares no 'smoke' profile"),
])
def test_declarations_are_checked_against_the_config(cls, message):
    with pytest.raises(UsageError, match=message):
        cls().validate()


def test_registry_lookup_and_errors():
    reg = Registry({"tiny": "tests.test_suite:Tiny"}, entry_points_group=None)
    assert reg.get("tiny").name == "tiny"
    with pytest.raises(UsageError, match="unknown suite: 'tinny'.*Did you mean 'tiny'"):
        reg.get("tinny")
    with pytest.raises(UsageError, match="registered twice"):
        reg.add("tiny", "elsewhere:Tiny")


def test_registry_rejects_non_suites_bad_targets_and_bad_declarations():
    reg = Registry({"x": "tests.test_suite:test_cases_are_the_grid_product_with_profile_settings",
                    "y": "no_such_module_xyz:Thing", "tiny": "tests.test_suite:BadProfile"},
                   entry_points_group=None)
    with pytest.raises(UsageError, match="not a bench.suite.Suite"):
        reg.get("x")
    with pytest.raises(UsageError, match="cannot load 'no_such_module_xyz:Thing'"):
        reg.get("y")
    with pytest.raises(UsageError, match="itres"):
        reg.get("tiny")


def test_extra_suites_from_environment(monkeypatch):
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "tiny=tests.test_suite:Tiny")
    assert "tiny" in Registry().names()
    monkeypatch.setenv("BENCH3D_EXTRA_SUITES", "garbage")
    with pytest.raises(UsageError, match="BENCH3D_EXTRA_SUITES"):
        Registry()


def test_builtin_suites_are_entry_points_of_this_package():
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group="bench3d.suites")}
    assert {"mesh_fitting", "kernels", "volumes", "nerf", "pose"} <= set(eps)
    assert all(eps[n].dist.name == "bench3d" for n in ("mesh_fitting", "kernels", "volumes", "nerf", "pose"))


def test_builtin_suites_declare_a_complete_contract():
    reg = Registry()
    for name in reg.names():
        suite = reg.get(name)
        suite.validate()
        assert suite.description and suite.metrics, name
        assert suite.cases("smoke"), name
        described = suite.describe()
        assert {f["name"] for f in described["config"]} == set(suite.cases("smoke")[0].params), name
