"""Evaluation protocols as named objects.

A protocol says how a ground-truth image and a super-resolved image become the two Y planes
that the metrics compare, how many border pixels are shaved, and which metric functions are
fed with them. Every result row records the name of the protocol that produced it, and
numbers of different protocols are never averaged together (``results.GROUP`` holds
``protocol``).

* ``drrn-matlab-v1`` (docs/protocol.md, the suite's own protocol): Y is MATLAB ``rgb2ycbcr``
  on the uint8 image, i.e. uint8; metrics on the shaved uint8 Y planes. The harness's ``run``
  always uses it.
* ``matlab-float-y-v1``: the EDSR/RCAN ``Evaluate_PSNR_SSIM.m`` evaluation. Y is
  ``single(rgb2ycbcr(im2double(img)))``, multiplied by 255 in single precision and never
  rounded to integers; metrics on the shaved float Y planes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from benchmark import PROTOCOL, extmetrics, imaging, metrics
from benchmark.registry import lookup

__all__ = [
    "EXPLAIN_ORDER",
    "METRICS",
    "Protocol",
    "UnknownProtocolError",
    "get_protocol",
    "list_protocols",
]

#: Metric names in the order of the result columns; each maps to ``benchmark.metrics.<name>``.
METRICS = ("psnr", "ssim", "ifc")


class UnknownProtocolError(KeyError):
    """Raised for a protocol name that is not registered; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain line
        return str(self.args[0])


def _default_metrics() -> Mapping[str, Callable[[np.ndarray, np.ndarray], float]]:
    return MappingProxyType({name: getattr(metrics, name) for name in METRICS})


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol.

    Attributes
    ----------
    name : str
        The name stored in every result row, e.g. ``"drrn-matlab-v1"``.
    description : str
        One line for listings and ``--help``.
    gt_y : callable
        ``gt_y(img_uint8, scale) -> ndarray (H', W')``: the ground truth's Y plane on the
        0-255 scale, modcropped to a multiple of ``scale``. ``img_uint8`` is what
        :func:`benchmark.imaging.read_image` returns.
    sr_y : callable
        ``sr_y(img_uint8) -> ndarray (H, W)``: the Y plane of a super-resolved image file
        (RGB, or single-channel used directly), on the 0-255 scale.
    shave : callable
        ``shave(scale) -> int``: border pixels removed from every side before the metrics.
    y_dtype : str
        How the metrics are fed: ``"uint8"`` (integer Y) or ``"float32x255"`` (single-precision
        Y times 255, not rounded). The metrics always compute in float64.
    metrics : mapping
        Metric name -> ``f(reference, test) -> float`` on 2-D arrays, reference first.
    crop_sr : bool
        True when :attr:`gt_y` crops to a coarser multiple than ``scale`` (``modcrop12-v1``):
        the SR Y is then cropped to the GT's size at the top left before the metrics.
    """

    name: str
    description: str
    gt_y: Callable[[np.ndarray, int], np.ndarray]
    sr_y: Callable[[np.ndarray], np.ndarray]
    shave: Callable[[int], int]
    y_dtype: str
    metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] = field(
        default_factory=_default_metrics
    )
    crop_sr: bool = False

    def score(
        self, gt: np.ndarray, sr: np.ndarray, scale: int, names: tuple[str, ...] = METRICS
    ) -> dict[str, float]:
        """Shave both Y planes and compute the metrics in ``names`` (NaN for the others).

        Parameters
        ----------
        gt, sr : ndarray, shape (H, W)
            Outputs of :attr:`gt_y` and :attr:`sr_y`; same shape.
        scale : int
            SR factor; the border removed is ``self.shave(scale)``.
        names : tuple of str
            Metrics to compute, a subset of ``self.metrics``.

        Returns
        -------
        dict
            ``{metric: value}`` for every key of ``self.metrics``, plus
            ``<metric>_seconds`` for those computed. Warnings of the metrics (IFC on an
            image under 72 px gives NaN) are silenced: the caller reports missing values.
        """
        if gt.shape != sr.shape:
            raise ValueError(f"Y planes differ in size: {gt.shape} vs {sr.shape}")
        border = self.shave(scale)
        ref, out = imaging.shave(gt, border), imaging.shave(sr, border)
        values: dict[str, float] = {}
        for name, func in self.metrics.items():
            if name not in names:
                values[name] = float("nan")
                continue
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values[name] = float(func(ref, out))
            values[f"{name}_seconds"] = time.perf_counter() - start
        for name in names:
            if name in extmetrics.EXTENDED and name not in self.metrics:
                values[name] = extmetrics.compute(name, ref, out)
        return values


# ------------------------------------------------------------------------- drrn-matlab-v1
def _uint8_y(img: np.ndarray) -> np.ndarray:
    """docs/protocol.md step 1: uint8 Y of MATLAB ``rgb2ycbcr``; single-channel images as is."""
    return imaging.rgb2y(img)


def _uint8_gt_y(img: np.ndarray, scale: int) -> np.ndarray:
    """docs/protocol.md steps 1-2, 5: the uint8 Y, modcropped (``quantize_unit(Y/255)`` is Y)."""
    return imaging.modcrop(imaging.rgb2y(img), scale)


# ---------------------------------------------------------------------- matlab-float-y-v1
def _float_y(img: np.ndarray) -> np.ndarray:
    """``single(rgb2ycbcr(im2double(img)))(:,:,1) * 255`` in single precision, as float64.

    Single-channel images: ``single(im2double(img)) * 255``. The cast to single matters at
    the 1e-6 dB level (Set5 butterfly x2), so it is reproduced exactly.
    """
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    unit = img.astype(np.float64) / 255.0  # im2double
    y = unit if img.ndim == 2 else imaging.rgb2ycbcr(unit)[:, :, 0]
    return (y.astype(np.float32) * np.float32(255.0)).astype(np.float64)


def _float_gt_y(img: np.ndarray, scale: int) -> np.ndarray:
    return _float_y(imaging.modcrop(np.asarray(img), scale))


def _shave_scale(scale: int) -> int:
    return int(scale)


# ------------------------------------------------------------------- variants (score --explain)
# Each variant is drrn-matlab-v1 with one step done as some published code does it instead;
# ``score --explain`` rescores the same SR images under all of them (docs/protocol.md,
# "Explainer variants").
def _float64_y(img: np.ndarray) -> np.ndarray:
    """The drrn-matlab-v1 Y sum in float64, not rounded (single-channel images as float)."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return img.astype(np.float64)
    return imaging.rgb2ycbcr(img.astype(np.float64) / 255.0)[:, :, 0] * 255.0


def _float64_gt_y(img: np.ndarray, scale: int) -> np.ndarray:
    return _float64_y(imaging.modcrop(np.asarray(img), scale))


def _formula_y(coeffs: tuple[float, float, float], offset: float, divisor: float,
               rounded: bool) -> Callable[[np.ndarray], np.ndarray]:
    """``Y = offset + (c0 R + c1 G + c2 B) / divisor`` on the 0-255 scale, optionally rounded
    half away from zero to uint8; single-channel images are used as they are."""

    def y(img: np.ndarray) -> np.ndarray:
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        if img.ndim == 2:
            return img if rounded else img.astype(np.float64)
        rgb = img.astype(np.float64)
        value = offset + (coeffs[0] * rgb[..., 0] + coeffs[1] * rgb[..., 1]
                          + coeffs[2] * rgb[..., 2]) / divisor
        return imaging.to_uint8(value) if rounded else value

    return y


def _gt_of(sr_y: Callable[[np.ndarray], np.ndarray],
           multiple: Callable[[int], int] = int) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda img, scale: sr_y(imaging.modcrop(np.asarray(img), multiple(scale)))


def _rgb(img: np.ndarray) -> np.ndarray:
    """The uint8 image itself (RGB, or gray as it is): RGB PSNR compares all channels."""
    img = np.asarray(img)
    return img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img


def _per_channel(func: Callable[[np.ndarray, np.ndarray], float],
                 pooled: bool) -> Callable[[np.ndarray, np.ndarray], float]:
    """A 2-D metric applied to (H, W, C) images: on the channels side by side (``pooled``: one
    MSE over all values, for PSNR) or per channel and averaged (SSIM); 2-D input as is."""

    def metric(ref: np.ndarray, out: np.ndarray) -> float:
        if ref.ndim == 2:
            return func(ref, out)
        if pooled:
            return func(ref.reshape(ref.shape[0], -1), out.reshape(out.shape[0], -1))
        return float(np.mean([func(ref[..., c], out[..., c]) for c in range(ref.shape[2])]))

    return metric


def _nan_metric(ref: np.ndarray, out: np.ndarray) -> float:
    return float("nan")


_Y_64738 = _formula_y((64.738, 129.057, 25.064), 16.0, 256.0, rounded=False)
_Y_JPEG = _formula_y((0.299, 0.587, 0.114), 0.0, 1.0, rounded=True)
_RGB_METRICS = MappingProxyType({"psnr": _per_channel(metrics.psnr, pooled=True),
                                 "ssim": _per_channel(metrics.ssim, pooled=False),
                                 "ifc": _nan_metric})

_VARIANTS = (
    Protocol(name="sr-unquantised-v1",
             description="variant: SR Y not rounded (float64 rgb2ycbcr of the SR image), GT "
             "uint8 Y as drrn-matlab-v1: no quantisation of the output's Y",
             gt_y=_uint8_gt_y, sr_y=_float64_y, shave=_shave_scale, y_dtype="mixed"),
    Protocol(name="float64-y-v1",
             description="variant: Y of both images in float64, not rounded (no single cast)",
             gt_y=_float64_gt_y, sr_y=_float64_y, shave=_shave_scale, y_dtype="float64"),
    Protocol(name="no-shave-v1", description="variant: drrn-matlab-v1 without the border shave",
             gt_y=_uint8_gt_y, sr_y=_uint8_y, shave=lambda scale: 0, y_dtype="uint8"),
    Protocol(name="shave-s+6-v1",
             description="variant: drrn-matlab-v1 with a border of scale + 6 pixels shaved",
             gt_y=_uint8_gt_y, sr_y=_uint8_y, shave=lambda scale: int(scale) + 6,
             y_dtype="uint8"),
    Protocol(name="modcrop12-v1",
             description="variant: GT cropped to a multiple of 12 (SR cropped alike), else "
             "drrn-matlab-v1", gt_y=_gt_of(_uint8_y, lambda scale: 12), sr_y=_uint8_y,
             shave=_shave_scale, y_dtype="uint8", crop_sr=True),
    Protocol(name="y-64.738-v1",
             description="variant: Y = 16 + (64.738 R + 129.057 G + 25.064 B)/256, float, not "
             "rounded (the widespread mistyped formula)", gt_y=_gt_of(_Y_64738),
             sr_y=_Y_64738, shave=_shave_scale, y_dtype="float64"),
    Protocol(name="jpeg-y-v1",
             description="variant: full-range (JPEG) Y = 0.299 R + 0.587 G + 0.114 B, rounded "
             "to uint8", gt_y=_gt_of(_Y_JPEG), sr_y=_Y_JPEG, shave=_shave_scale,
             y_dtype="uint8"),
    Protocol(name="rgb-v1",
             description="variant: PSNR over the R, G, B values, SSIM the mean of the three "
             "channels' SSIM, no IFC", gt_y=_gt_of(_rgb), sr_y=_rgb, shave=_shave_scale,
             y_dtype="uint8", metrics=_RGB_METRICS),
)

_PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name=PROTOCOL,
            description="DRRN/VDSR MATLAB test code: uint8 Y of rgb2ycbcr, shave s, PSNR, "
            "ssim_index, ifcvec on uint8 Y (docs/protocol.md)",
            gt_y=_uint8_gt_y,
            sr_y=_uint8_y,
            shave=_shave_scale,
            y_dtype="uint8",
        ),
        Protocol(
            name="matlab-float-y-v1",
            description="EDSR/RCAN Evaluate_PSNR_SSIM.m: Y = single(rgb2ycbcr(im2double(img)))"
            "*255, not rounded; shave s; PSNR, ssim_index (and ifcvec) on float Y",
            gt_y=_float_gt_y,
            sr_y=_float_y,
            shave=_shave_scale,
            y_dtype="float32x255",
        ),
        *_VARIANTS,
    )
}

#: The protocols ``score --explain`` compares, in table order: the two named ones first.
EXPLAIN_ORDER = (PROTOCOL, "matlab-float-y-v1", *(v.name for v in _VARIANTS))


def list_protocols() -> list[Protocol]:
    """All registered protocols, the suite's own (``benchmark.PROTOCOL``) first."""
    return sorted(_PROTOCOLS.values(), key=lambda p: (p.name != PROTOCOL, p.name))


def get_protocol(name: str) -> Protocol:
    """The protocol registered as ``name`` (case-insensitive).

    Raises
    ------
    UnknownProtocolError
        One line naming the closest known names and listing all of them.
    """
    return lookup(_PROTOCOLS, name, "protocol", UnknownProtocolError)
