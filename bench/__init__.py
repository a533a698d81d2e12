"""bench3d: a benchmark and evaluation harness for 3D deep learning."""

__version__ = "0.1.0"
