"""Reading untrusted dataset files with one-line errors: UTF-8 text, JSON (depth and type checks),
``.npy`` arrays (no pickles, numeric dtypes, finite values) and images (fully decoded, size-capped).

Every failure is a :class:`~bench.errors.DataError` of one line that names the file, the field or
line, and what was expected; nothing here lets a traceback or a silently wrong value through.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.errors import DataError

MAX_JSON_DEPTH = 64
# Images larger than this are refused before decoding (PIL warns at ~89 Mpx and refuses at ~179 Mpx;
# no dataset bench3d reads comes near 64 Mpx per frame).
MAX_IMAGE_PIXELS = 64 * 1024 * 1024
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# ---- text ------------------------------------------------------------------------------------------------------

def decode_utf8(raw: bytes, path: Path | str) -> str:
    """``raw`` decoded as UTF-8 (a leading BOM is dropped); DataError naming the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start}); expected a UTF-8 text file") from None


def read_bytes(path: Path | str, what: str = "file") -> bytes:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} is missing")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({_one_line(exc.strerror or exc)})") from None


def read_text(path: Path | str, what: str = "file") -> str:
    """A text file's content as UTF-8; DataError naming the file (and line) if missing or not UTF-8."""
    return decode_utf8(read_bytes(path, what), path)


def parse_floats(tokens: Sequence[str], path: Path | str, where: str, *, finite: bool = True) -> list[float]:
    """``tokens`` as floats; DataError ``path: where: ...`` for a non-number (or a NaN/inf when ``finite``)."""
    try:
        vals = [float(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_float(t))
        raise DataError(f"{path}: {where}: {bad[:40]!r} is not a number") from None
    if finite and not all(math.isfinite(v) for v in vals):
        raise DataError(f"{path}: {where}: has NaN or infinite values; expected finite numbers")
    return vals


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


# ---- JSON ------------------------------------------------------------------------------------------------------

def _depth(doc: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def parse_json(text: str, path: Path | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed or truncated JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON is nested too deeply; expected at most {max_depth} levels") from None
    if _depth(doc) > max_depth:
        raise DataError(f"{path}: JSON is nested too deeply; expected at most {max_depth} levels")
    return doc


def load_json(path: Path | str, spec: Any = None, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parsed JSON (``.json``, or gzip ``.jgz``/``.gz``), checked against ``spec`` (see :func:`check`)."""
    path = Path(path)
    raw = read_bytes(path)
    if path.suffix in (".jgz", ".gz"):
        import gzip
        import zlib

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a readable gzip file ({_one_line(exc)})") from None
    doc = parse_json(decode_utf8(raw, path), path, max_depth)
    if spec is not None:
        check(doc, spec, path)
    return doc


# ---- a small type schema for parsed JSON/pickles -----------------------------------------------------------------

class Spec:
    """A type rule: ``problem(value)`` is None when ``value`` fits, else what was expected."""

    expected = "a value"

    def problem(self, value: Any, where: str) -> tuple[str, str] | None:
        raise NotImplementedError


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"{value!r}"
    if isinstance(value, str):
        return f"a string ({value[:20]!r})" if len(value) <= 20 else "a string"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Number(Spec):
    """A finite real number (not a boolean), optionally within (lo, hi) bounds."""

    def __init__(self, lo: float | None = None, hi: float | None = None, *, integer: bool = False,
                 open_lo: bool = False, open_hi: bool = False):
        self.lo, self.hi, self.integer, self.open_lo, self.open_hi = lo, hi, integer, open_lo, open_hi
        kind = "an integer" if integer else "a finite number"
        rng = ""
        if lo is not None or hi is not None:
            lb = "(" if open_lo else "["
            hb = ")" if open_hi else "]"
            rng = f" in {lb}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}{hb}"
        self.expected = kind + rng

    def problem(self, value: Any, where: str):
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
        if ok and self.integer and not isinstance(value, (int, np.integer)):
            ok = False
        if ok and not math.isfinite(float(value)):
            ok = False
        if ok and self.lo is not None:
            ok = value > self.lo if self.open_lo else value >= self.lo
        if ok and self.hi is not None:
            ok = value < self.hi if self.open_hi else value <= self.hi
        return None if ok else (where, f"expected {self.expected}, got {_kind(value)}")


class String(Spec):
    expected = "a string"

    def __init__(self, nonempty: bool = True):
        self.nonempty = nonempty

    def problem(self, value: Any, where: str):
        if isinstance(value, str) and (value or not self.nonempty):
            return None
        return where, f"expected a {'non-empty ' if self.nonempty else ''}string, got {_kind(value)}"


class Any_(Spec):
    def problem(self, value: Any, where: str):
        return None


class ListOf(Spec):
    """A JSON list whose items fit ``item``, optionally of a fixed length."""

    def __init__(self, item: Spec, length: int | None = None, min_length: int = 0):
        self.item, self.length, self.min_length = item, length, min_length

    def problem(self, value: Any, where: str):
        n = f"{self.length} " if self.length is not None else ""
        if not isinstance(value, list):
            return where, f"expected a list of {n}items, got {_kind(value)}"
        if self.length is not None and len(value) != self.length:
            return where, f"expected a list of {self.length} items, got {len(value)}"
        if len(value) < self.min_length:
            return where, f"expected at least {self.min_length} items, got {len(value)}"
        for i, v in enumerate(value):
            p = self.item.problem(v, f"{where}[{i}]")
            if p:
                return p
        return None


def Matrix(*shape: int) -> Spec:  # noqa: N802 - reads as a type
    """Nested lists of finite numbers of ``shape``."""
    spec: Spec = Number()
    for n in reversed(shape):
        spec = ListOf(spec, n)
    return spec


class Obj(Spec):
    """A JSON object with ``required`` and ``optional`` keys (other keys are allowed)."""

    def __init__(self, required: Mapping[str, Spec], optional: Mapping[str, Spec] | None = None):
        self.required, self.optional = dict(required), dict(optional or {})

    def problem(self, value: Any, where: str):
        if not isinstance(value, dict):
            return where, f"expected an object, got {_kind(value)}"
        for key, spec in self.required.items():
            sub = f"{where}.{key}" if where else key
            if key not in value:
                return sub, "is missing"
            p = spec.problem(value[key], sub)
            if p:
                return p
        for key, spec in self.optional.items():
            if key in value and value[key] is not None:
                p = spec.problem(value[key], f"{where}.{key}" if where else key)
                if p:
                    return p
        return None


class OneOf(Spec):
    def __init__(self, *choices: str):
        self.choices = choices

    def problem(self, value: Any, where: str):
        if value in self.choices:
            return None
        return where, f"expected one of {', '.join(map(repr, self.choices))}, got {_kind(value)}"


def problem(value: Any, spec: Spec, where: str = "") -> str | None:
    """``"field: what was expected"`` when ``value`` does not fit ``spec``, else None."""
    p = spec.problem(value, where)
    if p is None:
        return None
    field, msg = p
    return f"{field or '(top level)'}: {msg}"


def check(value: Any, spec: Spec, path: Path | str, where: str = "") -> Any:
    """``value`` when it fits ``spec``; DataError ``path: field: expected ...`` otherwise."""
    msg = problem(value, spec, where)
    if msg:
        raise DataError(f"{path}: {msg}")
    return value


def items_problems(items: Any, spec: Spec, where: str, report: Callable[[str], None], limit: int = 20) -> list[int]:
    """Check each item of a list against ``spec``; report up to ``limit`` problems; the indices that fit."""
    good, bad = [], 0
    for i, item in enumerate(items):
        msg = problem(item, spec, f"{where}[{i}]")
        if msg is None:
            good.append(i)
        else:
            bad += 1
            if bad <= limit:
                report(msg)
    if bad > limit:
        report(f"{where}: {bad - limit} more bad entries")
    return good


# ---- arrays ----------------------------------------------------------------------------------------------------

def check_array(arr: np.ndarray, path: Path | str, what: str, *, kinds: str = "biuf", finite: bool = True,
                ndim: int | None = None, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """``arr`` when its dtype kind is in ``kinds`` (b bool, i/u int, f float), its shape fits and it is finite."""
    arr = np.asarray(arr) if not isinstance(arr, np.ndarray) else arr
    if arr.dtype.kind not in kinds:
        names = {"b": "bool", "i": "int", "u": "uint", "f": "float"}
        raise DataError(f"{path}: {what} has dtype {arr.dtype}; expected a real numeric array "
                        f"({'/'.join(names.get(k, k) for k in kinds)})")
    if shape is not None:
        ndim = len(shape)
    if ndim is not None and arr.ndim != ndim:
        raise DataError(f"{path}: {what} has shape {arr.shape}; expected {ndim} dimensions "
                        f"{_shape_text(shape) if shape else ''}".rstrip())
    if shape is not None and any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)):
        raise DataError(f"{path}: {what} has shape {arr.shape}; expected {_shape_text(shape)}")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise DataError(f"{path}: {what} has NaN or infinite values; expected finite numbers")
    return arr


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"


def load_npy(path: Path | str, what: str = "array", **checks: Any) -> np.ndarray:
    """A ``.npy`` array read without pickles, refused if empty, an ``.npz`` archive, or not real numbers."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file is missing")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({_one_line(exc.strerror or exc)})") from None
    if not head:
        raise DataError(f"{path}: file is empty; expected a .npy array")
    if head.startswith(_ZIP_MAGIC):
        raise DataError(f"{path}: is a .npz (zip) archive, not a .npy array")
    if not head.startswith(_NPY_MAGIC):
        raise DataError(f"{path}: not a .npy file (no NUMPY magic)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, SyntaxError, struct.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot be read as a .npy array ({_one_line(exc)})") from None
    return check_array(arr, path, what, **checks)


# ---- images ----------------------------------------------------------------------------------------------------

_IMAGE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error,
                 Image.DecompressionBombError, Image.DecompressionBombWarning)


def _open(path: Path) -> Image.Image:
    im = Image.open(path)
    w, h = im.size
    if w <= 0 or h <= 0 or w * h > MAX_IMAGE_PIXELS:
        im.close()
        raise DataError(f"{path}: image header says {w}x{h} pixels; expected at most {MAX_IMAGE_PIXELS} pixels "
                        "(a decompression bomb or a corrupt header)")
    return im


def _image_error(path: Path, exc: BaseException) -> DataError:
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return DataError(f"{path}: image is too large to decode safely (decompression bomb: {_one_line(exc)})")
    return DataError(f"{path}: not a readable image ({type(exc).__name__}: {_one_line(exc)[:200]})")


def open_image(path: Path | str, mode: str | None = "RGB") -> np.ndarray:
    """The fully decoded image as uint8 (H, W[, C]) converted to ``mode``; DataError naming the file if it is
    missing, truncated, not an image, or claims more than MAX_IMAGE_PIXELS."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image is missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(path) as im:
                im.load()  # decode every byte: a truncated file fails here, not at the header
                return np.asarray(im.convert(mode) if mode else im)
    except DataError:
        raise
    except _IMAGE_ERRORS as exc:
        raise _image_error(path, exc) from None


def image_header_size(path: Path | str) -> tuple[int, int]:
    """(H, W) from an image header only (size-capped); DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image is missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(path) as im:
                w, h = im.size
    except DataError:
        raise
    except _IMAGE_ERRORS as exc:
        raise _image_error(path, exc) from None
    return h, w


def verify_image(path: Path | str) -> tuple[int, int]:
    """(H, W) of an image that decodes completely; DataError naming the file otherwise."""
    arr = open_image(path, mode=None)
    return int(arr.shape[0]), int(arr.shape[1])
