"""PSNR, SSIM and IFC exactly as the MATLAB reference code computes them (docs/protocol.md step 7).

All metrics take two 2-D images on the 0-255 scale (uint8 or float), the reference first, and
compute in float64. Nothing is shaved here: callers shave (docs/protocol.md step 6).

* :func:`psnr`: ``20 log10(255 / RMSE)``.
* :func:`ssim`: Wang et al. ``ssim_index.m`` (2003/2004), not the later ``ssim.m``.
* :func:`ifc`: Sheikh et al. ``ifcvec.m`` (LIVE release) with matlabPyrTools ``buildSpyr``.

Each metric also takes a :class:`Reference` in place of the reference image: it keeps the
reference-side work of an image (SSIM's local means and energies of the reference, IFC's
reference pyramid, its GSM covariance, multipliers and window statistics), so that scoring
several methods' outputs against one ground truth computes that work once. The values are
bit-identical either way.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import cv2
import numpy as np

from benchmark import sp5

__all__ = ["IFC_MIN_SIDE", "Reference", "ifc", "psnr", "ssim"]

#: ``buildSpyr(img, 4, 'sp5Filters')`` needs a shorter side of at least 72 px (maxPyrHt).
IFC_MIN_SIDE = 72

_PEAK = 255.0


def _image(x: np.ndarray) -> np.ndarray:
    """One metric input as a C-contiguous float64 plane, checked."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {a.shape}")
    if a.dtype != np.uint8 and not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"expected uint8 or float images, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


class Reference:
    """A reference image and, computed on first use, the reference-side work of each metric.

    Parameters
    ----------
    ref : ndarray, shape (H, W)
        The reference (ground truth) on the 0-255 scale, uint8 or float.
    keep_ssim : bool, default True
        Keep SSIM's per-stripe statistics for the next output. For a single output, False:
        each stripe's statistics are then freed after use, so the next stripe's land on the
        same (cached, mapped) memory.

    Pass it to :func:`psnr`, :func:`ssim` or :func:`ifc` in place of the reference image to
    score several outputs against it: the results are the same bits as with the array, and
    the second and later outputs pay only their own side of SSIM and IFC.
    """

    def __init__(self, ref: np.ndarray, keep_ssim: bool = True) -> None:
        self.image = _image(ref)
        self.keep_ssim = keep_ssim
        self._ssim: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
        self._ifc: list[_SubbandReference] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape  # type: ignore[return-value]

    def ssim_stripe(self, index: int, top: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The local mean and the local mean of the square of the reference on SSIM stripe
        ``index`` (input rows ``top:stop``), computed on first use. Stripe by stripe, so that
        the first output's SSIM finds the reference side still in cache."""
        if not self.keep_ssim:
            return _ssim_reference_stripe(self.image[top:stop])
        if self._ssim is None:
            self._ssim = {}
        if index not in self._ssim:
            self._ssim[index] = _ssim_reference_stripe(self.image[top:stop])
        return self._ssim[index]

    def ifc_subbands(self) -> list[_SubbandReference]:
        """The 8 subbands IFC uses, finest first, with their reference statistics."""
        if self._ifc is None:
            bands = _pyramid_bands(self.image)
            self._ifc = [_subband_reference(y, lev=_IFC_LEVELS - index // 2)
                         for index, y in enumerate(bands)]
        return self._ifc


ImageOrReference = Union[np.ndarray, Reference]


def _pair(ref: ImageOrReference, out: np.ndarray) -> tuple[Reference, np.ndarray]:
    reference = ref if isinstance(ref, Reference) else Reference(ref, keep_ssim=False)
    b = _image(out)
    if reference.shape != b.shape:
        raise ValueError(f"image shapes differ: {reference.shape} vs {b.shape}")
    return reference, b


# --------------------------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------------------------


def psnr(ref: ImageOrReference, out: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, peak 255.

    Parameters
    ----------
    ref, out : ndarray, shape (H, W)
        Reference and test image on the 0-255 scale (uint8 or float); ``ref`` may be a
        :class:`Reference`.

    Returns
    -------
    float
        ``10 log10(255^2 / mean((ref - out)^2))``; ``inf`` for identical images.
    """
    reference, b = _pair(ref, out)
    mse = float(np.mean((reference.image - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(_PEAK**2 / mse))


# --------------------------------------------------------------------------------------------
# SSIM (ssim_index.m)
# --------------------------------------------------------------------------------------------

_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5


@functools.lru_cache(maxsize=1)
def _ssim_kernel() -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', 11, 1.5)``, normalised to sum 1.

    The 2-D window is ``exp(-(x^2+y^2)/(2 sigma^2))`` normalised; it equals the outer product of
    this kernel with itself up to rounding (~1e-17), which lets SSIM filter separably.
    """
    x = np.arange(_SSIM_SIZE, dtype=np.float64) - (_SSIM_SIZE - 1) / 2
    g = np.exp(-(x * x) / (2 * _SSIM_SIGMA * _SSIM_SIGMA))
    return g / g.sum()


def _filter_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(kernel' * kernel, x, 'valid')`` for a symmetric 1-D ``kernel``."""
    r = kernel.size // 2
    # The border mode is irrelevant: only outputs whose window lies inside x are kept.
    full = cv2.sepFilter2D(x, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
    return full[r:-r, r:-r]


#: Output rows of the SSIM map computed together, so that the intermediates stay in cache
#: (about 1.5x faster than whole-image arrays on a 1024x768 image).
_SSIM_STRIPE_ROWS = 96


def _ssim_stripes(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Input rows ``(top, stop)`` of each stripe of SSIM map rows (stripes share 10 rows)."""
    halo = _SSIM_SIZE - 1
    rows = shape[0] - halo
    return [(top, min(rows, top + _SSIM_STRIPE_ROWS) + halo)
            for top in range(0, rows, _SSIM_STRIPE_ROWS)]


def _ssim_reference_stripe(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference side of one stripe: local mean ``mu1`` and local mean of ``a^2``."""
    k = _ssim_kernel()
    return _filter_valid(a, k), _filter_valid(a * a, k)


def _ssim_map_sum(a: np.ndarray, b: np.ndarray, mu1: np.ndarray, mean_a2: np.ndarray) -> float:
    """Sum of the ``ssim_index.m`` SSIM map of two float64 images (all 'valid' positions),
    given the reference side of ``a`` (:func:`_ssim_reference_stripe`)."""
    c1 = (0.01 * _PEAK) ** 2
    c2 = (0.03 * _PEAK) ** 2
    k = _ssim_kernel()
    mu2 = _filter_valid(b, k)
    mu1_sq = mu1 * mu1
    mu2_sq = mu2 * mu2
    mu1_mu2 = mu1 * mu2
    sigma1_sq = mean_a2 - mu1_sq
    sigma2_sq = _filter_valid(b * b, k) - mu2_sq
    sigma12 = _filter_valid(a * b, k) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return float(np.sum(ssim_map))


def ssim(ref: ImageOrReference, out: np.ndarray) -> float:
    """Mean SSIM of Wang et al. ``ssim_index.m`` with its default parameters.

    Parameters
    ----------
    ref, out : ndarray, shape (H, W)
        Reference and test image on the 0-255 scale (uint8 or float); H, W >= 11. ``ref``
        may be a :class:`Reference` (its local statistics are then computed once).

    Returns
    -------
    float
        Mean of the SSIM map over 'valid' positions; 1.0 for identical images. NaN (with a
        warning) when the image is smaller than the 11x11 window (``ssim_index.m`` returns
        -Inf there).

    Notes
    -----
    11x11 Gaussian window, sigma 1.5, normalised; K1 = 0.01, K2 = 0.03, L = 255; 'valid'
    filtering (no padding); no automatic downsampling (that is the later ``ssim.m``).
    """
    reference, b = _pair(ref, out)
    a = reference.image
    if min(a.shape) < _SSIM_SIZE:
        warnings.warn(
            f"SSIM needs an image of at least {_SSIM_SIZE}x{_SSIM_SIZE} px, got "
            f"{a.shape[0]}x{a.shape[1]}; returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    total = 0.0
    for index, (top, stop) in enumerate(_ssim_stripes(reference.shape)):
        mu1, mean_a2 = reference.ssim_stripe(index, top, stop)
        total += _ssim_map_sum(a[top:stop], b[top:stop], mu1, mean_a2)
    halo = _SSIM_SIZE - 1
    return float(total / ((a.shape[0] - halo) * (a.shape[1] - halo)))


# --------------------------------------------------------------------------------------------
# IFC (ifcvec.m)
# --------------------------------------------------------------------------------------------

_IFC_M = 3  # GSM vectors are M x M blocks
_IFC_LEVELS = 4
_IFC_TOL = 1e-15  # vifsub_est_M's tolerance for zero variance
_IFC_SIGMA = 1e-10  # added to sigma_v^2 in ifcvec's denominator


@functools.lru_cache(maxsize=1)
def _sp5_filters() -> dict[str, np.ndarray]:
    """The ``sp5Filters`` kernels used by IFC, as correlation kernels in (row, col) order.

    From the taps embedded in :mod:`benchmark.sp5` (pyrtools' ``sp5_filters``). Only the two
    orientations IFC reads are kept: bands 0 and 3 of pyrtools, i.e. subbands 25/22 (and
    their coarser copies) of ifcvec's reversed band list.
    """
    size = math.isqrt(len(sp5.BFILTS[0]))
    # MATLAB reshapes the stored columns column-major; pyrtools' .T does the same.
    bands = [np.ascontiguousarray(np.array(sp5.BFILTS[b]).reshape(size, size).T) for b in (0, 3)]
    return {
        "lo0": np.array(sp5.LO0FILT, dtype=np.float64),
        "lo": np.array(sp5.LOFILT, dtype=np.float64),
        "band0": bands[0],
        "band3": bands[1],
    }


def _correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """matlabPyrTools ``corrDn(x, kernel, 'reflect1')``: correlation, mirror border.

    ``reflect1`` reflects about the edge pixel (the edge is not repeated), OpenCV's
    BORDER_REFLECT_101. OpenCV sums directly for kernels under 50 taps in float64 (it
    switches to a DFT at 50 and more), so callers only pass kernels of <= 49 taps.
    """
    assert kernel.size < 50
    return cv2.filter2D(x, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT_101)


def _correlate_down2(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``corrDn(x, kernel, 'reflect1', [2 2], [1 1])``: the correlation at even positions.

    Computed polyphase: the mirror-padded image and the kernel are split into their four
    (row, col) parity phases, and the output is the sum of the four 'valid' correlations of
    matching phases. This does a quarter of the work of correlating and then subsampling,
    and every phase kernel stays under OpenCV's 50-tap DFT threshold.
    """
    r = kernel.shape[0] // 2
    h, w = x.shape
    out_h, out_w = (h + 1) // 2, (w + 1) // 2
    padded = cv2.copyMakeBorder(x, r, r, r, r, cv2.BORDER_REFLECT_101)  # == reflect1
    out = np.zeros((out_h, out_w))
    for pr in (0, 1):
        for pc in (0, 1):
            phase = np.ascontiguousarray(padded[pr::2, pc::2])
            sub = np.ascontiguousarray(kernel[pr::2, pc::2])
            # anchor (0, 0): dst[i, j] = sum sub[p, q] * phase[i + p, j + q]
            full = cv2.filter2D(
                phase, cv2.CV_64F, sub, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
            )
            out += full[:out_h, :out_w]
    return out


def _pyramid_bands(img: np.ndarray) -> list[np.ndarray]:
    """The 8 subbands ifcvec uses, finest first: [(lev0, b0), (lev0, b3), (lev1, b0), ...].

    Equal (to rounding) to ``SteerablePyramidSpace(img, 4, order=5, edge_type='reflect1')``
    coefficients ``(level, band)`` of pyrtools, computing only what IFC needs.
    """
    f = _sp5_filters()
    lo = _correlate(img, f["lo0"])
    bands = []
    for level in range(_IFC_LEVELS):
        bands.append(_correlate(lo, f["band0"]))
        bands.append(_correlate(lo, f["band3"]))
        if level < _IFC_LEVELS - 1:
            lo = _correlate_down2(lo, f["lo"])
    return bands


def _block_window_sums(
    rows: Callable[[int, int], np.ndarray], win: int, first: int, count: int
) -> np.ndarray:
    """Sums over windows of ``win`` rows centred on M-blocks ``first .. first+count-1``.

    ``rows(start, n)`` returns a new array of rows ``start, start+M, ..., start+M*(n-1)`` of
    the plane, so ``out[i] = sum(plane[M*b + M//2 + t] for t in -r..r)``, b = first + i,
    r = win // 2; every window must lie inside the plane. A window is 2*q + 1 whole blocks plus
    ``e`` rows on each side (win = 3, 5, 9, 17 gives (q, e) = (0, 0), (0, 1), (1, 0), (2, 1)),
    so the sums of whole blocks are formed once and shared. All sums are direct: a running
    sum or an integral image would lose the tiny values of flat regions next to strong edges.
    """
    m = _IFC_M
    n_full, extra = divmod(win, m)
    q, e = (n_full - 1) // 2, extra // 2
    assert n_full % 2 == 1 and extra == 2 * e
    n_blocks = count + 2 * q
    base = m * (first - q)  # first row of the first whole block
    # The first and last rows of the blocks, each with one block more when e = 1: the row
    # after the last whole block and the row before the first are a window's extra rows,
    # read from these instead of being formed again (the sums are the same, in the same order).
    head = rows(base, n_blocks + e)
    tail = rows(base + m - 1 - m * e, n_blocks + e)
    blocks = head[:n_blocks] + rows(base + 1, n_blocks) if m > 2 else head[:n_blocks].copy()
    for t in range(2, m - 1):
        blocks += rows(base + t, n_blocks)
    blocks += tail[e:]
    if q == 0:
        out = blocks
    else:
        out = blocks[:count].copy()
    for d in range(1, 2 * q + 1):
        out += blocks[d : d + count]
    if e:
        out += tail[:count]
        out += head[2 * q + 1 : 2 * q + 1 + count]
    return out


def _window_sums(
    a: np.ndarray,
    b: np.ndarray | None,
    win: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> np.ndarray:
    """``win x win`` window sums of the plane ``a * b`` (``a`` when ``b`` is None) centred on
    the M-blocks of rows ``rows = (first, count)`` and columns ``cols = (first, count)``.

    The product is formed row subset by row subset inside the row pass: a full-size product
    plane would cost more memory traffic than the sums themselves.
    """
    m = _IFC_M

    def plane_rows(start: int, n: int) -> np.ndarray:
        sel = slice(start, start + m * n, m)
        return a[sel].copy() if b is None else a[sel] * b[sel]

    partial = cv2.transpose(_block_window_sums(plane_rows, win, *rows))

    def partial_rows(start: int, n: int) -> np.ndarray:
        return partial[start : start + m * n : m].copy()

    return cv2.transpose(_block_window_sums(partial_rows, win, *cols))


@dataclass(frozen=True)
class _ChunkReference:
    """The reference side of one chunk of M-blocks of a subband (:func:`_channel_params`)."""

    rows: tuple[int, int]  # (first, count) block rows
    mean_x: np.ndarray  # window means of the reference subband
    ss_x: np.ndarray  # its window sums of squared deviations, clipped at 0
    ss: np.ndarray  # GSM multipliers s^2 of the blocks


@dataclass(frozen=True)
class _SubbandReference:
    """The reference side of one IFC subband: everything ``vifsub_est_M`` and
    ``refparams_vecgsm`` compute from the reference alone."""

    y: np.ndarray  # the subband, cropped to a multiple of M
    win: int  # channel window side 2^lev + 1
    cols: tuple[int, int]  # (first, count) kept block columns
    lam: np.ndarray  # eigenvalues of C_U
    lam_products: np.ndarray | None  # _elementary_symmetric(lam)
    chunks: tuple[_ChunkReference, ...]


def _channel_params(
    ref: _ChunkReference, sum_y: np.ndarray, sum_xy: np.ndarray, sum_yy: np.ndarray, win: int
) -> tuple[np.ndarray, np.ndarray]:
    """vifsub_est_M: gain g and noise variance sigma_v^2 of the M x M blocks of one chunk,
    from ``win x win`` window sums at block centres of the distorted subband and of its
    product with the reference, and the reference's side ``ref``.

    MATLAB computes ``corrDn(., ones(win), 'reflect1', [M M], [2 2])`` for all blocks and
    ifcvec then drops the border blocks; the windows of the kept ones lie inside the subband,
    so no mirror padding is needed.
    """
    n = float(win * win)
    mean_y = sum_y / n
    cov_xy = sum_xy - n * ref.mean_x * mean_y
    ss_x = ref.ss_x
    ss_y = sum_yy - n * mean_y**2
    # The clean-ups below follow vifsub_est_M line by line; their order matters.
    ss_y[ss_y < 0] = 0
    g = cov_xy / (ss_x + _IFC_TOL)
    vv = (ss_y - g * cov_xy) / n
    low_x = ss_x < _IFC_TOL
    g[low_x] = 0
    vv[low_x] = ss_y[low_x]
    low_y = ss_y < _IFC_TOL
    g[low_y] = 0
    vv[low_y] = 0
    neg = g < 0
    vv[neg] = ss_y[neg]
    g[neg] = 0
    vv[vv <= _IFC_TOL] = _IFC_TOL
    return g, vv


def _block_covariance(y: np.ndarray) -> np.ndarray:
    """refparams_vecgsm: covariance C_U of all overlapping M x M neighbourhood vectors.

    Vector element k*M + j is ``y[u + k, v + j]``; the order is irrelevant downstream
    (eigenvalues and quadratic forms do not change under a permutation). Entry
    ((k1, j1), (k2, j2)) sums ``y[u+k1, v+j1] * y[u+k2, v+j2]`` over all positions (u, v).
    Its per-row dot products depend only on the lag (k2 - k1, j2 - j1) and on which
    ``nc = W - M + 1`` columns are summed: one pass per lag (13 for M = 3, instead of the 45
    of a plain Gram matrix) gives the row sums over all the lag's columns, and the (at most
    M - 1) columns an entry does not use are subtracted. Equal to the direct sums to about
    1e-16 relative: every dropped column is a small part of its row.
    """
    m = _IFC_M
    h, w = y.shape
    nr, nc = h - m + 1, w - m + 1
    n = nr * nc
    row_sums = [y[:, j : j + nc].sum(axis=1) for j in range(m)]
    mean = np.array([row_sums[j][k : k + nr].sum() for k in range(m) for j in range(m)]) / n
    second = np.empty((m * m, m * m))
    for dk in range(m):
        for dj in range(0 if dk == 0 else 1 - m, m):
            lo, hi = max(0, -dj), min(w, w - dj)  # columns v of y[u, v] * y[u + dk, v + dj]
            a, b = y[: h - dk, lo:hi], y[dk:, lo + dj : hi + dj]
            full = np.einsum("ij,ij->i", a, b)
            for j1 in range(max(0, -dj), min(m, m - dj)):
                d = full.copy()
                for v in (*range(lo, j1), *range(j1 + nc, hi)):  # columns outside j1 + [0, nc)
                    d -= a[:, v - lo] * b[:, v - lo]
                j2 = j1 + dj
                for k1 in range(m - dk):
                    k2 = k1 + dk
                    value = d[k1 : k1 + nr].sum()
                    second[k1 * m + j1, k2 * m + j2] = value
                    second[k2 * m + j2, k1 * m + j1] = value
    return second / n - np.outer(mean, mean)


def _gsm_multipliers(
    y: np.ndarray, inverse: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]
) -> np.ndarray:
    """refparams_vecgsm: s^2 = u' inv(C_U) u / M^2 of the non-overlapping blocks in ``rows``
    x ``cols`` (``(first, count)`` block ranges), u the block as a vector (layout of C_U)."""
    m = _IFC_M
    part = y[m * rows[0] : m * (rows[0] + rows[1]), m * cols[0] : m * (cols[0] + cols[1])]
    blocks = part.reshape(rows[1], m, cols[1], m).transpose(1, 3, 0, 2).reshape(m * m, -1)
    # einsum rather than ``@``: a multi-threaded BLAS call for this thin product costs far
    # more than it saves when the cores are busy (3x slower IFC on a loaded 2-core machine).
    weighted = np.einsum("ij,jk->ik", inverse, blocks)
    return (np.einsum("ik,ik->k", weighted, blocks) / (m * m)).reshape(rows[1], cols[1])


#: Block rows processed together, so that the per-block arrays of a subband stay in cache
#: (64: ~10% faster than 32 or 128 on Urban100 and B100 images).
_IFC_CHUNK_ROWS = 64


def _subband_reference(y: np.ndarray, lev: int) -> _SubbandReference:
    """The reference side of one subband ``y``; ``lev = ceil((subband - 1)/6)`` sets the
    channel window ``2^lev + 1``."""
    m = _IFC_M
    h, w = (y.shape[0] // m) * m, (y.shape[1] // m) * m  # crop to a multiple of M
    y = y[:h, :w]
    win = 2**lev + 1
    # ifcvec keeps the blocks more than ceil(((win-1)/2)/M) blocks away from the edges.
    border = -(-(win // 2) // m)
    n_rows, n_cols = h // m - 2 * border, w // m - 2 * border
    cov = _block_covariance(y)
    try:
        inverse = np.linalg.inv(cov)
    except np.linalg.LinAlgError:
        # An exactly flat subband (e.g. of a constant image) has C_U = 0. MATLAB's inv would
        # give Inf and IFC NaN; the pseudo-inverse gives s^2 = 0, so the subband adds nothing,
        # as the reference code does whenever rounding noise keeps C_U invertible (ifcvec of a
        # constant image is 0).
        inverse = np.linalg.pinv(cov)
    cols = (border, n_cols)
    n = float(win * win)
    chunks = []
    for first in range(border, border + n_rows, _IFC_CHUNK_ROWS):
        rows = (first, min(_IFC_CHUNK_ROWS, border + n_rows - first))
        mean_x = _window_sums(y, None, win, rows, cols) / n
        ss_x = _window_sums(y, y, win, rows, cols) - n * mean_x**2
        ss_x[ss_x < 0] = 0
        chunks.append(_ChunkReference(rows, mean_x, ss_x, _gsm_multipliers(y, inverse, rows, cols)))
    lam = np.linalg.eigvalsh(cov)
    return _SubbandReference(y, win, cols, lam, _elementary_symmetric(lam), tuple(chunks))


def _subband_information(ref: _SubbandReference, yn: np.ndarray) -> float:
    """ifcvec's sum for one subband: sum over kept blocks and eigenvalues lambda_j of C_U of
    ``log2(1 + g^2 s^2 lambda_j / (sigma_v^2 + 1e-10))``; ``yn`` the distorted subband."""
    y, win = ref.y, ref.win
    yn = yn[: y.shape[0], : y.shape[1]]
    total = 0.0
    for chunk in ref.chunks:
        sums = (_window_sums(p, q, win, chunk.rows, ref.cols)
                for p, q in ((yn, None), (y, yn), (yn, yn)))
        g, vv = _channel_params(chunk, *sums, win)
        gain = g * g
        gain *= chunk.ss
        gain /= vv + _IFC_SIGMA
        total += _log2_sum(gain, ref.lam, ref.lam_products)
    return total


#: Eigenvalues of C_U above this (all of them) let :func:`_log2_sum` multiply the factors
#: first: their products (down to lambda^9) stay far from float64's subnormals.
_PRODUCT_MIN_LAMBDA = 1e-30


def _elementary_symmetric(lam: np.ndarray) -> np.ndarray | None:
    """Coefficients e_0..e_n of prod_j (1 + x lambda_j) as a polynomial in x (e_k the k-th
    elementary symmetric polynomial of ``lam``); None when an eigenvalue is at most
    ``_PRODUCT_MIN_LAMBDA`` (a flat subband), where :func:`_log2_sum` sums per eigenvalue."""
    if lam.min() <= _PRODUCT_MIN_LAMBDA:
        return None
    coeffs = np.ones(1)
    for value in lam:
        coeffs = np.convolve(coeffs, [1.0, value])
    return coeffs


def _log2_sum(gain: np.ndarray, lam: np.ndarray, coeffs: np.ndarray | None) -> float:
    """``sum(log2(1 + gain * lambda_j))`` over all blocks and eigenvalues (ifcvec's sum, with
    ``gain = g^2 s^2 / (sigma_v^2 + 1e-10) >= 0`` per block).

    As one log2 per block of the product of its M^2 factors: the product is the polynomial
    ``coeffs`` (:func:`_elementary_symmetric`, all positive) in ``gain``, by Horner's rule.
    With positive terms only nothing cancels, so it equals the sum of the M^2 logarithms to
    about 1e-15 relative, for 2 passes per eigenvalue over the blocks instead of 5. Blocks whose
    product overflows, and subbands without ``coeffs``, sum the logarithms one by one.
    """
    if coeffs is None:
        return _log2_sum_each(gain, lam)
    with np.errstate(over="ignore"):  # an overflowing block is summed one by one below
        product = gain * coeffs[-1]
        product += coeffs[-2]
        for c in coeffs[-3::-1]:
            product *= gain
            product += c
    finite = np.isfinite(product)
    if finite.all():
        return float(np.sum(np.log2(product, out=product)))
    return float(np.sum(np.log2(product[finite]))) + _log2_sum_each(gain[~finite], lam)


def _log2_sum_each(gain: np.ndarray, lam: np.ndarray) -> float:
    """:func:`_log2_sum` one eigenvalue at a time (the reference code's form)."""
    snr = np.multiply.outer(gain, lam)
    snr += 1
    return float(np.sum(np.log2(snr, out=snr)))


def ifc(ref: ImageOrReference, out: np.ndarray) -> float:
    """Information fidelity criterion of Sheikh, Bovik and de Veciana 2005 (``ifcvec.m``).

    Parameters
    ----------
    ref, out : ndarray, shape (H, W)
        Reference and distorted image on the 0-255 scale (uint8 or float). The order
        matters: IFC is not symmetric. ``ref`` may be a :class:`Reference` (its pyramid and
        GSM statistics are then computed once).

    Returns
    -------
    float
        IFC normalised by the number of pixels ``H*W`` (the release's last line), >= 0.
        NaN, with a warning, when ``min(H, W) < 72``: the 4-level pyramid cannot be built.

    Notes
    -----
    Steerable pyramid ``buildSpyr(img, 4, 'sp5Filters', 'reflect1')``; subbands 4, 7, ..., 25
    of the reversed band list (orientations 1 and 4 of every level); M = 3 GSM vectors;
    channel gain and noise from a (2^lev + 1)^2 window, lev = ceil((subband - 1)/6), i.e. 17
    for the finest level down to 3 for the coarsest; ceil(2^(lev-1)/M) border blocks dropped;
    sum of ``log2(1 + g^2 s^2 lambda_j / (sigma_v^2 + 1e-10))``. A reference subband that is
    exactly zero contributes 0 (MATLAB would give NaN there).
    """
    reference, b = _pair(ref, out)
    if min(b.shape) < IFC_MIN_SIDE:
        warnings.warn(
            f"IFC needs a shorter side of at least {IFC_MIN_SIDE} px for its 4-level pyramid, "
            f"got {b.shape[0]}x{b.shape[1]}; returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    total = 0.0
    for sub, yn in zip(reference.ifc_subbands(), _pyramid_bands(b)):
        total += _subband_information(sub, yn)
    return float(total / b.size)
