"""The per-image work of the harness that runs in worker processes: GT/LR preparation and
scoring (docs/protocol.md steps 1-3 and 6-7).

Kept apart from :mod:`benchmark.harness` so that a scoring worker imports numpy, OpenCV and
the metrics only, never torch: a worker process starts in a fraction of the time.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

from benchmark import PROTOCOL, extmetrics, imaging, metrics
from benchmark.data import ImageRef
from benchmark.memory import keep_freed_memory

METRICS = ("psnr", "ssim", "ifc")
#: A process pool pays for its start-up only with at least this many tasks per worker.
MIN_TASKS_PER_WORKER = 8


_memory_kept = False  # keep_freed_memory() called in this process


def _task_setup() -> None:
    """One OpenCV thread per task, and freed memory kept for the next task.

    OpenCV's own threads for one filter are slower than one thread on the filter sizes of the
    metrics (3.7 vs 3.1 ms for a 7x7 float64 filter of a 676x1020 subband, idle 2-core
    machine), and they oversubscribe the cores the workers already fill.
    """
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
    global _memory_kept
    if not _memory_kept:  # once per process: the metrics' float64 temporaries reuse pages
        keep_freed_memory()
        _memory_kept = True


def pool_jobs(jobs: int, tasks: int) -> int:
    """Worker processes for ``tasks`` independent tasks: at most ``jobs``, and 1 (no pool)
    when there are too few tasks for a second worker to pay for its start-up."""
    return max(1, min(jobs, tasks // MIN_TASKS_PER_WORKER))


def _pair_paths(ref: ImageRef, scale: int, cache_dir: Path) -> tuple[Path, Path]:
    """The cached GT (uint8) and LR (float64) of one image at one scale.

    The LR image is cached rather than the ILR: 1/s^2 of the bytes, and on this kind of disk
    creating a file costs more per byte than the upscaling that remakes the ILR from it
    (:func:`ilr_from_lr`; about 14 ms to write a new 1024x680 float64 file, 2-5 ms to upscale).
    """
    # The key names the image content, not its path, so moved or renamed data reuses the cache.
    key = ref.sha256 or hashlib.sha256(str(ref.path).encode()).hexdigest()
    folder = cache_dir / "pairs" / PROTOCOL / _path_component(ref.dataset) / f"x{scale}"
    stem = f"{ref.name}-{key[:16]}"
    return folder / f"{stem}-gt.npy", folder / f"{stem}-lr.npy"


def ilr_from_lr(lr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """docs/protocol.md step 3's second half: the ILR (float64, not clipped) of a cached LR."""
    return imaging.imresize(lr, output_shape=shape)


def _path_component(name: str) -> str:
    """``name`` as one safe folder name (``dir:PATH`` sets hold slashes and may hold ``..``)."""
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", name).lstrip(".")
    return safe if safe == name else f"{safe[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _atomic_save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, array)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk: leave no stray temporary file behind
        tmp.unlink(missing_ok=True)
        raise


def prepare_one(ref: ImageRef, scales: list[int], cache_dir: Path) -> tuple[dict[int, str | None], float]:
    """Worker: compute and cache GT/LR of one image at every scale. Returns errors and seconds."""
    start = time.perf_counter()
    _task_setup()
    errors = _prepare_scales(ref, scales, cache_dir)
    return errors, time.perf_counter() - start


def _prepare_scales(ref: ImageRef, scales: list[int], cache_dir: Path) -> dict[int, str | None]:
    errors: dict[int, str | None] = {}
    todo = [s for s in scales if not all(p.exists() for p in _pair_paths(ref, s, cache_dir))]
    if todo:
        try:
            # Y once for every scale: modcrop commutes with the per-pixel rgb2y, and
            # prepare_gt_lr takes a 2-D uint8 image as its Y.
            image = imaging.rgb2y(ref.load())
        except (ValueError, OSError) as exc:
            return {s: f"unreadable: {exc}" for s in scales}
        for scale in todo:
            try:
                gt, lr = imaging.prepare_gt_lr(image, scale)
            except ValueError as exc:
                errors[scale] = str(exc)
                continue
            gt_path, lr_path = _pair_paths(ref, scale, cache_dir)
            _atomic_save(lr_path, lr)
            _atomic_save(gt_path, imaging.quantize_unit(gt))
    return errors


def score(gt: np.ndarray, sr: np.ndarray, scale: int, names: tuple[str, ...]) -> dict[str, float]:
    """docs/protocol.md steps 6-7 on uint8 images: shave ``scale`` pixels, then each metric.

    Returns the metric values and ``<metric>_seconds`` for the stage split.
    """
    return score_outputs(gt, [sr], scale, names)[0]


def score_outputs(gt: np.ndarray, outputs: list[np.ndarray], scale: int,
                  names: tuple[str, ...]) -> list[dict[str, float]]:
    """:func:`score` of several outputs (e.g. one per method) against one GT.

    The reference-side work of the metrics (:class:`benchmark.metrics.Reference`) is done once
    and charged to the first output's ``<metric>_seconds``; the values are those of
    :func:`score` to the last bit.
    """
    _task_setup()
    # One output gains nothing from keeping SSIM's stripes, and keeping them costs fresh
    # memory per stripe.
    ref = metrics.Reference(imaging.shave(gt, scale), keep_ssim=len(outputs) > 1)
    return [_score_one(ref, imaging.shave(sr, scale), names) for sr in outputs]


def _score_one(ref: metrics.Reference, out: np.ndarray,
               names: tuple[str, ...]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name in METRICS:
        if name not in names:
            values[name] = np.nan
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the harness reports missing IFC itself
            values[name] = float(getattr(metrics, name)(ref, out))
        values[f"{name}_seconds"] = time.perf_counter() - start
    for name in extended_names(names):
        values[name] = extmetrics.compute(name, ref.image, out)
    return values


def extended_names(names: tuple[str, ...]) -> list[str]:
    """The sewar metrics among ``names`` (:mod:`benchmark.extmetrics`), in order."""
    return [name for name in names if name in extmetrics.EXTENDED]
