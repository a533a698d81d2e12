"""GIRAFFE training images from a standard image folder: resized to a square, one size and mode, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from suites.giraffe.data import training_folder


def write(folder, name, arr):
    folder.mkdir(exist_ok=True)
    Image.fromarray(arr).save(folder / name)


def test_folder_is_read_in_name_order_and_resized_to_a_square(tmp_path):
    """Constant-colour 40x24 images stay their colour when squashed to 16x16 (GIRAFFE resizes to a square)."""
    for i, c in enumerate(([255, 0, 0], [0, 128, 255], [10, 20, 30])):
        write(tmp_path / "cars", f"{i:03d}.png",
              np.full((24, 40, 3), c, dtype=np.uint8))
    images, checksum = training_folder(tmp_path / "cars", 16)
    assert images.shape == (3, 3, 16, 16) and len(checksum) == 64
    np.testing.assert_allclose(images[:, :, 8, 8].numpy(), np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]]) / 255,
                               atol=1e-6)
    again, same = training_folder(tmp_path / "cars", 16)
    assert same == checksum
    write(tmp_path / "cars", "003.png", np.zeros((24, 40, 3), dtype=np.uint8))
    assert training_folder(tmp_path / "cars", 16)[1] != checksum


def test_bad_folders_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"train_images: .*nothing is not a folder of images"):
        training_folder(tmp_path / "nothing", 16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no .* images found"):
        training_folder(tmp_path / "empty", 16)
    write(tmp_path / "mixed", "a.png", np.zeros((16, 16, 3), dtype=np.uint8))
    write(tmp_path / "mixed", "b.png", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"b.png: 8x8 RGB image, but a.png is 16x16 RGB"):
        training_folder(tmp_path / "mixed", 16)
