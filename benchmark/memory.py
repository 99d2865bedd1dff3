"""Freed heap memory kept for reuse within a block of work (glibc only).

:func:`freed_memory_kept` is used by the inference path (:mod:`benchmark.inference`) around
each forward and by the harness around each chunk; :func:`keep_freed_memory` by the scoring
and preparation workers (:mod:`benchmark.work`) for their lifetime; torch-free.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
from typing import Iterator

__all__ = ["WORKER_FREE_HEAP", "freed_memory_kept", "keep_freed_memory"]

#: glibc's mallopt parameters (<malloc.h>): their values within a block and glibc's defaults.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_WITHIN = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 1 << 30))
_DEFAULTS = ((_M_MMAP_MAX, 65536), (_M_TRIM_THRESHOLD, 128 * 1024))
#: Free heap a worker process keeps (:func:`keep_freed_memory`): a few images' metric
#: temporaries (a 1024 x 680 float64 plane is 5.6 MB).
WORKER_FREE_HEAP = 256 << 20
_depth = 0  # freed_memory_kept blocks now open (only the outermost one sets anything)


@functools.lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another C library: nothing to tune
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextlib.contextmanager
def freed_memory_kept() -> Iterator[None]:
    """Within the block, freed heap memory is reused; after it, free heap goes back to the OS.

    glibc maps every allocation above its mmap threshold (at most 32 MiB) afresh and unmaps it
    when freed, so each large activation of a forward faults its pages in again (a 128-channel
    288 x 288 map is 42 MB). Within the block allocations come from the heap
    (``M_MMAP_MAX = 0``, no trimming), so a forward reuses the pages of the tensors it freed;
    on exit glibc's defaults return and ``malloc_trim`` hands the free heap back, so a process
    never keeps more than one forward's peak (kept for good, the heap fragmented across sizes
    until a 23 GB process was killed). Measured at 288 x 288 on one thread, against glibc's
    defaults: SRCNN 9-1-5 18 vs 40 ms, VDSR 499 vs 709 ms, DRRN_B1U9 1962 vs 2590 ms. The
    metrics' float64 temporaries are alike (a 1024 x 680 plane is 5.6 MB): IFC + SSIM of 12
    Urban100/B100 x2 images in one process, 4 interleaved rounds, 624-691 ms within the block
    vs 805-972 ms without. Does nothing but run the block without glibc.
    """
    global _depth
    libc = _glibc()
    outermost = libc is not None and _depth == 0
    _depth += 1
    try:
        if outermost:
            for option, value in _WITHIN:
                libc.mallopt(option, value)
        yield
    finally:
        _depth -= 1
        if outermost:
            for option, value in _DEFAULTS:
                libc.mallopt(option, value)
            libc.malloc_trim(0)


def keep_freed_memory(free_heap: int = WORKER_FREE_HEAP) -> None:
    """From now on this process reuses freed heap memory and keeps up to ``free_heap`` bytes
    of it: for a worker that does the same bounded work task after task.

    A :func:`freed_memory_kept` block per task would hand the heap back after every image, and
    once ``mallopt`` is called glibc no longer raises its mmap threshold by itself, so the
    next task faults all its pages in again. Bicubic Table 2 + IFC, 657 evaluations, 2 workers,
    same sitting: the PSNR stage (each task's first metric, which paid those faults) took
    2.0-3.0 CPU-s with a block per task, 0.7-0.8 with the heap kept.
    Does nothing without glibc; a later :func:`freed_memory_kept` block restores the defaults.
    """
    libc = _glibc()
    if libc is not None and _depth == 0:
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, free_heap)
