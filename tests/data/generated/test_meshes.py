"""Procedural meshes against their analytic surfaces and volumes."""

import math

import numpy as np
import pytest

from bench.data.assets import COW_OBJ as COW  # the copy shipped as package data
from bench.data.generated.meshes import make_mesh
from bench.errors import DataError, UsageError


def signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    tri = v[f]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


@pytest.mark.parametrize("level", [0, 2, 3])
def test_ico_sphere_counts_and_radius(level):
    v, f = make_mesh("ico_sphere", level=level, radius=2.0)
    assert v.shape == (10 * 4**level + 2, 3) and f.shape == (20 * 4**level, 3)
    np.testing.assert_allclose(v.norm(dim=1).numpy(), 2.0, rtol=1e-6)


def test_volumes_are_positive_and_close_to_analytic():
    v, f = make_mesh("ico_sphere", level=4)
    assert signed_volume(v.double().numpy(), f.numpy()) == pytest.approx(4 / 3 * math.pi, rel=0.01)
    v, f = make_mesh("ellipsoid", radii=(1.0, 0.5, 0.25), level=4)
    assert signed_volume(v.double().numpy(), f.numpy()) == pytest.approx(4 / 3 * math.pi * 0.125, rel=0.01)
    v, f = make_mesh("box", extents=(1.0, 2.0, 3.0))
    assert signed_volume(v.double().numpy(), f.numpy()) == pytest.approx(6.0, rel=1e-6)
    v, f = make_mesh("torus", major=1.0, minor=0.25, sections=(96, 48))
    assert signed_volume(v.double().numpy(), f.numpy()) == pytest.approx(2 * math.pi**2 * 0.25**2, rel=0.01)


def test_surfaces_satisfy_implicit_equations():
    v, _ = make_mesh("ellipsoid", radii=(1.0, 0.7, 0.5), level=2)
    np.testing.assert_allclose(((v.double() / v.new_tensor([1.0, 0.7, 0.5]).double()) ** 2).sum(1), 1.0, atol=1e-5)
    v, _ = make_mesh("torus", major=1.0, minor=0.3)
    x, y, z = v.double().unbind(1)
    np.testing.assert_allclose(((x**2 + y**2).sqrt() - 1.0) ** 2 + z**2, 0.09, atol=1e-5)


def test_teapot_is_y_up_and_normalised():
    v, f = make_mesh("teapot", resolution=4)
    extent = v.max(0).values - v.min(0).values
    assert v.norm(dim=1).max() == pytest.approx(1.0, abs=1e-6)
    assert extent[1] < extent[0]  # height (y) is below the spout-to-handle length (x)
    assert int(f.max()) < len(v)


def test_cow_file_keeps_vertex_order():
    lines = COW.read_text().splitlines()
    want_v = np.array([[float(t) for t in ln.split()[1:4]] for ln in lines if ln.startswith("v ")])
    n_faces = sum(1 for ln in lines if ln.startswith("f "))
    v, f = make_mesh("file", path=COW)
    np.testing.assert_allclose(v.numpy(), want_v, atol=1e-6)
    assert f.shape == (n_faces, 3)


def test_bad_inputs(tmp_path):
    with pytest.raises(UsageError, match="(?i)did you mean 'torus'"):
        make_mesh("toruss")
    with pytest.raises(DataError, match="missing"):
        make_mesh("file", path=tmp_path / "nope.obj")
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99\n")
    with pytest.raises(DataError, match="bad.ply"):
        make_mesh("file", path=bad)
    with pytest.raises(ValueError, match="level"):
        make_mesh("ico_sphere", level=-1)


# ---- bad mesh files through the data layer: one-line DataError naming the file (issue 15) -----------------------

_PLY_HEAD = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n" \
            "element face 1\nproperty list uchar int vertex_indices\nend_header\n"


@pytest.mark.parametrize("name, text, needle", [
    ("nan.obj", "v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non-finite"),
    ("inf.obj", "v 0 0 0\nv 1 inf 0\nv 0 1 0\nf 1 2 3\n", "non-finite"),
    ("flat.obj", "v 0 0\nv 1 0\nv 0 1\nf 1 2 3\n", "expected 3 numbers"),
    ("zero.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "start at 1"),
    ("empty.obj", "", "no vertices"),
    ("points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
    ("nan.ply", _PLY_HEAD + "nan 0 0\n1 0 0\n0 1 0\n3 0 1 2\n", "non-finite"),
    ("inf.ply", _PLY_HEAD + "0 0 0\n1 -inf 0\n0 1 0\n3 0 1 2\n", "non-finite"),
    ("noface.ply", _PLY_HEAD.replace("element face 1", "element face 0") + "0 0 0\n1 0 0\n0 1 0\n", "no faces"),
])
def test_bad_mesh_files_are_one_line_data_errors(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError) as info:
        make_mesh("file", path=path)
    msg = str(info.value)
    assert name in msg and needle in msg and "\n" not in msg, msg


def test_data_check_meshes_rejects_nan_flat_and_zero_index_objs(tmp_path):
    from bench.data.generated.meshes import check_meshes

    (tmp_path / "good.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "nan.obj").write_text("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "flat.obj").write_text("v 0 0\nv 1 0\nv 0 1\nf 1 2 3\n")
    (tmp_path / "zero.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n")
    report = check_meshes(tmp_path)
    assert not report.ok
    bad = {p.split(":", 1)[0] for p in report.problems}
    assert bad == {"nan.obj", "flat.obj", "zero.obj"}, report.problems
    assert all("\n" not in p for p in report.problems)
