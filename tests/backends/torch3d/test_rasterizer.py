"""Mesh rasterizer against a brute-force loop, analytic silhouettes/depths, and finite differences."""

import importlib
import math

import numpy as np
import pytest
import torch

from bench.backends.torch3d.renderer import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    MeshRasterizer,
    RasterizationSettings,
    interpolate_face_attributes,
    look_at_view_transform,
    rasterize_meshes,
)
from bench.backends.torch3d.structures import Meshes
from bench.backends.torch3d.utils import ico_sphere, torus

D = torch.float64


# ---- brute-force reference: one pixel, one face at a time (float64 numpy) -------------------
def _edge(p, a, b):
    return (p[0] - a[0]) * (b[1] - a[1]) - (p[1] - a[1]) * (b[0] - a[0])


def _seg_d2(p, a, b):
    d = b - a
    l2 = d @ d
    if l2 <= 1e-8:
        return float((p - b) @ (p - b))
    t = min(max(((p - a) @ d) / l2, 0.0), 1.0)
    q = a + t * d
    return float((p - q) @ (p - q))


def naive_rasterize(fv, face_mesh, n, h, w, blur, k, persp, clip, cull):
    s = min(h, w)
    out_f = -np.ones((n, h, w, k), np.int64)
    out_z, out_d = -np.ones((n, h, w, k)), -np.ones((n, h, w, k))
    out_b = -np.ones((n, h, w, k, 3))
    for m in range(n):
        for r in range(h):
            for c in range(w):
                p = np.array([w / s - (2 * c + 1) / s, h / s - (2 * r + 1) / s])
                cands = []
                for f in np.nonzero(face_mesh == m)[0]:
                    v = fv[f]
                    area = _edge(v[2, :2], v[0, :2], v[1, :2])
                    if (cull and area < 0) or abs(area) <= 1e-8 or v[:, 2].max() < 1e-8:
                        continue
                    b = np.array([_edge(p, v[1, :2], v[2, :2]), _edge(p, v[2, :2], v[0, :2]),
                                  _edge(p, v[0, :2], v[1, :2])]) / (area + 1e-8)
                    if persp:
                        top = b * np.array([v[1, 2] * v[2, 2], v[0, 2] * v[2, 2], v[0, 2] * v[1, 2]])
                        b = top / max(top.sum(), 1e-8)
                    inside = bool((b > 0).all())
                    if clip:
                        b = np.maximum(b, 0)
                        b = b / max(b.sum(), 1e-5)
                    pz = float(b @ v[:, 2])
                    if pz < 0:
                        continue
                    d = min(_seg_d2(p, v[i, :2], v[j, :2]) for i, j in ((0, 1), (0, 2), (1, 2)))
                    if not inside and d >= blur:
                        continue
                    cands.append((pz, f, -d if inside else d, b))
                for i, (pz, f, d, b) in enumerate(sorted(cands, key=lambda t: (t[0], t[1]))[:k]):
                    out_f[m, r, c, i], out_z[m, r, c, i], out_d[m, r, c, i], out_b[m, r, c, i] = f, pz, d, b
    return out_f, out_z, out_b, out_d


def _random_ndc_meshes(seed):
    g = np.random.default_rng(seed)
    verts, faces = [], []
    for nf in (7, 4):
        centre = g.uniform(-0.8, 0.8, size=(nf, 1, 2))
        xy = centre + g.uniform(-1.0, 1.0, size=(nf, 3, 2))
        z = g.uniform(0.5, 3.0, size=(nf, 3, 1))
        verts.append(torch.tensor(np.concatenate((xy, z), -1).reshape(-1, 3)))
        faces.append(torch.arange(3 * nf).view(nf, 3))
    return Meshes(verts, faces)


@pytest.mark.parametrize("persp,cull,blur", [(False, False, 0.0), (True, False, 0.02), (False, True, 0.05)])
def test_matches_brute_force_loop(persp, cull, blur):
    meshes = _random_ndc_meshes(int(persp) + 2 * int(cull))
    h, w, k = 11, 15, 3
    clip = blur > 0
    got = rasterize_meshes(meshes, image_size=(h, w), blur_radius=blur, faces_per_pixel=k,
                           perspective_correct=persp, clip_barycentric_coords=clip, cull_backfaces=cull)
    fv = meshes.verts_packed()[meshes.faces_packed()].numpy()
    ref = naive_rasterize(fv, meshes.faces_packed_to_mesh_idx().numpy(), 2, h, w, blur, k, persp, clip, cull)
    assert (got[0] >= 0).sum() > 20  # the scene covers a good part of the image
    np.testing.assert_array_equal(got[0].numpy(), ref[0])
    for g, r in zip(got[1:], ref[1:], strict=True):
        np.testing.assert_allclose(g.numpy(), r, atol=1e-9)


def _render(meshes, cameras, size=128, k=1, blur=0.0, **kw):
    settings = RasterizationSettings(image_size=size, blur_radius=blur, faces_per_pixel=k, **kw)
    return MeshRasterizer(cameras=cameras, raster_settings=settings)(meshes)


def test_orthographic_sphere_silhouette_is_the_disc():
    r, size = 0.6, 128
    sphere = ico_sphere(4).scale_verts(r)
    cam = FoVOrthographicCameras(R=torch.eye(3)[None], T=torch.tensor([[0.0, 0.0, 3.0]]))
    area = float((_render(sphere, cam, size).pix_to_face[..., 0] >= 0).sum())
    assert area == pytest.approx(math.pi * (r * size / 2) ** 2, rel=0.01)


def test_perspective_sphere_silhouette_matches_tangent_cone():
    dist, fov, size = 3.0, 60.0, 128
    R, T = look_at_view_transform(dist, 25.0, 40.0)
    cam = FoVPerspectiveCameras(R=R, T=T, fov=fov)
    mask = _render(ico_sphere(4), cam, size).pix_to_face[..., 0] >= 0
    # The silhouette of a unit sphere centred on the axis is a circle of NDC radius tan(asin(1/d)) / tan(fov/2).
    radius_px = math.tan(math.asin(1.0 / dist)) / math.tan(math.radians(fov) / 2) * size / 2
    assert float(mask.sum()) == pytest.approx(math.pi * radius_px ** 2, rel=0.01)


def test_non_square_image_keeps_square_pixels():
    cam = FoVOrthographicCameras(R=torch.eye(3)[None], T=torch.tensor([[0.0, 0.0, 3.0]]))
    sphere = ico_sphere(3).scale_verts(0.5)
    frag = _render(sphere, cam, (64, 96))
    mask = (frag.pix_to_face[0, ..., 0] >= 0).numpy()
    assert mask.shape == (64, 96)
    rows, cols = np.nonzero(mask)
    # Shorter side (64) spans [-1, 1]: the disc has radius 16 px and stays centred.
    assert rows.mean() == pytest.approx(31.5, abs=0.3) and cols.mean() == pytest.approx(47.5, abs=0.3)
    assert mask.sum() == pytest.approx(math.pi * 16 ** 2, rel=0.03)


def test_plus_x_and_plus_y_land_top_left():
    verts = torch.tensor([[0.3, 0.3, 0.0], [0.7, 0.3, 0.0], [0.5, 0.7, 0.0]])
    tri = Meshes([verts], [torch.tensor([[0, 1, 2]])])
    cam = FoVPerspectiveCameras(R=torch.eye(3)[None], T=torch.tensor([[0.0, 0.0, 3.0]]))
    rows, cols = np.nonzero((_render(tri, cam, 64).pix_to_face[0, ..., 0] >= 0).numpy())
    assert len(rows) > 10 and cols.max() < 32 and rows.max() < 32


def test_perspective_correct_barycentrics_reproduce_pixel_rays():
    R, T = look_at_view_transform(2.5, 15.0, 30.0)
    cam = FoVPerspectiveCameras(R=R.to(D), T=T.to(D))
    mesh = ico_sphere(3)
    mesh = Meshes([mesh.verts_packed().to(D)], [mesh.faces_packed()])
    size = 48
    frag = _render(mesh, cam, size, perspective_correct=True)
    pts = interpolate_face_attributes(frag.pix_to_face, frag.bary_coords, mesh.verts_packed()[mesh.faces_packed()])
    covered = frag.pix_to_face[0, ..., 0] >= 0
    ndc = cam.transform_points(pts[0, ..., 0, :].reshape(1, -1, 3)).reshape(size, size, 3)
    centres = (size - 1 - 2 * torch.arange(size, dtype=D)) / size  # NDC of pixel centres, row 0 / col 0 = +1 side
    np.testing.assert_allclose(ndc[..., 0][covered].numpy(), centres[None, :].expand(size, size)[covered].numpy(),
                               atol=1e-9)
    np.testing.assert_allclose(ndc[..., 1][covered].numpy(), centres[:, None].expand(size, size)[covered].numpy(),
                               atol=1e-9)
    # Depth buffer = view depth of the interpolated surface point.
    depth = cam.get_world_to_view_transform().transform_points(pts[0, ..., 0, :].reshape(1, -1, 3))[..., 2]
    np.testing.assert_allclose(frag.zbuf[0, ..., 0][covered].numpy(), depth.reshape(size, size)[covered].numpy(),
                               atol=1e-9)


def test_zbuf_of_tilted_plane_matches_ray_intersection():
    theta = math.radians(35.0)
    verts = torch.tensor([[-3, -3, 0], [3, -3, 0], [3, 3, 0], [-3, 3, 0]], dtype=D)
    rot = torch.tensor([[1, 0, 0], [0, math.cos(theta), -math.sin(theta)], [0, math.sin(theta), math.cos(theta)]],
                       dtype=D)
    plane = Meshes([verts @ rot.T], [torch.tensor([[0, 1, 2], [0, 2, 3]])])
    cam = FoVPerspectiveCameras(R=torch.eye(3, dtype=D)[None], T=torch.tensor([[0.0, 0.0, 2.0]], dtype=D), fov=60.0)
    size = 32
    zbuf = _render(plane, cam, size).zbuf[0, ..., 0]
    assert (zbuf > 0).all()
    t = math.tan(math.radians(30.0))
    c = (size - 1 - 2 * np.arange(size)) / size
    x, y = np.meshgrid(c, c)  # x varies along columns, y along rows
    normal = rot.numpy() @ np.array([0.0, 0.0, 1.0])
    depth = (normal @ np.array([0.0, 0.0, 2.0])) / (normal[0] * x * t + normal[1] * y * t + normal[2])
    np.testing.assert_allclose(zbuf.numpy(), depth, rtol=1e-9)


def test_batched_meshes_and_cameras_match_single_renders():
    meshes = Meshes([ico_sphere(2).verts_packed(), torus(0.3, 0.8, 12, 16).verts_packed()],
                    [ico_sphere(2).faces_packed(), torus(0.3, 0.8, 12, 16).faces_packed()])
    R, T = look_at_view_transform(torch.tensor([3.0, 2.5]), torch.tensor([10.0, 50.0]), torch.tensor([0.0, 70.0]))
    cams = FoVPerspectiveCameras(R=R, T=T)
    both = _render(meshes, cams, 40, k=2, blur=1e-3)
    offset = int(meshes.mesh_to_faces_packed_first_idx()[1])
    for i in range(2):
        one = _render(meshes[i], cams[i], 40, k=2, blur=1e-3)
        p2f = both.pix_to_face[i].clone()
        if i == 1:
            p2f[p2f >= 0] -= offset
        np.testing.assert_array_equal(p2f.numpy(), one.pix_to_face[0].numpy())
        np.testing.assert_allclose(both.dists[i].numpy(), one.dists[0].numpy(), atol=1e-6)


def _soft_silhouette_of(verts, faces, cam, sigma=0.05):
    frag = _render(Meshes([verts], [faces]), cam, 6, k=4, blur=0.3)
    prob = torch.sigmoid(-frag.dists / sigma) * (frag.pix_to_face >= 0)
    return 1 - torch.prod(1 - prob, -1)


def test_soft_silhouette_gradcheck_float64():
    verts = torch.tensor([[-0.6, -0.5, 0.1], [0.7, -0.4, 0.0], [0.1, 0.6, -0.1], [-0.5, 0.5, 0.2]], dtype=D,
                         requires_grad=True)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    cam = FoVPerspectiveCameras(R=torch.eye(3, dtype=D)[None], T=torch.tensor([[0.0, 0.0, 2.5]], dtype=D))
    weights = torch.rand(1, 6, 6, generator=torch.Generator().manual_seed(0), dtype=D)
    assert torch.autograd.gradcheck(lambda v: (_soft_silhouette_of(v, faces, cam) * weights).sum(), (verts,),
                                    eps=1e-6, atol=1e-6)


def test_zbuf_and_bary_gradcheck_float64():
    verts = torch.tensor([[-0.9, -0.8, 0.3], [0.8, -0.7, -0.2], [0.0, 0.9, 0.1]], dtype=D, requires_grad=True)
    faces = torch.tensor([[0, 1, 2]])
    cam = FoVPerspectiveCameras(R=torch.eye(3, dtype=D)[None], T=torch.tensor([[0.0, 0.0, 2.0]], dtype=D))

    def f(v):
        frag = _render(Meshes([v], [faces]), cam, 5, perspective_correct=True)
        return frag.zbuf.sum() + (frag.bary_coords[..., 0] * 0.3 + frag.bary_coords[..., 2]).sum()

    assert torch.autograd.gradcheck(f, (verts,), eps=1e-6, atol=1e-6)


def test_bad_settings_are_clear_errors():
    cam = FoVPerspectiveCameras(T=torch.tensor([[0.0, 0.0, 3.0]]))
    with pytest.raises(ValueError, match="faces_per_pixel"):
        _render(ico_sphere(1), cam, 8, k=0)
    with pytest.raises(ValueError, match="image_size"):
        _render(ico_sphere(1), cam, (8, 8, 8))
    with pytest.raises(ValueError, match="z_clip_value"):
        _render(ico_sphere(1), cam, 8, z_clip_value=0.1)


def test_cull_backfaces_keeps_faces_whose_normals_face_the_camera():
    sphere = ico_sphere(2)
    R, T = look_at_view_transform(3.0, 30.0, 60.0)
    cam = FoVPerspectiveCameras(R=R, T=T)
    culled = _render(sphere, cam, 48, k=2, cull_backfaces=True).pix_to_face
    both = _render(sphere, cam, 48, k=2).pix_to_face
    assert (culled[..., 1] < 0).all() and (both[..., 1] >= 0).sum() > 100
    np.testing.assert_array_equal(culled[..., 0].numpy(), both[..., 0].numpy())
    faces = culled[..., 0][culled[..., 0] >= 0].unique()
    centroids = sphere.verts_packed()[sphere.faces_packed()].mean(1)[faces]
    to_cam = cam.get_camera_center() - centroids
    assert ((sphere.faces_normals_packed()[faces] * to_cam).sum(-1) > 0).all()


def test_screen_space_barycentrics_reproduce_projected_vertex_colours():
    """Vertex 'colours' = the vertices' own NDC (x, y): affine in screen space, so interpolation without
    perspective correction must return each covered pixel's centre."""
    R, T = look_at_view_transform(2.5, -20.0, 75.0)
    cam = FoVPerspectiveCameras(R=R.to(D), T=T.to(D))
    base = ico_sphere(3)
    mesh = Meshes([base.verts_packed().to(D)], [base.faces_packed()])
    size = 40
    frag = _render(mesh, cam, size, perspective_correct=False)
    ndc = cam.transform_points(mesh.verts_packed()[None])[0, :, :2]
    got = interpolate_face_attributes(frag.pix_to_face, frag.bary_coords, ndc[mesh.faces_packed()])[0, ..., 0, :]
    covered = frag.pix_to_face[0, ..., 0] >= 0
    centres = (size - 1 - 2 * torch.arange(size, dtype=D)) / size
    assert covered.sum() > 300
    # PyTorch3D divides by (area + 1e-8), so the weights sum to 1 only up to ~1e-5 on these small faces.
    np.testing.assert_allclose(got[..., 0][covered].numpy(), centres[None, :].expand(size, size)[covered].numpy(),
                               atol=2e-5)
    np.testing.assert_allclose(got[..., 1][covered].numpy(), centres[:, None].expand(size, size)[covered].numpy(),
                               atol=2e-5)


def test_small_search_and_backward_chunks_change_nothing(monkeypatch):
    """Candidate groups, the amortised top-k merges and the chunked backward split at arbitrary pair counts:
    outputs must be bit-identical and gradients equal to those of one chunk (a 32-pair chunk splits faces'
    boxes, merges dozens of times and cuts the pairs over many backward steps)."""
    rm = importlib.import_module("bench.backends.torch3d.renderer.mesh.rasterize_meshes")
    sphere = ico_sphere(1)
    R, T = look_at_view_transform(2.7, 10.0, 20.0)
    cam = FoVPerspectiveCameras(R=R, T=T)

    def run(chunk):
        monkeypatch.setattr(rm, "CHUNK_PAIRS", chunk)
        monkeypatch.setattr(rm, "MERGE_PAIRS", 2 * chunk)
        verts = sphere.verts_packed().clone().requires_grad_(True)
        frag = _render(Meshes([verts], [sphere.faces_packed()]), cam, 12, k=3, blur=0.01, perspective_correct=True)
        w = torch.linspace(0.5, 1.5, frag.dists.numel()).view(frag.dists.shape)
        ((frag.dists * w).sum() + (frag.zbuf * w).sum() + frag.bary_coords[..., 1].sum()).backward()
        return [t.detach() for t in frag], verts.grad

    big, g_big = run(1 << 20)
    small, g_small = run(32)
    assert (big[0] >= 0).sum() > 150 and (big[0][..., -1] >= 0).any()  # top-k drops some faces
    for a, b in zip(big, small, strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(g_small, g_big, rtol=1e-5, atol=1e-5)


def test_output_slots_are_the_k_nearest_per_pixel_in_input_order():
    """``_output_slots`` against a per-pixel Python sort: rank by (z, input position), the k nearest kept,
    the rest removed from every column, slots pixel * k + rank returned in the columns' input order."""
    rm = importlib.import_module("bench.backends.torch3d.renderer.mesh.rasterize_meshes")
    gen = torch.Generator().manual_seed(3)
    m, k = 400, 4
    pix = torch.randint(0, 37, (m,), generator=gen) * 5  # sparse pixel ids, some with > k candidates
    z = torch.randint(0, 6, (m,), generator=gen).float() * 0.25  # many equal depths: ties keep input order
    payload = torch.arange(m) * 10
    cols = [pix.clone(), z.clone(), payload.clone()]
    slot = rm._output_slots(cols, k)
    expected = {}
    for p in pix.unique().tolist():
        members = sorted((i for i in range(m) if pix[i] == p), key=lambda i: (float(z[i]), i))
        expected.update({i: p * k + r for r, i in enumerate(members[:k])})
    kept = sorted(expected)
    assert len(kept) < m  # some pixels lose candidates
    assert cols[2].tolist() == [payload[i].item() for i in kept]
    assert cols[0].tolist() == [pix[i].item() for i in kept]
    assert slot.tolist() == [expected[i] for i in kept]


@pytest.mark.parametrize("n_meshes", [1, 2])
def test_row_bands_on_threads_change_no_output(monkeypatch, n_meshes):
    """At 2+ torch threads the search, the scatter and the backward run in row bands on Python threads, and
    above BAND_MAX_PAIRS candidates in bands one after another: the four outputs must be bit-identical to one
    band's, and the gradients (summed per band or worker, then added) as near the float64 gradients as the
    one-band float32 ones; at 1 thread and few candidates the image is one band."""
    rm = importlib.import_module("bench.backends.torch3d.renderer.mesh.rasterize_meshes")
    sphere, ring = ico_sphere(2), torus(0.25, 0.6, 10, 12)
    R, T = look_at_view_transform(2.7, 10.0, 20.0)
    seen = []
    row_bands = rm._row_bands
    monkeypatch.setattr(rm, "_row_bands", lambda *a: seen.append(row_bands(*a)) or seen[-1])
    monkeypatch.setattr(rm, "BAND_PAIRS", 64)  # bands even on this small scene

    def run(threads, dtype=torch.float32):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            verts = [m.verts_packed().to(dtype).clone().requires_grad_(True) for m in (sphere, ring)][:n_meshes]
            meshes = Meshes(verts, [sphere.faces_packed(), ring.faces_packed()][:n_meshes])
            cam = FoVPerspectiveCameras(R=R.to(dtype), T=T.to(dtype))
            frag = _render(meshes, cam, 24, k=5, blur=0.01, perspective_correct=True)
            wt = torch.linspace(0.5, 1.5, frag.dists.numel(), dtype=dtype).view(frag.dists.shape)
            ((frag.dists * wt).sum() + (frag.zbuf * wt).sum() + frag.bary_coords[..., 1].sum()).backward()
        finally:
            torch.set_num_threads(before)
        return [t.detach() for t in frag], torch.cat([v.grad for v in verts]).double()

    one, g_one = run(1)
    assert seen[-1] == [(0, 24)]
    two, g_two = run(2)
    assert len(seen[-1]) == 2 and seen[-1][0][0] == 0 and seen[-1][0][1] == seen[-1][1][0] and seen[-1][1][1] == 24
    monkeypatch.setattr(rm, "BAND_MAX_PAIRS", 1000)  # several bands a worker
    many, g_many = run(2)
    assert len(seen[-1]) >= 4
    seq, g_seq = run(1)
    assert len(seen[-1]) >= 4
    assert (one[0] >= 0).sum() > 200
    for other in (two, many, seq):
        for a, b in zip(one, other, strict=True):
            assert torch.equal(a, b)
    _, g64 = run(1, torch.float64)
    gmax, err_one = float(g64.abs().max()), float((g_one - g64).abs().max())
    assert 0 < err_one < 1e-5 * gmax  # float32 rounding of sums over hundreds of pairs (measured 5e-6 of gmax)
    for g in (g_two, g_many, g_seq):  # other summation orders: rounding of the same size (measured <= 1.1e-5)
        assert float((g - g64).abs().max()) < 2e-5 * gmax


def test_row_bands_split_the_candidates_evenly(monkeypatch):
    """``_row_bands`` against a count of each row's candidate pixels: contiguous bands covering every row,
    each band's candidates within one row's worth of an equal share; one band at 1 thread and little work,
    several at 1 thread above BAND_MAX_PAIRS candidates."""
    rm = importlib.import_module("bench.backends.torch3d.renderer.mesh.rasterize_meshes")
    gen = torch.Generator().manual_seed(5)
    h, f = 40, 300
    r0 = torch.randint(-5, h, (f,), generator=gen)
    r1 = r0 + torch.randint(-2, 15, (f,), generator=gen)  # some empty (r1 < r0), some past the last row
    weight = torch.randint(0, 30, (f,), generator=gen)
    per_row = [sum(int(weight[i]) for i in range(f) if r0[i] <= r <= r1[i]) for r in range(h)]
    total = sum(per_row)
    assert rm._row_bands(weight, r0.clamp(0, h), r1.clamp(-1, h - 1), h, 1) == [(0, h)]
    bands = rm._row_bands(weight, r0.clamp(0, h), r1.clamp(-1, h - 1), h, 2)
    assert total < 2 * rm.BAND_PAIRS and bands == [(0, h)]  # too little work for two
    monkeypatch.setattr(rm, "BAND_PAIRS", 16)
    for n in (2, 3):
        bands = rm._row_bands(weight, r0.clamp(0, h), r1.clamp(-1, h - 1), h, n)
        assert len(bands) == n and bands[0][0] == 0 and bands[-1][1] == h
        assert all(a[1] == b[0] for a, b in zip(bands[:-1], bands[1:], strict=True))
        for lo, hi in bands:
            assert abs(sum(per_row[lo:hi]) - total / n) <= max(per_row)
    monkeypatch.setattr(rm, "BAND_MAX_PAIRS", -(-total // 3))
    bands = rm._row_bands(weight, r0.clamp(0, h), r1.clamp(-1, h - 1), h, 1)
    assert len(bands) == 3 and bands[0][0] == 0 and bands[-1][1] == h
    assert all(sum(per_row[lo:hi]) <= total / 3 + max(per_row) for lo, hi in bands)


@pytest.mark.parametrize("dynamic", [False, True])
def test_run_on_workers_returns_each_call_once_in_order(dynamic):
    """Every call runs exactly once, its result at its own index, in the caller's grad mode; statically call i
    runs on worker i % 2, dynamically a worker held by a slow call leaves the rest to the other worker."""
    import threading

    from bench.backends.torch3d.renderer.utils import run_on_workers, worker_pool

    ran: list[tuple[int, int, bool]] = []
    release = threading.Event()

    def call(i: int) -> int:
        if i == 0:  # the first call holds its worker until every other call has run
            release.wait(5.0)
        ran.append((i, threading.get_ident(), torch.is_grad_enabled()))
        if len(ran) == 7:
            release.set()
        return i * i

    with torch.no_grad(), worker_pool(2) as pool:
        if not dynamic:
            release.set()  # statically worker 0 must run calls 2, 4, ... after call 0
        out = run_on_workers([lambda i=i: call(i) for i in range(8)], pool, 2, dynamic=dynamic)
    assert out == [i * i for i in range(8)]
    assert sorted(i for i, _, _ in ran) == list(range(8)) and not any(g for _, _, g in ran)
    thread_of = {i: t for i, t, _ in ran}
    if dynamic:
        assert ran[-1][0] == 0 and len({thread_of[i] for i in range(1, 8)}) == 1 != thread_of[0]
    else:
        assert all(thread_of[i] == thread_of[i % 2] for i in range(8)) and thread_of[0] != thread_of[1]
