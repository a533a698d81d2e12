"""Datasets: the registry, generated defaults and standard-format loaders (nothing is downloaded)."""

from bench.data.registry import DatasetSpec, data_root, generate, get, load, names, prepare, require
from bench.data.report import CheckReport

__all__ = ["CheckReport", "DatasetSpec", "data_root", "generate", "get", "load", "make_mesh", "names",
           "prepare", "require"]


def make_mesh(name: str, **params):  # noqa: ANN201 - thin lazy re-export (avoids importing trimesh eagerly)
    """See :func:`bench.data.generated.meshes.make_mesh`."""
    from bench.data.generated.meshes import make_mesh as _make

    return _make(name, **params)
