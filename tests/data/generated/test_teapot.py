"""The teapot tessellation against brute-force de Casteljau evaluation and topological counts."""

from collections import Counter

import numpy as np
import pytest

from bench.data.generated.teapot import patches, teapot


def de_casteljau(ctrl: np.ndarray, t: float) -> np.ndarray:
    pts = [np.asarray(p, dtype=float) for p in ctrl]
    while len(pts) > 1:
        pts = [(1 - t) * a + t * b for a, b in zip(pts[:-1], pts[1:], strict=False)]
    return pts[0]


def surface_point(net: np.ndarray, u: float, v: float) -> np.ndarray:
    return de_casteljau([de_casteljau(row, v) for row in net], u)


def test_patch_table_matches_newell_counts():
    nets, parts = patches()
    assert nets.shape == (32, 4, 4, 3)
    # the classic set has 306 listed control points, 269 distinct positions up to its 0.002 lid offsets
    distinct = np.unique(np.round(nets.reshape(-1, 3), 6), axis=0)
    assert 260 <= len(distinct) <= 306
    assert Counter(parts)["body_upper"] == 4 and Counter(parts)["spout_lower"] == 2


@pytest.mark.parametrize("n", [2, 5])
def test_vertices_lie_on_bezier_patches(n):
    verts, _ = teapot(n)
    nets, _ = patches()
    expected = np.array([surface_point(net, i / n, j / n) for net in nets for i in range(n + 1)
                         for j in range(n + 1)])
    uniq = np.unique(np.round(expected, 6) + 0.0, axis=0)
    assert len(uniq) == len(verts)
    np.testing.assert_allclose(np.sort(verts, axis=0), np.sort(uniq, axis=0), atol=1e-6)


@pytest.mark.parametrize("n", [3, 6])
def test_welded_and_consistently_oriented(n):
    verts, faces = teapot(n)
    directed = Counter(map(tuple, np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])))
    undirected = Counter(tuple(sorted(e)) for e in directed)
    # Open boundaries: rim inner circle and lid edge (4 patches each), two ends of handle and spout
    # (2 halves each): 16 n edges; every other edge is shared by exactly two faces.
    assert sum(1 for c in undirected.values() if c == 1) == 16 * n
    assert max(undirected.values()) == 2
    assert max(directed.values()) == 1  # shared edges run in opposite directions: consistent winding


def test_body_normals_point_outward():
    verts, faces = teapot(6)
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = tri.mean(1)
    body = (centre[:, 2] > 0.95) & (centre[:, 2] < 1.3) & (np.abs(centre[:, 1]) > 1.0)
    assert body.sum() > 20
    radial = centre[body] * np.array([1.0, 1.0, 0.0])
    assert (np.einsum("ij,ij->i", normal[body], radial) > 0).all()
    assert np.allclose([verts[:, 2].min(), verts[:, 2].max()], [0.0, 3.15])


def test_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        teapot(0)
