"""The overlay's mesh rendering (the backend's MeshRenderer through the fit's pinhole camera) covers exactly the
pixels of the pinhole projection, drawn independently by PIL, on a non-square image with an off-centre
principal point (a mirrored or flipped camera would miss them), on the built-in backend and the real PyTorch3D."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from bench.backends import load
from suites.smplify.evaluate import overlay
from suites.smplify.fit import project
from tests.conftest import require_pytorch3d


@pytest.mark.parametrize("backend", ["torch", pytest.param("pytorch3d", marks=pytest.mark.pytorch3d)])
def test_rendered_mesh_covers_its_pinhole_projection(backend):
    if backend == "pytorch3d":
        require_pytorch3d()
    t3d = load(backend)
    verts = torch.tensor([[-0.3, -0.2, 5.0], [0.25, -0.1, 5.0], [0.05, 0.35, 5.2]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    size, focal, centre = (96, 128), 400.0, torch.tensor([70.0, 40.0], dtype=torch.float64)  # (H, W); cx, cy
    no_points = torch.empty(0, 2)
    img = overlay(t3d, verts, faces, focal, centre, size, no_points, no_points)
    assert img.shape == (96, 128, 3)
    rendered = img.min(-1) < 250  # not background white
    uv = project(verts, focal, centre)
    ref = Image.new("L", (size[1], size[0]), 0)
    ImageDraw.Draw(ref).polygon([tuple(p) for p in uv.tolist()], fill=1)
    ref = np.asarray(ref).astype(bool)
    iou = (rendered & ref).sum() / (rendered | ref).sum()
    assert ref.sum() > 500 and iou > 0.9, iou  # boundary pixels differ (PIL fills edges, the rasteriser samples
    # pixel centres); a mirrored or flipped camera would overlap little or not at all
    ys, xs = np.nonzero(rendered)
    lo, hi = uv.min(0).values.numpy(), uv.max(0).values.numpy()
    assert np.allclose([xs.min(), ys.min()], lo, atol=1.0) and np.allclose([xs.max() + 1, ys.max() + 1], hi, atol=1.5)
