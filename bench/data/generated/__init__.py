"""Datasets bench3d builds itself, deterministically from a seed."""
