"""Shared pieces of the conformance suite: both backends, seeded inputs, the tolerance rules.

Tolerance rule (argued once here, used by every op unless its test states another): the two backends
evaluate the same formula, but in a different order (PyTorch3D's C++ loops vs vectorised torch ops), so a
result differs by rounding only: a few units in the last place per reduction level. For O(1) values that
is rtol 1e-5 / atol 1e-6 in float32 (eps 1.2e-7, reductions of up to ~1e4 terms) and rtol 1e-9 / atol
1e-11 in float64 (eps 2.2e-16, the same margin). Gradients get 10x more (one more reduction, in the
backward pass). A test that needs more states why next to its own figure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench import backends

TOL = {torch.float32: {"rtol": 1e-5, "atol": 1e-6}, torch.float64: {"rtol": 1e-9, "atol": 1e-11}}
GRAD_TOL = {torch.float32: {"rtol": 1e-4, "atol": 1e-5}, torch.float64: {"rtol": 1e-8, "atol": 1e-10}}
DTYPES = (torch.float32, torch.float64)


def pair() -> tuple[Any, Any]:
    """(built-in, PyTorch3D) namespaces."""
    return backends.load("torch"), backends.load("pytorch3d")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype = torch.float32, grad: bool = False,
          scale: float = 1.0, msg: str = "") -> None:
    """assert_close with the suite's rule for ``dtype``; ``scale`` multiplies atol (values of that size)."""
    tol = dict((GRAD_TOL if grad else TOL)[dtype])
    tol["atol"] *= scale
    torch.testing.assert_close(a, b, check_dtype=False, msg=lambda m: f"{msg}: {m}" if msg else m, **tol)


def run_both(fn: Callable[[Any, list[torch.Tensor]], torch.Tensor], inputs: list[torch.Tensor],
             ) -> list[tuple[torch.Tensor, list[torch.Tensor | None]]]:
    """For each backend: ``out = fn(t3d, leaves)`` and the gradients of ``(out * w).sum()`` w.r.t. the
    leaves (fresh copies of ``inputs``), with fixed random weights ``w`` so every output element counts."""
    results = []
    for t3d in pair():
        leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
        out = fn(t3d, leaves)
        w = torch.rand(out.shape, generator=gen(99), dtype=out.dtype)
        grads = [None] * len(leaves)
        if out.requires_grad:
            diff = [x for x in leaves if x.requires_grad]
            got = torch.autograd.grad((out * w).sum(), diff, allow_unused=True)
            it = iter(got)
            grads = [next(it) if x.requires_grad else None for x in leaves]
        results.append((out.detach(), grads))
    return results


def assert_same(fn: Callable[[Any, list[torch.Tensor]], torch.Tensor], inputs: list[torch.Tensor],
                dtype: torch.dtype, scale: float = 1.0, grad_scale: float | None = None, msg: str = "") -> None:
    """Forward and gradients of ``fn`` agree between the backends within the suite's rule."""
    (o1, g1), (o2, g2) = run_both(fn, inputs, )
    close(o1, o2, dtype, scale=scale, msg=f"{msg} forward")
    for i, (a, b) in enumerate(zip(g1, g2, strict=True)):
        assert (a is None) == (b is None), f"{msg}: input {i} has a gradient on one backend only"
        if a is not None:
            close(a, b, dtype, grad=True, scale=grad_scale if grad_scale is not None else scale,
                  msg=f"{msg} grad of input {i}")
