"""Backend selection: ``bench.backends.load``, suites using only its namespace, and ``run --backend a,b``."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import types
from pathlib import Path

import pytest

from bench import backends
from bench.api import expand_backends, parse_backends
from bench.errors import NotAvailable, UsageError
from bench.suite import Case, EmptyConfig
from tests.conftest import bench3d_cmd, require_pytorch3d

ROOT = Path(__file__).resolve().parents[2]


def test_auto_takes_the_builtin_backend_when_pytorch3d_is_missing(no_pytorch3d):
    backends = no_pytorch3d
    assert not backends.pytorch3d_available()
    ns = backends.load("auto")
    from bench.backends import torch3d

    assert ns is backends.load("torch")
    assert (ns.name, ns.package, ns.version) == ("torch", "bench.backends.torch3d", torch3d.__version__)
    assert backends.describe(ns) == f"torch {torch3d.__version__}"


def test_auto_prefers_the_real_pytorch3d_when_it_imports(monkeypatch):
    require_pytorch3d()
    monkeypatch.setattr(backends, "_cache", {})
    ns = backends.load("auto")
    import pytorch3d

    assert (ns.name, ns.package, ns.version) == ("pytorch3d", "pytorch3d", pytorch3d.__version__)
    assert ns is backends.load("pytorch3d") and ns.renderer.__name__ == "pytorch3d.renderer"


def test_pytorch3d_missing_is_not_available_with_the_way_out(no_pytorch3d):
    with pytest.raises(NotAvailable) as err:
        no_pytorch3d.load("pytorch3d")
    msg = str(err.value)
    assert "pytorch3d" in msg and "not on PyPI" in msg and "--backend torch" in msg and "\n" not in msg


def test_unknown_backend_is_a_usage_error_with_choices():
    with pytest.raises(UsageError, match=r"unknown backend: 'pytorch'.*auto, pytorch3d, torch.*'pytorch3d'"):
        backends.load("pytorch")


def test_namespace_has_the_seven_pytorch3d_submodules():
    ns = backends.load("torch")
    assert backends.SUBMODULES == ("structures", "ops", "loss", "renderer", "transforms", "io", "utils")
    for name in backends.SUBMODULES:
        mod = getattr(ns, name)
        assert isinstance(mod, types.ModuleType) and mod.__name__ == f"{ns.package}.{name}"
    # a few of the names every suite relies on, where PyTorch3D has them
    for sub, attr in (("structures", "Meshes"), ("structures", "Pointclouds"), ("ops", "knn_points"),
                      ("ops", "sample_points_from_meshes"), ("loss", "chamfer_distance"),
                      ("renderer", "MeshRasterizer"), ("renderer", "FoVPerspectiveCameras"),
                      ("transforms", "so3_exp_map"), ("io", "load_obj"), ("utils", "ico_sphere")):
        assert callable(getattr(getattr(ns, sub), attr)), f"{sub}.{attr}"


def _backend_imports(path: Path) -> list[str]:
    """Modules named by import statements, importlib.import_module / __import__ calls in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            found += [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append(node.args[0].value)
    return found


def _is_backend_import(module: str) -> bool:
    return module.split(".")[0] == "pytorch3d" or module.startswith("bench.backends.")


def test_suites_never_import_a_backend_directly():
    files = sorted((ROOT / "suites").rglob("*.py"))
    assert files, "no suite sources found"
    offenders = {}
    for f in files:
        bad = [m for m in _backend_imports(f) if _is_backend_import(m)]
        if bad:
            offenders[str(f.relative_to(ROOT))] = bad
    assert not offenders, f"suites must use ctx.backend, not import a backend: {offenders}"


def test_the_import_scan_sees_every_form(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import pytorch3d.ops\nfrom bench.backends.torch3d import ops\nfrom bench.backends import torch3d\n"
                 "import importlib\nm = importlib.import_module('pytorch3d.renderer')\n")
    assert [m for m in _backend_imports(f) if _is_backend_import(m)] == [
        "pytorch3d.ops", "bench.backends.torch3d", "bench.backends.torch3d.ops", "bench.backends.torch3d",
        "pytorch3d.renderer"]
    ok = tmp_path / "ok.py"
    ok.write_text("from bench.context import Context\nimport torch\n")
    assert not [m for m in _backend_imports(ok) if _is_backend_import(m)]


def test_parse_backends():
    assert parse_backends("torch") == ["torch"]
    assert parse_backends(" torch , pytorch3d ") == ["torch", "pytorch3d"]
    with pytest.raises(UsageError, match="unknown backend: 'jax'"):
        parse_backends("torch,jax")
    with pytest.raises(UsageError, match="named twice"):
        parse_backends("torch,torch")
    with pytest.raises(UsageError, match="comma list"):
        parse_backends("torch,,pytorch3d")


def test_expand_backends_names_and_params():
    cases = [Case("s", "a", EmptyConfig()), Case("s", "b", EmptyConfig())]
    assert expand_backends(cases, ["torch"]) == cases
    out = expand_backends(cases, ["torch", "pytorch3d"])
    assert [c.name for c in out] == ["a@torch", "a@pytorch3d", "b@torch", "b@pytorch3d"]
    assert out[1].backend == "pytorch3d" and out[1].config == cases[0].config and out[0].suite == "s"


def _hide_pytorch3d(folder: Path) -> str:
    """A ``pytorch3d`` package under ``folder`` whose import raises ImportError (prepend it to PYTHONPATH)."""
    pkg = folder / "hidden" / "pytorch3d"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('pytorch3d hidden by the test')\n")
    return str(pkg.parent)


@pytest.mark.slow
@pytest.mark.parametrize("pytorch3d", ["absent", "present"])
def test_run_on_two_backends_stores_one_case_per_backend(bench_env, pytorch3d):
    from bench.store import Store

    env = os.environ.copy()
    if pytorch3d == "absent":
        env["PYTHONPATH"] = os.pathsep.join([_hide_pytorch3d(bench_env), env["PYTHONPATH"]])
    else:
        require_pytorch3d()
    proc = subprocess.run(bench3d_cmd("run", "--suite", "kernels", "--case", "kernel=sample_points_10k",
                                      "--set", "points=500", "--backend", "torch,pytorch3d", "--json",
                                      "--no-report"), capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr  # a missing backend skips, it does not fail
    out = json.loads(proc.stdout)
    with Store.open(bench_env / "reports" / "bench3d.db", create=False) as store:
        assert store.get_run(out["run_id"]).backend == "torch,pytorch3d"
        cases = {c.case: c for c in store.cases(out["run_id"])}
    torch_case = cases["kernel=sample_points_10k@torch"]
    p3d = cases["kernel=sample_points_10k@pytorch3d"]
    assert torch_case.status == "ok" and torch_case.params == p3d.params  # one configuration, two backends
    assert torch_case.backend == backends.describe(backends.load("torch"))
    if pytorch3d == "present":
        assert p3d.status == "ok" and p3d.backend.startswith("pytorch3d ")
    else:
        assert p3d.status == "skipped" and "not on PyPI" in p3d.error
