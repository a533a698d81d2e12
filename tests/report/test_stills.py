"""Mesh stills of reports: the built-in MeshRenderer frames every mesh the same way and turns around it."""

from __future__ import annotations

import base64
import hashlib
import io
import math

import numpy as np
import pytest
from PIL import Image

from bench.imaging import BAND_PX
from bench.report import artifacts
from bench.report.stills import AZIMUTHS, FOV, VIEW_PX, frame, render_turntable
from bench.results import ArtifactRecord

SQUARE_V = np.array([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
SQUARE_F = np.array([[0, 1, 2], [0, 2, 3]])


def _covered(img: np.ndarray) -> np.ndarray:
    """Pixels that are not the white background."""
    return (img < 250).any(axis=-1)


def test_a_face_on_square_covers_the_area_its_framing_predicts():
    size = 96
    img = render_turntable(SQUARE_V * 7.0 + 3.0, SQUARE_F, azimuths=[0.0], elevation=0.0, size=size)
    assert img.shape == (size, size, 3)
    # Analytic: the square's bounding sphere (radius sqrt 2) is scaled to 1, so its half side is 1/sqrt 2; at
    # camera distance d with vertical field of view FOV, half the image height spans d tan(FOV / 2).
    _, dist = frame(SQUARE_V)
    half_px = (1 / math.sqrt(2)) / (dist * math.tan(math.radians(FOV / 2))) * size / 2
    rows, cols = np.nonzero(_covered(img))
    assert rows.size == pytest.approx((2 * half_px) ** 2, rel=0.08)
    assert (rows.min() + rows.max()) / 2 == pytest.approx(size / 2 - 0.5, abs=1.0)  # centred, whatever the offset
    assert (cols.min() + cols.max()) / 2 == pytest.approx(size / 2 - 0.5, abs=1.0)


def test_turntable_views_turn_around_the_mesh():
    """A slab long along x is wide seen from azimuth 0 (camera on +z) and narrow from azimuth 90 (on +x)."""
    v = np.array([[x, y, z] for x in (-3.0, 3.0) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    img = render_turntable(v, f, azimuths=[0.0, 90.0], elevation=0.0, size=64)
    assert img.shape == (64, 128, 3)
    width = [np.ptp(np.nonzero(_covered(img[:, k * 64:(k + 1) * 64]).any(axis=0))[0]) + 1 for k in (0, 1)]
    assert width[0] > 3 * width[1]  # 6 long against 1 deep, seen in perspective
    shaded = img[32, 32].astype(int)
    assert shaded.min() < 250 and shaded[2] > shaded[0]  # lit, bluish (bench.report.stills.COLOUR)


def test_mesh_artifact_is_inlined_as_a_labelled_turntable(tmp_path):
    obj = b"v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\nf 1 2 3 4\n"
    (tmp_path / "fitted.obj").write_bytes(obj)
    rec = ArtifactRecord("fitted", "mesh", "fitted.obj", hashlib.sha256(obj).hexdigest(), len(obj))
    view = artifacts.load(tmp_path, rec)
    assert "rendered with the built-in MeshRenderer: 4 vertices, 2 faces" in view.note
    png = base64.b64decode(view.data_uri.split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (len(AZIMUTHS) * VIEW_PX, BAND_PX + VIEW_PX)
    (tmp_path / "bad.obj").write_bytes(b"v 0 0 0\nf 1 2 3\n")
    bad = artifacts.load(tmp_path, ArtifactRecord("bad", "mesh", "bad.obj", "0" * 64, 16))
    assert bad.data_uri is None and "no still rendered (a face indexes vertex 3 of 1)" in bad.note
