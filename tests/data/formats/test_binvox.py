"""binvox reader/writer against trimesh's independent binvox parser."""

import numpy as np
import pytest
from trimesh.exchange.binvox import parse_binvox, voxel_from_binvox

from bench.data.formats.binvox import Voxels, read_binvox, write_binvox
from bench.errors import DataError


@pytest.mark.parametrize("shape", [(4, 5, 6), (32, 32, 32)])
def test_round_trip_and_trimesh_agree(tmp_path, shape):
    rng = np.random.default_rng(0)
    occ = rng.random(shape) < 0.3
    occ[: shape[0] // 2] = True  # long runs (> 255) must be split
    path = tmp_path / "v.binvox"
    write_binvox(path, Voxels(occ, (0.5, -1.0, 2.0), 1.5))
    back = read_binvox(path)
    np.testing.assert_array_equal(back.data, occ)
    assert back.translate == (0.5, -1.0, 2.0) and back.scale == 1.5
    if len(set(shape)) > 1:
        return  # trimesh's reader supports cubic grids only (binvox's usual case)
    with open(path, "rb") as f:
        ref = parse_binvox(f)
    grid = voxel_from_binvox(ref.rle_data, ref.shape, axis_order="xzy")
    np.testing.assert_array_equal(grid.matrix, occ)


def test_truncated_and_bad_header(tmp_path):
    path = tmp_path / "v.binvox"
    write_binvox(path, np.ones((4, 4, 4), bool))
    raw = path.read_bytes()
    (tmp_path / "t.binvox").write_bytes(raw[:-2] + bytes((1, 10)))
    with pytest.raises(DataError, match=r"t.binvox: binvox data holds 10 voxels, expected 64"):
        read_binvox(tmp_path / "t.binvox")
    (tmp_path / "h.binvox").write_bytes(b"#binvox 1\ndim 4 4\ndata\n")
    with pytest.raises(DataError, match="h.binvox: binvox 'dim'"):
        read_binvox(tmp_path / "h.binvox")


@pytest.mark.parametrize("header, needle", [
    (b"#binvox 1\n\ndim 2 2 2\ndata\n", "line 2 is empty"),
    (b"#binvox 1\ntranslate 0 0 0\ndata\n", "no 'dim' line"),
    (b"#binvox 1\ndim 2 x 2\ndata\n", "'dim' must be three positive integers"),
    (b"#binvox 1\ndim 2 2 99999\ndata\n", "'dim' must be three integers in 1..4096"),
    (b"#binvox 1\ndim 2 2 2\ntranslate 0 0\ndata\n", "expects 'translate x y z'"),
    (b"#binvox 1\ndim 2 2 2\ntranslate nan 0 0\ndata\n", "must be finite"),
    (b"#binvox 1\ndim 2 2 2\nscale 0\ndata\n", "finite and positive"),
    (b"#binvox 1\ndim 2 2 2\nscale abc\ndata\n", "are not numbers"),
    (b"#binvox 1\n\xff\xfe 2 2 2\ndata\n", "line 2 is not ASCII"),
])
def test_malformed_headers_are_one_line_errors(tmp_path, header, needle):
    path = tmp_path / "m.binvox"
    path.write_bytes(header + bytes([1, 8]))
    with pytest.raises(DataError) as info:
        read_binvox(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and needle in msg and "\n" not in msg, msg
