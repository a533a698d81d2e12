"""Backend selection: ``load("auto" | "torch" | "pytorch3d")`` returns a namespace.

The namespace has PyTorch3D's submodules (``structures``, ``ops``, ``loss``,
``renderer``, ``transforms``, ``io``, ``utils``) as attributes. Suites use only this
namespace and never import either implementation directly.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from bench.errors import NotAvailable, unknown_name

SUBMODULES = ("structures", "ops", "loss", "renderer", "transforms", "io", "utils")
CHOICES = ("auto", "torch", "pytorch3d")
_cache: dict[str, SimpleNamespace] = {}


def pytorch3d_available() -> bool:
    """True when the real ``pytorch3d`` imports (with its compiled extension)."""
    try:
        import pytorch3d  # noqa: F401
        import torch  # noqa: F401  (pytorch3d._C links against libtorch: torch must be loaded first)
        from pytorch3d import _C  # noqa: F401
    except Exception:
        return False
    return True


def _namespace(package: str, name: str, version: str) -> SimpleNamespace:
    mods = {m: importlib.import_module(f"{package}.{m}") for m in SUBMODULES}
    return SimpleNamespace(name=name, version=version, package=package, **mods)


def load(name: str = "auto") -> SimpleNamespace:
    """The backend namespace for ``name``; ``auto`` prefers the real PyTorch3D when importable."""
    if name not in CHOICES:
        raise unknown_name("backend", name, CHOICES)
    if name == "auto":
        name = "pytorch3d" if pytorch3d_available() else "torch"
    if name not in _cache:
        if name == "pytorch3d":
            if not pytorch3d_available():
                raise NotAvailable("backend 'pytorch3d' is not importable here; it is not on PyPI: build it from "
                                   "source (github.com/facebookresearch/pytorch3d) or use --backend torch")
            import pytorch3d

            _cache[name] = _namespace("pytorch3d", "pytorch3d", pytorch3d.__version__)
        else:
            from bench.backends import torch3d

            _cache[name] = _namespace("bench.backends.torch3d", "torch", torch3d.__version__)
    return _cache[name]


def describe(ns: SimpleNamespace) -> str:
    """``"name version"`` of a loaded backend, as stored with each case."""
    return f"{ns.name} {ns.version}"
