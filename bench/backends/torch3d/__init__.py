"""bench3d's built-in 3D backend: pure PyTorch, with PyTorch3D's public API and layout.

Submodules mirror ``pytorch3d``: ``structures``, ``ops``, ``loss``, ``renderer``,
``transforms``, ``io``, ``utils``. Names, signatures, tensor shapes and coordinate
conventions follow PyTorch3D so that suite code runs unchanged on either backend.
"""

__version__ = "0.1.0"
# The PyTorch3D release whose public API this backend follows.
API_VERSION = "0.7.8"
