"""Loaders and checks for the field's standard dataset formats (never downloaded by bench3d)."""
