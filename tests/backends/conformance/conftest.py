"""Conformance suite: every test compares the built-in backend with the real PyTorch3D (marker ``pytorch3d``).
Skipped where PyTorch3D is not installed; a failure where $BENCH3D_REQUIRE_PYTORCH3D is set (``.ci/run``)."""

from __future__ import annotations

import pytest

from tests.conftest import require_pytorch3d


@pytest.fixture(autouse=True)
def _reference_installed():
    require_pytorch3d()
