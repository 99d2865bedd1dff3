"""Extended image-quality metrics from sewar, on the protocol's shaved uint8 Y planes.

``--metrics`` accepts these names beside psnr, ssim and ifc. They are sewar's implementations
(:data:`LABEL` names the version), computed on exactly the planes the protocol's metrics see,
but they are not part of the MATLAB protocol and no published table uses them.

============  ==============================================================================
``msssim``    multi-scale SSIM (Wang, Simoncelli, Bovik 2003), 5 scales, Gaussian 11x11
              window sigma 1.5, peak 255; NaN for an image under 176 px (16 x 11) on a side,
              where sewar would silently drop scales
``vifp``      pixel-domain visual information fidelity (Sheikh and Bovik 2006), 4 scales;
              NaN for an image too small for the 4 scales' windows (under 41 px)
``scc``       spatial correlation coefficient of the Laplacian-filtered images, 8x8 window
============  ==============================================================================

Not offered (:data:`NOT_OFFERED` says why, and ``--metrics`` repeats it): SAM (spectral angle),
always zero on one Y channel; UQI, because sewar's ``uqi`` puts window means where the
Wang-Bovik formula has window sums (``4 (N m_xy - m_x m_y) m_x m_y / ...`` with N = 64), so it
is not the universal quality index (0.9993 where the index is 0.8895 on a test pair,
``tests/test_extmetrics.py``). An image too small for a metric (or any value sewar cannot compute)
gives NaN with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import numpy as np

__all__ = ["EXTENDED", "LABEL", "NOT_OFFERED", "MSSSIM_MIN_SIDE", "compute", "label"]

#: How every extended metric is labelled in tables and the report.
LABEL = f"sewar {version('sewar')}, not part of the MATLAB protocol"
NOT_OFFERED = {
    "sam": "sam (spectral angle) is always 0 on one Y channel",
    "uqi": "sewar's uqi is not the Wang-Bovik index (it uses window means where the formula "
           "has sums)",
}
MSSSIM_MIN_SIDE = 16 * 11  # 5 scales: four halvings, then the 11x11 window must still fit
_PEAK = 255.0


def _full_ref() -> Any:
    """sewar's metrics, imported on first use: sewar imports scipy.signal and scipy.stats
    (0.6 s), which a scoring worker of the protocol's metrics alone never needs."""
    from sewar import full_ref

    return full_ref


def _msssim(ref: np.ndarray, out: np.ndarray) -> float:
    if min(ref.shape) < MSSSIM_MIN_SIDE:
        raise ValueError(f"msssim needs a side of at least {MSSSIM_MIN_SIDE} px, got "
                         f"{ref.shape[0]}x{ref.shape[1]}")
    return float(_full_ref().msssim(ref, out, MAX=_PEAK))


def _vifp_fits(side: int) -> bool:
    """Whether every one of vifp's 4 scales keeps its 'valid' window inside a ``side`` image
    (scipy's ``convolve2d`` would otherwise swap image and window without a word)."""
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        if scale > 1:
            side = -(-(side - n + 1) // 2)  # 'valid' filtering, then every second pixel
        if side < n:
            return False
    return True


def _vifp(ref: np.ndarray, out: np.ndarray) -> float:
    if not _vifp_fits(min(ref.shape)):
        raise ValueError(f"vifp's 4 scales do not fit a {ref.shape[0]}x{ref.shape[1]} image")
    return float(_full_ref().vifp(ref, out))


#: Extended metric name -> ``f(reference, test)`` (``results.EXTENDED`` lists the same names) on float64 2-D planes on the 0-255 scale.
EXTENDED: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "msssim": _msssim,
    "vifp": _vifp,
    "scc": lambda ref, out: float(_full_ref().scc(ref, out)),
}


def label(name: str) -> str:
    """``"msssim (sewar 0.4.10, not part of the MATLAB protocol)"``."""
    return f"{name} ({LABEL})"


def compute(name: str, ref: np.ndarray, out: np.ndarray) -> float:
    """Extended metric ``name`` of two shaved Y planes (uint8 or float, 0-255 scale).

    Returns
    -------
    float
        The value, or NaN with a ``UserWarning`` when the image is too small for the metric
        or sewar gives no finite value.
    """
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(out, dtype=np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty windows: reported below as one warning
            value = EXTENDED[name](a, b)
    except (ValueError, ZeroDivisionError, IndexError) as exc:
        warnings.warn(f"{name}: not computed for a {a.shape[0]}x{a.shape[1]} image ({exc}); "
                      "NaN", UserWarning, stacklevel=2)
        return math.nan
    if not math.isfinite(value):
        warnings.warn(f"{name}: no finite value for a {a.shape[0]}x{a.shape[1]} image (too "
                      "small for its windows?); NaN", UserWarning, stacklevel=2)
        return math.nan
    return value
