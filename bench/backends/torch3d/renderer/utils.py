"""``TensorProperties``: a batch of named tensor fields broadcast to a common batch size.

Cameras, lights and materials store their parameters this way (as PyTorch3D does), so a
single value is shared by every batch element and per-element values can be indexed.
"""

from __future__ import annotations

import contextlib
import functools
import math
import mmap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch
from torch import nn

Device = str | torch.device
_T = TypeVar("_T")


@contextlib.contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """Run a kernel made of many torch ops on one intra-op thread, restoring the thread count after.

    The soft rasteriser's search, scatter and backward and the silhouette blend are hundreds of ops, most
    on small chunks; where an op forks, each fork waits for every thread, and on a busy machine that wait
    costs a scheduler slice per op (measured on 2 shared cores at load 9: soft silhouette 128/k50 fwd+bwd
    3.4-9.3 s at 2 threads, 0.28 s at 1; docs/backends.md). PyTorch3D's CPU rasteriser is single-threaded
    as well (its CPU time equals its wall time at 1 and 2 threads).
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ThreadPoolExecutor | None]:
    """Threads for workers 1..n-1 (worker 0 is the calling thread), each with one intra-op thread (torch's
    thread count is per thread: a new thread starts at the default); None for one worker."""
    if workers < 2:
        yield None
        return
    with ThreadPoolExecutor(workers - 1, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        yield pool


def run_on_workers(calls: list[Callable[[], _T]], pool: ThreadPoolExecutor | None, workers: int,
                   dynamic: bool = False) -> list[_T]:
    """Results of calls, in order: call i runs on worker i % workers (worker 0 this thread, the others the
    pool's workers - 1 threads), each worker's calls one after another, in the caller's grad mode. Torch
    releases the GIL inside ops, so the workers overlap.

    dynamic: each worker takes the next call not yet started when it is free (balances calls of unequal
    cost; only for calls whose results do not depend on which worker ran them or in which order).
    """
    if workers == 1 or pool is None:
        return [call() for call in calls]

    grad_mode = torch.is_grad_enabled()  # thread-local: a worker starts with gradients on
    results: list[Any] = [None] * len(calls)
    queue = iter(range(len(calls)))  # shared by the workers, read under the lock
    lock = threading.Lock()

    def take(w: int) -> Iterator[int]:
        if not dynamic:
            yield from range(w, len(calls), workers)
            return
        while True:
            with lock:
                i = next(queue, None)
            if i is None:
                return
            yield i

    def run(w: int) -> None:
        with torch.set_grad_enabled(grad_mode):
            for i in take(w):
                results[i] = calls[i]()

    futures = [pool.submit(run, w) for w in range(1, workers)]
    run(0)
    for f in futures:
        f.result()
    return results


# Transparent huge pages for the rasteriser's large CPU buffers (Linux, THP mode "always" or "madvise"): a
# buffer on 2 MiB pages takes 1/512 of the page faults on first touch (soft silhouette 256/k100: ~32k -> ~2.6k
# faults per forward + backward, docs/backends.md). Each such buffer is its own private anonymous mapping,
# advised before anything is written and unmapped when the tensor is freed, as glibc maps blocks this large
# anyway; torch's THP_MEM_ALLOC_ENABLE does the same for every allocation of a process.
HUGE_MIN_BYTES = 4 << 20  # smaller buffers come from torch's allocator as usual
@functools.cache
def _thp_advisable() -> bool:
    """Whether this kernel lets a mapping ask for transparent huge pages (read once)."""
    if not (hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS")):
        return False
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            mode = fh.read()
    except OSError:
        return False
    return "[always]" in mode or "[madvise]" in mode


def empty_huge(shape: tuple[int, ...], dtype: torch.dtype, device: Any) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype, device=device)``; a CPU buffer of at least ``HUGE_MIN_BYTES`` lives in
    a mapping advised as transparent huge pages where the kernel allows it. Contents are undefined (zeros for a
    fresh mapping); the tensor keeps its mapping alive. Not resizable in place."""
    numel = math.prod(shape)
    nbytes = numel * torch.empty(0, dtype=dtype).element_size()
    if torch.device(device).type != "cpu" or nbytes < max(1, HUGE_MIN_BYTES) or not _thp_advisable():
        return torch.empty(shape, dtype=dtype, device=device)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buf.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # advice refused: ordinary pages
        pass
    return torch.frombuffer(buf, dtype=dtype, count=numel).view(shape)


def _to_tensor(value: Any, dtype: torch.dtype, device: Device) -> torch.Tensor:
    if torch.is_tensor(value):
        return value if value.device == torch.device(device) else value.to(device)
    return torch.tensor(value, dtype=dtype, device=device)


class TensorProperties(nn.Module):
    """Named tensor fields, all broadcast to one batch size N along dim 0.

    Scalars become shape (N,); sequences such as ``((1, 1, 1),)`` become (N, 3).
    ``None``, strings and booleans are kept as plain attributes.
    """

    def __init__(self, dtype: torch.dtype = torch.float32, device: Device = "cpu", **kwargs: Any) -> None:
        super().__init__()
        self.device = torch.device(device)
        self._N = 0
        tensors: dict[str, torch.Tensor] = {}
        # Plain numbers follow the precision of any float64 tensor given (e.g. for float64 gradchecks).
        if any(torch.is_tensor(v) and v.dtype == torch.float64 for v in kwargs.values()):
            dtype = torch.float64
        for name, value in kwargs.items():
            if value is None or isinstance(value, (str, bool)):
                setattr(self, name, value)
                continue
            try:
                t = _to_tensor(value, dtype, self.device)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: expected a number, sequence or tensor, got {type(value).__name__}") from exc
            tensors[name] = t if t.dim() > 0 else t.view(1)
        sizes = {t.shape[0] for t in tensors.values()}
        n = max(sizes, default=1)
        if sizes - {1, n}:
            detail = ", ".join(f"{k}: {t.shape[0]}" for k, t in tensors.items())
            raise ValueError(f"{type(self).__name__}: batch sizes must be 1 or a common N, got {detail}")
        self._N = n
        for name, t in tensors.items():
            setattr(self, name, t.expand((n,) + tuple(t.shape[1:])) if t.shape[0] == 1 and n > 1 else t)

    def __len__(self) -> int:
        return self._N

    def isempty(self) -> bool:
        return self._N == 0

    def _tensor_fields(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in vars(self).items() if torch.is_tensor(v) and not k.startswith("_")}

    def to(self, device: Device = "cpu") -> TensorProperties:  # type: ignore[override]
        """Move every tensor field to ``device`` in place and return self."""
        self.device = torch.device(device)
        for name, value in self._tensor_fields().items():
            setattr(self, name, value.to(self.device))
        return self

    def cpu(self) -> TensorProperties:  # type: ignore[override]
        return self.to("cpu")

    def cuda(self, device: Device | None = None) -> TensorProperties:  # type: ignore[override]
        return self.to(device or "cuda")

    def clone(self) -> TensorProperties:
        """A copy with cloned tensor fields."""
        other = self.__class__.__new__(self.__class__)
        nn.Module.__init__(other)
        for name, value in vars(self).items():
            if name.startswith("_") and name not in ("_N",) and not name.startswith("_in_ndc"):
                continue
            object.__setattr__(other, name, value.clone() if torch.is_tensor(value) else value)
        return other

    def gather_props(self, batch_idx: torch.Tensor) -> TensorProperties:
        """Expand each field along a new index: field[i] becomes field[batch_idx] (used per point/face)."""
        for name, value in self._tensor_fields().items():
            if value.shape[0] == self._N and batch_idx.numel():
                idx = batch_idx.reshape(batch_idx.shape + (1,) * (value.dim() - 1))
                setattr(self, name, value.gather(0, idx.expand(batch_idx.shape + tuple(value.shape[1:]))))
        return self
