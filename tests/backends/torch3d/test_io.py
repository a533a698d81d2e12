"""OBJ/PLY input and output: the cow mesh, round trips, triangulation, atlases and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from bench.backends.torch3d.io import load_obj, load_objs_as_meshes, load_ply, save_obj, save_ply
from bench.backends.torch3d.renderer import TexturesUV
from bench.data.assets import COW_OBJ as COW  # the copy shipped as package data


def _count(path: Path, prefix: str) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.startswith(prefix + " "))


def test_cow_loads_with_its_texture():
    verts, faces, aux = load_obj(COW)
    assert verts.shape == (_count(COW, "v"), 3) == (2930, 3)
    assert faces.verts_idx.shape == faces.textures_idx.shape == (_count(COW, "f"), 3)
    assert aux.verts_uvs.shape == (_count(COW, "vt"), 2)
    assert aux.normals is None and (faces.normals_idx == -1).all()
    assert (faces.materials_idx == 0).all()
    image = np.asarray(Image.open(COW.parent / "cow_texture.png").convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_array_equal(aux.texture_images["material_1"].numpy(), image)
    # first face line in the file: f 739/1 735/2 736/3
    assert faces.verts_idx[0].tolist() == [738, 734, 735] and faces.textures_idx[0].tolist() == [0, 1, 2]
    ref = trimesh.load(COW, process=False, maintain_order=True)
    assert np.allclose(np.sort(ref.vertices, axis=0), np.sort(verts.numpy(), axis=0), atol=1e-6)


def test_round_trip_with_normals_and_uvs(tmp_path):
    g = torch.Generator().manual_seed(0)
    verts = torch.randn(6, 3, generator=g)
    faces = torch.tensor([[0, 1, 2], [2, 3, 4], [4, 5, 0]])
    normals = torch.randn(4, 3, generator=g)
    fn = torch.tensor([[0, 1, 2], [3, 2, 1], [0, 0, 3]])
    uvs = torch.rand(5, 2, generator=g)
    fuv = torch.tensor([[0, 1, 2], [2, 3, 4], [4, 0, 1]])
    tex = torch.rand(8, 6, 3, generator=g)
    path = tmp_path / "mesh.obj"
    save_obj(path, verts, faces, normals=normals, faces_normals_idx=fn, verts_uvs=uvs, faces_uvs=fuv, texture_map=tex)
    v2, f2, aux = load_obj(path)
    assert torch.allclose(v2, verts, atol=1e-6)
    assert torch.equal(f2.verts_idx, faces) and torch.equal(f2.normals_idx, fn) and torch.equal(f2.textures_idx, fuv)
    assert torch.allclose(aux.normals, normals, atol=1e-6) and torch.allclose(aux.verts_uvs, uvs, atol=1e-6)
    assert torch.allclose(aux.texture_images["mesh"], tex, atol=1 / 255)
    save_obj(tmp_path / "plain.obj", verts, faces, decimal_places=3)
    v3, f3, _ = load_obj(tmp_path / "plain.obj")
    assert torch.allclose(v3, verts, atol=1e-3) and torch.equal(f3.verts_idx, faces)


def test_polygons_negative_indices_and_missing_attributes(tmp_path):
    path = tmp_path / "poly.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 2 0\nvt 0 0\nvt 1 1\n"
                    "f 1 2 3 4 5\n# a comment\nf -1 -2 -3\nf 1/1 2/2 3/1\n")
    verts, faces, aux = load_obj(path)
    # pentagon -> fan (0,1,2), (0,2,3), (0,3,4); negative indices count back from the last vertex
    assert faces.verts_idx.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4], [4, 3, 2], [0, 1, 2]]
    assert faces.textures_idx.tolist() == [[-1] * 3] * 4 + [[0, 1, 0]]
    assert (faces.materials_idx == -1).all() and aux.material_colors == {} and aux.texture_images == {}


@pytest.mark.parametrize("text,match", [
    ("v 0 0 0\nv 1 0 0\nf 1 2 3\n", "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", "at least 3"),
    ("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", "non-finite"),
    ("v 0 zero 0\n", "expected 3 numbers"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 two 3\n", "bad face"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2 3\n", "only some corners"),
])
def test_bad_obj_files(tmp_path, text, match):
    path = tmp_path / "bad.obj"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_obj(path)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_obj(tmp_path / "absent.obj")
    path = tmp_path / "m.obj"
    path.write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nusemtl a\nf 1/1 2/1 3/1\n")
    (tmp_path / "m.mtl").write_text("newmtl a\nKd 0.5 0.25 1\nmap_Kd missing.png\n")
    with pytest.warns(UserWarning, match="texture file does not exist"):
        _, faces, aux = load_obj(path)
    assert aux.texture_images == {} and torch.allclose(aux.material_colors["a"]["diffuse_color"],
                                                       torch.tensor([0.5, 0.25, 1.0]))
    (tmp_path / "m.mtl").unlink()
    with pytest.warns(UserWarning, match="material file does not exist"):
        load_obj(path)


def test_texture_atlas_colours(tmp_path):
    # 8x8 texture, each 4x4 quadrant one colour. Face 0's UVs lie well inside the bottom-left quadrant
    # of UV space (image rows 4-7, cols 0-3); face 1's material has no texture: it gets its diffuse colour.
    quad = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 0]]], dtype=np.uint8)
    image = quad.repeat(4, axis=0).repeat(4, axis=1)
    Image.fromarray(image).save(tmp_path / "t.png")
    (tmp_path / "t.mtl").write_text("newmtl tex\nmap_Kd t.png\nnewmtl plain\nKd 0.2 0.4 0.6\n")
    (tmp_path / "t.obj").write_text("mtllib t.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\n"
                                    "vt 0.1 0.1\nvt 0.4 0.1\nvt 0.1 0.4\nusemtl tex\nf 1/1 2/2 3/3\n"
                                    "usemtl plain\nf 1 2 3\n")
    _, faces, aux = load_obj(tmp_path / "t.obj", create_texture_atlas=True, texture_atlas_size=3)
    assert aux.texture_atlas.shape == (2, 3, 3, 3)
    assert torch.allclose(aux.texture_atlas[0], torch.tensor([0.0, 0.0, 1.0]).expand(3, 3, 3), atol=1e-6)
    assert torch.allclose(aux.texture_atlas[1], torch.tensor([0.2, 0.4, 0.6]).expand(3, 3, 3))


@pytest.mark.parametrize("ascii", [True, False])
def test_ply_round_trip(tmp_path, ascii):
    g = torch.Generator().manual_seed(1)
    verts, faces = torch.randn(7, 3, generator=g), torch.tensor([[0, 1, 2], [3, 4, 5], [6, 0, 1]])
    path = tmp_path / "m.ply"
    save_ply(path, verts, faces, ascii=ascii)
    v2, f2 = load_ply(path)
    assert torch.allclose(v2, verts, atol=1e-6) and torch.equal(f2, faces)
    ref = trimesh.load(path, process=False)
    np.testing.assert_allclose(ref.vertices, verts.numpy(), atol=1e-6)
    save_ply(path, verts)
    v3, f3 = load_ply(path)
    assert torch.allclose(v3, verts) and f3.shape == (0, 3)


def test_ply_quads_are_triangulated_and_bad_indices_rejected(tmp_path):
    path = tmp_path / "q.ply"
    header = "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n" \
             "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    path.write_text(header + "0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n")
    _, faces = load_ply(path)
    assert faces.tolist() == [[0, 1, 2], [0, 2, 3]]
    path.write_text(header + "0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 9\n")
    with pytest.raises(ValueError, match="face indices"):
        load_ply(path)
    with pytest.raises(ValueError, match="faces index"):
        save_ply(path, torch.zeros(3, 3), torch.tensor([[0, 1, 3]]))


def test_load_objs_as_meshes():
    mesh = load_objs_as_meshes([COW, COW])
    assert isinstance(mesh.textures, TexturesUV)
    assert len(mesh) == 2 and mesh.num_verts_per_mesh().tolist() == [2930, 2930]
    plain = load_objs_as_meshes([COW], load_textures=False)
    assert plain.textures is None and plain.num_verts_per_mesh().tolist() == [2930]
    with pytest.raises(ValueError, match="list of paths"):
        load_objs_as_meshes(str(COW))


# ---- bad mesh and material files: one-line errors (issue 15) -----------------------------------------------------

TRI = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"


def _one_line_mesh_error(call, *needles):
    from bench.backends.torch3d.io.errors import MeshFileError
    from bench.errors import DataError

    with pytest.raises(MeshFileError) as info:
        call()
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)  # bench3d's and PyTorch3D's
    msg = str(info.value)
    assert "\n" not in msg and all(n in msg for n in needles), msg
    return msg


@pytest.mark.parametrize("text, needles", [
    (TRI + "f 0 1 2\n", ("t.obj:4", "index 0", "start at 1")),     # used to become face [0, 0, 1] elsewhere
    (TRI + "f 1/0 2/1 3/1\nvt 0 0\n", ("t.obj:4", "index 0")),
    ("v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", ("t.obj:1", "expected 3 numbers")),  # a 2-D vertex
    ("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", ("t.obj", "non-finite")),
    ("v inf 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", ("t.obj", "non-finite")),
])
def test_bad_obj_vertices_and_indices_are_one_line_errors(tmp_path, text, needles):
    path = tmp_path / "t.obj"
    path.write_text(text)
    _one_line_mesh_error(lambda: load_obj(path), *needles)


def test_binary_obj_is_one_line_error(tmp_path):
    path = tmp_path / "t.obj"
    path.write_bytes(TRI.encode() + b"\xff\xfe\x00garbage\n")
    _one_line_mesh_error(lambda: load_obj(path), "t.obj:4", "not UTF-8")


def test_ply_with_nan_vertex_is_one_line_error(tmp_path):
    path = tmp_path / "nan.ply"
    header = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n" \
             "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    path.write_text(header + "nan 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    _one_line_mesh_error(lambda: load_ply(path), "nan.ply", "non-finite")


def _textured(tmp_path, mtl: bytes | None, usemtl: str = "mat"):
    Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(tmp_path / "tex.png")
    if mtl is not None:
        (tmp_path / "m.mtl").write_bytes(mtl)
    obj = tmp_path / "m.obj"
    obj.write_text(f"mtllib m.mtl\n{TRI}vt 0 0\nvt 1 0\nvt 0 1\nusemtl {usemtl}\nf 1/1 2/2 3/3\n")
    return obj


def test_binary_mtl_is_an_error_as_in_pytorch3d(tmp_path):
    # PyTorch3D opens the MTL in text mode and fails with UnicodeDecodeError; here: one line naming it
    obj = _textured(tmp_path, b"newmtl mat\n\x89PNG\r\n\x1a\n\xff\xd8\xff binary")
    _one_line_mesh_error(lambda: load_obj(obj), "m.mtl:2", "not UTF-8")


def test_empty_mtl_warns_in_one_line(tmp_path):
    # PyTorch3D loads it silently without materials; same result here, plus a one-line warning
    obj = _textured(tmp_path, b"")
    with pytest.warns(UserWarning, match=r"m\.mtl defines no materials") as rec:
        _, _, aux = load_obj(obj)
    assert aux.texture_images == {} and "\n" not in str(rec[0].message)


def test_undefined_material_name_warns_in_one_line(tmp_path):
    # `usemtl other` with only `newmtl mat`: PyTorch3D drops the texture silently; here it warns
    obj = _textured(tmp_path, b"newmtl mat\nmap_Kd tex.png\n", usemtl="other")
    with pytest.warns(UserWarning, match=r"usemtl other: not defined") as rec:
        _, _, aux = load_obj(obj)
    assert aux.texture_images == {} and "\n" not in str(rec[0].message)
    good = _textured(tmp_path, b"newmtl mat\nmap_Kd tex.png\n", usemtl="mat")
    _, _, aux = load_obj(good)
    assert set(aux.texture_images) == {"mat"}


def test_truncated_texture_image_is_one_line_error(tmp_path):
    obj = _textured(tmp_path, b"newmtl mat\nmap_Kd big.png\n")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    raw = (tmp_path / "big.png").read_bytes()
    (tmp_path / "big.png").write_bytes(raw[: len(raw) // 2])
    _one_line_mesh_error(lambda: load_obj(obj), "big.png", "cannot be read")
