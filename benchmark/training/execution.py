"""Execution: how a training runs on this machine (bf16, channels_last, torch.compile, CPU
threads); recorded in the checkpoint, never part of its key."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping

import torch

from benchmark import harness


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast
    makes convolutions several times faster; elsewhere it would be emulated and slow."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # an older or non-x86 build
        return False


def resolve_execution(execution: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Resolve ``"auto"`` execution options for ``device``.

    ``bf16``: CUDA with bf16 support, or a CPU with native bf16. ``channels_last``: always
    (faster for these conv stacks with cuDNN and oneDNN). ``compile``: CUDA only (compilation
    costs minutes that a CPU run does not win back).
    """
    auto = {
        "bf16": (torch.cuda.is_bf16_supported() if device.type == "cuda"
                 else cpu_has_native_bf16()),
        "channels_last": True,
        "compile": device.type == "cuda",
    }
    return {**execution, **{k: auto[k] if execution[k] == "auto" else bool(execution[k])
                            for k in auto}}


def device_label(device: torch.device) -> str:
    """The device as the checkpoint records it: the GPU's name, or the CPU's thread count."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def idle_cores() -> int:
    """CPU cores this process may use that the 1-minute load average leaves idle (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - int(os.getloadavg()[0] + 0.5))


@contextlib.contextmanager
def cpu_threads(threads: int | None, device: str | torch.device = "auto") -> Iterator[None]:
    """Run CPU training on ``threads`` torch threads, then restore the setting.

    Default: :func:`idle_cores`. Measured side by side on the 2-core machine
    (``scripts/bench_train.py``, load average 0.4-1.0): channels_last trained srcnn_915 at
    1,085 patches/s on two threads vs 666 on one (1.63x) and drrn_b1u9 (quick) at 260 vs 161
    (1.62x); but with another process on one core, two threads collapsed (drrn_b1u9 0.4 it/s
    vs 13.9 on one: oneDNN's threads wait on each other). So all idle cores, never more.
    """
    previous = torch.get_num_threads()
    if harness.resolve_device(str(device)).type == "cpu":
        torch.set_num_threads(threads or idle_cores())
    try:
        yield
    finally:
        torch.set_num_threads(previous)
