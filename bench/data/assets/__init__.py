"""Small public-domain assets shipped with bench3d, so built-in datasets need no download.

``cow_mesh/``: Keenan Crane's spot cow (public domain; see its README), the mesh of the
book's and PyTorch3D tutorials' pose, volume and NeRF examples.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
COW_OBJ = ASSETS / "cow_mesh" / "cow.obj"
