"""Integrity alarms: data that is not what it claims to be, and results that look like failures.

* :func:`fingerprint`: the bicubic PSNR of a test set at x2/x3/x4 under ``drrn-matlab-v1``
  must reproduce the published bicubic row within :data:`FINGERPRINT_TOLERANCE` dB. A set
  whose "HR" images are themselves bicubic upscalings (a circulated Urban100 copy), a
  resized or recompressed copy, or a wrong set fails it, though the files may read fine.
* :func:`run_warnings`: a learned method within :data:`BICUBIC_MARGIN` dB of bicubic on a set
  (the classic silent training failure), or more than :data:`PAPER_SHORTFALL` dB below its
  published value under the same protocol.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import PROTOCOL, harness, imaging, metrics
from benchmark.data import ImageRef
from benchmark.registry import get_method

__all__ = [
    "BICUBIC_MARGIN",
    "FINGERPRINT_TOLERANCE",
    "PAPER_SHORTFALL",
    "Fingerprint",
    "bicubic_psnr",
    "fingerprint",
    "run_warnings",
]

FINGERPRINT_TOLERANCE = 0.01
BICUBIC_MARGIN = 0.1
PAPER_SHORTFALL = 0.5
SCALES = (2, 3, 4)


@dataclass(frozen=True)
class Fingerprint:
    """Bicubic PSNR of one set at one scale beside the published bicubic value."""

    dataset: str
    like: str
    scale: int
    psnr: float
    published: float

    @property
    def ok(self) -> bool:
        return abs(self.psnr - self.published) <= FINGERPRINT_TOLERANCE

    def text(self) -> str:
        return f"x{self.scale} {self.psnr:.3f} dB vs published {self.published:.2f} " \
               f"({self.psnr - self.published:+.3f})"


def bicubic_psnr(refs: Sequence[ImageRef], scales: Sequence[int], *, cache_dir: Path,
                 jobs: int = 1) -> dict[int, float]:
    """Mean per-image PSNR of MATLAB bicubic (the ILR) per scale, docs/protocol.md steps 1-7.

    GT/LR pairs come from (and go to) the harness's cache. An image that cannot be prepared
    counts as NaN, so the mean is NaN.
    """
    dataset = refs[0].dataset if refs else "-"
    pairs = harness.prepare_pairs({dataset: list(refs)}, list(scales), cache_dir=cache_dir,
                                  jobs=jobs, times=harness.StageTimes(), progress=False)
    values: dict[int, list[float]] = {s: [] for s in scales}
    for pair in pairs:
        if pair.error:
            values[pair.scale].append(math.nan)
            continue
        gt, ilr = pair.load()
        sr = imaging.quantize_unit(ilr)
        values[pair.scale].append(metrics.psnr(imaging.shave(gt, pair.scale),
                                               imaging.shave(sr, pair.scale)))
    return {s: float(np.mean(v)) if v else math.nan for s, v in values.items()}


def fingerprint(refs: Sequence[ImageRef], like: str, *, cache_dir: Path, jobs: int = 1,
                scales: Sequence[int] = SCALES) -> list[Fingerprint]:
    """The bicubic fingerprint of ``refs`` checked against the published row of set ``like``.

    Raises
    ------
    ValueError
        If ``like`` has no published bicubic value at one of ``scales``.
    """
    published = get_method("bicubic").published
    missing = [s for s in scales if (like, s) not in published]
    if missing:
        known = sorted({d for d, _ in published})
        raise ValueError(f"no published bicubic row for {like} at x{missing[0]}; "
                         f"fingerprinted sets: {', '.join(known)}")
    psnr = bicubic_psnr(refs, scales, cache_dir=cache_dir, jobs=jobs)
    dataset = refs[0].dataset if refs else like
    return [Fingerprint(dataset, like, s, psnr[s], published[(like, s)][0]) for s in scales]


def _bicubic_reference(summary: pd.DataFrame, dataset: str, scale: int) -> float:
    """Bicubic PSNR of this run's bicubic rows, else the published bicubic value."""
    rows = summary[(summary["method"] == "bicubic") & (summary["dataset"] == dataset)
                   & (summary["scale"] == scale) & (summary["protocol"] == PROTOCOL)]
    if len(rows) and np.isfinite(rows["psnr"].iloc[0]):
        return float(rows["psnr"].iloc[0])
    return get_method("bicubic").published.get((dataset, scale), (math.nan,))[0]


def run_warnings(summary: pd.DataFrame) -> list[str]:
    """One line per suspicious learned-method result of a run summary (``results.summarize``).

    Only ``drrn-matlab-v1`` rows are checked: bicubic and the published values are figures of
    that protocol.
    """
    lines = []
    for _, row in summary.iterrows():
        try:
            learned = get_method(str(row["method"])).trainable
        except KeyError:
            continue
        if not learned or row["protocol"] != PROTOCOL or not np.isfinite(row["psnr"]):
            continue
        where = (f"{row['method']} ({row['recipe']}) on {row['dataset']} x{int(row['scale'])}: "
                 f"{row['psnr']:.2f} dB")
        bicubic = _bicubic_reference(summary, row["dataset"], int(row["scale"]))
        if np.isfinite(bicubic) and row["psnr"] - bicubic < BICUBIC_MARGIN:
            lines.append(f"warning: {where} is within {BICUBIC_MARGIN} dB of bicubic "
                         f"({bicubic:.2f} dB): the model has probably not learned (a silent "
                         "training failure)")
        paper = row.get("paper_psnr", math.nan)
        if np.isfinite(paper) and paper - row["psnr"] > PAPER_SHORTFALL:
            lines.append(f"warning: {where} is {paper - row['psnr']:.2f} dB below its published "
                         f"{paper:.2f} dB (more than {PAPER_SHORTFALL} dB)")
    return lines
