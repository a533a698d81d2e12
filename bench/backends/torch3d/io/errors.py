"""The error the mesh readers raise for a bad file: a ValueError, as PyTorch3D's readers raise, that is also
bench3d's one-line DataError (so the CLI prints it on one line and a case fails with it as its reason)."""

from __future__ import annotations

from bench.errors import DataError


class MeshFileError(DataError, ValueError):
    """A mesh, material or texture file that cannot be read; the message names the file (and line)."""


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 text of a mesh/material file (BOM dropped), or MeshFileError naming the line of the first bad byte.

    PyTorch3D opens these files in text mode, so a non-UTF-8 (for example binary) file raises there too
    (UnicodeDecodeError); here it is one line instead of a traceback.
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise MeshFileError(f"{name}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                            "expected a text file") from None
