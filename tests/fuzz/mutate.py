"""A seeded mutation corpus for the fuzz tests: byte-level and structure-level mutations of valid inputs.

Every mutation is a pure function of ``random.Random(seed)`` and the seed input, so a failing trial is
reproduced from its (target, trial) pair alone.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import yaml

# Leaves that have broken loaders before (issue 15): non-finite and huge numbers, wrong types, odd text.
NASTY_LEAVES: tuple[Any, ...] = (
    math.nan, math.inf, -math.inf, -1, 0, -3, 10**30, 1e308, 2**63, -(2**63) - 1, 0.5, True, False, None, "",
    "x", "NaN", "1e999", "\u0000", "\udcff", [], {}, [1, 2, 3], {"a": {"b": None}}, "9" * 400,
)
ODD_BYTES = (b"\xff\xfe", b"\x00", b"\xc3\x28", b"\x80", b"{" * 5000, b"[" * 5000, b"\n" * 3, b"- - -", b"&a *a")


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One of: flip bytes, truncate, insert odd bytes, duplicate a chunk, empty."""
    kind = rng.randrange(5)
    b = bytearray(data)
    if kind == 0 and b:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:
        b = b[: rng.randrange(len(b) + 1)]
    elif kind == 2:
        at = rng.randrange(len(b) + 1)
        b[at:at] = rng.choice(ODD_BYTES)
    elif kind == 3 and b:
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 64))
        b[j:j] = b[i:j] * rng.randint(2, 50)
    else:
        b = bytearray()
    return bytes(b)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def mutate_tree(doc: Any, rng: random.Random) -> Any:
    """Replace one node of a JSON-like tree with a nasty leaf, delete it, or nest it deeply."""
    doc = json.loads(json.dumps(doc))  # a deep copy of plain data
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return rng.choice(NASTY_LEAVES)
    path = rng.choice(paths)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    kind = rng.randrange(4)
    if kind == 0 and isinstance(parent, dict):
        del parent[last]
    elif kind == 1:
        deep: Any = parent[last]
        for _ in range(rng.choice((50, 3000))):
            deep = [deep]
        parent[last] = deep
    else:
        parent[last] = rng.choice(NASTY_LEAVES)
    return doc


def mutate_json_text(text: str, rng: random.Random) -> bytes:
    """A mutated JSON document (structure or bytes)."""
    if rng.random() < 0.6:
        try:
            return json.dumps(mutate_tree(json.loads(text), rng), allow_nan=True).encode("utf-8", "surrogatepass")
        except (RecursionError, ValueError):
            pass
    return mutate_bytes(text.encode(), rng)


def mutate_yaml_text(text: str, rng: random.Random) -> bytes:
    """A mutated YAML document (structure or bytes)."""
    if rng.random() < 0.6:
        try:
            tree = mutate_tree(yaml.safe_load(text), rng)
            return yaml.safe_dump(tree, allow_unicode=True).encode("utf-8", "surrogatepass")
        except (RecursionError, ValueError, yaml.YAMLError):
            pass
    return mutate_bytes(text.encode(), rng)


def mutate_lines(text: str, rng: random.Random) -> bytes:
    """Line-based text (OBJ, PLY): replace a token by a nasty one, drop or duplicate lines, or bytes."""
    lines = text.splitlines()
    kind = rng.randrange(4)
    if kind == 0 and lines:
        i = rng.randrange(len(lines))
        tokens = lines[i].split()
        if tokens:
            tokens[rng.randrange(len(tokens))] = str(rng.choice(("nan", "inf", "-1", "0", "1e999", "x", "", "9" * 40,
                                                                 "1/2/3/4", "-0")))
        lines[i] = " ".join(tokens)
    elif kind == 1 and lines:
        del lines[rng.randrange(len(lines))]
    elif kind == 2 and lines:
        i = rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * rng.randint(1, 20)
    else:
        return mutate_bytes(text.encode(), rng)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
