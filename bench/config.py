"""Typed case configurations: one frozen dataclass of case parameters per suite.

A suite declares its parameters once, as a frozen dataclass whose fields carry a type, a default and a
one-line doc (:func:`param`). Profiles, the grid and ``--set`` are all checked against those fields, so a
misspelt key or a value of the wrong type is an error naming the field, never a silently ignored setting,
and a case's identity is its whole resolved configuration (:func:`config_hash`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from bench.errors import UsageError, unknown_name


def param(default: Any, doc: str = "", *, identity: bool = True) -> Any:
    """A configuration field: its default and one-line doc.

    ``identity=False`` marks a setting that cannot change what a case measures (a render chunk size, a
    memory guard); two cases differing only there still compare.
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError("param: use a tuple (immutable) as the default of a list-like field")
    return dataclasses.field(default=default, metadata={"doc": doc, "identity": identity})


@dataclass(frozen=True)
class FieldInfo:
    """What ``bench3d list --suite S`` shows of one configuration field."""

    name: str
    type: Any
    default: Any
    doc: str
    identity: bool

    @property
    def type_name(self) -> str:
        return type_name(self.type)


def fields_of(cls: type) -> list[FieldInfo]:
    """The fields of configuration dataclass ``cls``, in declaration order, with resolved types."""
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"{cls!r} is not a frozen dataclass")
    hints = get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: every configuration field needs a default")
        out.append(FieldInfo(f.name, hints[f.name], f.default, f.metadata.get("doc", ""),
                             bool(f.metadata.get("identity", True))))
    return out


def type_name(tp: Any) -> str:
    """A short readable name of a field type: ``int``, ``float | None``, ``'full' | 'chamfer'``."""
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(tp))
    if origin is tuple:
        args = get_args(tp)
        return f"tuple[{type_name(args[0])}, ...]" if len(args) == 2 and args[1] is Ellipsis else str(tp)
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


# A float field that opts in to NaN and infinities (``limit: AnyFloat = param(math.inf, ...)``); a plain
# ``float`` field takes finite values only, so ``--set lr=NaN`` or ``lr=1e999`` is an error, not a run.
AnyFloat = typing.NewType("AnyFloat", float)


def _coerce(tp: Any, value: Any) -> Any:
    """``value`` as type ``tp`` (an int where a float is expected becomes a float), or raise TypeError
    (with the reason as its message where the type alone does not say it)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is AnyFloat:  # NaN and infinities included
        return value if isinstance(value, float) else _coerce(float, value)
    if origin is Literal:
        for choice in get_args(tp):
            if value == choice and type(value) is type(choice):
                return value
        raise TypeError
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        # Exact matches first, so that True stays a bool and 1 an int where both are allowed.
        for arg in sorted(args, key=lambda a: a is float):
            try:
                return _coerce(arg, value)
            except TypeError:
                continue
        raise TypeError
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        if len(args) != len(value):
            raise TypeError
        return tuple(_coerce(a, v) for a, v in zip(args, value, strict=True))
    if tp is type(None):
        if value is None:
            return None
        raise TypeError
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                out = float(value)
            except OverflowError:  # an integer beyond float's range
                raise TypeError("expected a finite number") from None
            if out != out or out in (float("inf"), float("-inf")):
                raise TypeError("expected a finite number")
            return out
        raise TypeError
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError
    raise TypeError(f"unsupported configuration type {tp!r}")


def check_value(cls: type, name: str, value: Any, where: str) -> Any:
    """``value`` checked (and coerced) against field ``name`` of ``cls``; UsageError naming both otherwise."""
    info = {f.name: f for f in fields_of(cls)}
    if name not in info:
        raise unknown_name(f"parameter in {where}", name, info)
    try:
        return _coerce(info[name].type, value)
    except TypeError as exc:
        why = f" ({exc})" if exc.args else ""
        raise UsageError(f"{where}: {name}={json.dumps(value, default=str)} is not a valid value; "
                         f"{name} is {info[name].type_name}{why}") from None


def build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """An instance of ``cls`` with ``values`` over its defaults, every value checked."""
    return cls(**{k: check_value(cls, k, v, where) for k, v in values.items()})


def as_dict(config: Any) -> dict[str, Any]:
    """A configuration as a JSON-able dict (tuples as lists), in field order."""
    return {f.name: _jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _jsonable(v: Any) -> Any:
    return [_jsonable(x) for x in v] if isinstance(v, (tuple, list)) else v


def identity(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a resolved configuration that make a case what it is (``identity=True``)."""
    keep = {f.name for f in fields_of(cls) if f.identity}
    return {k: v for k, v in values.items() if k in keep}


def config_hash(values: Mapping[str, Any]) -> str:
    """A stable short hash of a resolved configuration (sorted canonical JSON)."""
    text = json.dumps(dict(values), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def case_identity(config: Any) -> tuple[str, list[str]]:
    """(hash of the identity fields, names of the other fields) of a resolved configuration instance."""
    values = as_dict(config)
    kept = identity(type(config), values)
    return config_hash(kept), sorted(set(values) - set(kept))


def parse_value(raw: str) -> Any:
    """A ``--set`` value: JSON when it parses (numbers, true/false, null, lists), else the plain string."""
    try:
        return json.loads(raw)
    except ValueError:  # not JSON, or an integer of more digits than Python converts: the plain string
        return raw


def config_diff(base: Mapping[str, Any], new: Mapping[str, Any], ignore: typing.Iterable[str] = ()) -> list[str]:
    """``["iterations 2 != 40", ...]`` for every field whose values differ, ``ignore`` left out."""
    skip = set(ignore)
    out = []
    for k in sorted(set(base) | set(new)):
        if k in skip:
            continue
        b, n = base.get(k, "<absent>"), new.get(k, "<absent>")
        if b != n:
            out.append(f"{k} {json.dumps(b, default=str)} != {json.dumps(n, default=str)}")
    return out
