"""Image I/O, colour conversion and MATLAB-exact resizing for the ``drrn-matlab-v1`` protocol.

Everything here reproduces the MATLAB behaviour that the published SR tables depend on
(``imread``, ``rgb2ycbcr``, ``imresize(..., 'bicubic')``, ``uint8`` rounding); see
``docs/protocol.md`` steps 1-5. All functions are pure and take / return numpy arrays.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import sparse

__all__ = [
    "ImageReadError",
    "imresize",
    "min_side",
    "modcrop",
    "prepare_pair",
    "quantize_unit",
    "read_image",
    "rgb2y",
    "rgb2ycbcr",
    "round_half_away",
    "shave",
    "to_uint8",
    "write_image",
    "ycbcr2rgb",
]

PathLike = str | os.PathLike[str]


class ImageReadError(ValueError):
    """An image file that cannot be used under the protocol (corrupt, truncated, not 8-bit...)."""


# --------------------------------------------------------------------------------------------
# Rounding and cropping
# --------------------------------------------------------------------------------------------


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """Round to the nearest integer, ties away from zero (MATLAB ``round``).

    Parameters
    ----------
    x : array_like of float
        Any shape.

    Returns
    -------
    ndarray of float64
        Same shape as ``x``. NaN and +-inf are returned unchanged.

    Notes
    -----
    ``np.round`` rounds ties to even, and ``floor(x + 0.5)`` is wrong for
    ``x = 0.49999999999999994`` (the addition rounds up to 1.0). ``x - trunc(x)`` is exact
    in floating point, so comparing it with 0.5 decides every case correctly.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf for infinite input
        return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0.0)


#: 0.5 - 2^-54, the largest double below 0.5: ``floor(y + _HALF_DOWN)`` rounds every y in
#: [0, 255] half up exactly (see :func:`_round_to_uint8`).
_HALF_DOWN = 0.49999999999999994


def _round_to_uint8(y: np.ndarray) -> np.ndarray:
    """Round float64 values in [0, 255] half up to uint8; ``y`` is overwritten.

    ``floor(y + 0.5)`` is wrong for y = 0.49999999999999994 (the sum rounds up to 1.0).
    With c = 0.5 - 2^-54 it is right for every double in [0, 255]: a tie y = k + 0.5 sums to
    k + 1 - 2^-54, which rounds to k + 1 (half an ulp there is >= 2^-54); below a tie, y <=
    k + 0.5 - ulp(y), so the sum is nearer k + 1 - ulp(y) than k + 1 (or below 0.75 when
    y < 0.25); above a tie, ulp(y) > 2^-54 puts the sum past k + 1. The cast truncates,
    i.e. floors, these non-negative sums. Checked against exact rational arithmetic in the
    tests; two passes over the image where a fraction test takes five.
    """
    y += _HALF_DOWN
    return y.astype(np.uint8)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Convert values on the 0-255 scale to uint8 like MATLAB ``uint8(x)``.

    Parameters
    ----------
    x : array_like of float
        Any shape, nominally in [0, 255].

    Returns
    -------
    ndarray of uint8
        Same shape; rounded half away from zero, saturated to [0, 255], NaN -> 0.
    """
    y = np.fmax(np.asarray(x, dtype=np.float64), 0.0)  # a new array; fmax maps NaN to 0
    np.fmin(y, 255.0, out=y)
    return _round_to_uint8(y)


def quantize_unit(x: np.ndarray) -> np.ndarray:
    """Quantise an image on the [0, 1] scale to uint8 (docs/protocol.md step 5).

    Parameters
    ----------
    x : array_like of float
        Any shape, nominally in [0, 1].

    Returns
    -------
    ndarray of uint8
        ``to_uint8(clip(x, 0, 1) * 255)``, same shape; NaN -> 0.
    """
    # clip(x * 255, 0, 255) is clip(x, 0, 1) * 255 bit for bit (1 * 255 is exact), one
    # pass fewer; fmax, unlike clip, maps NaN to 0.
    y = np.multiply(x, 255.0, dtype=np.float64)
    np.fmax(y, 0.0, out=y)
    np.fmin(y, 255.0, out=y)
    return _round_to_uint8(y)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom and right so that height and width are multiples of ``scale``.

    Parameters
    ----------
    img : ndarray, shape (H, W) or (H, W, C)
    scale : int
        Positive integer.

    Returns
    -------
    ndarray, shape (H - H % scale, W - W % scale[, C])
        A view of ``img`` (top-left part), same dtype.
    """
    scale = _check_int(scale, "scale")
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from every side (MATLAB ``x(b+1:end-b, b+1:end-b)``).

    Parameters
    ----------
    img : ndarray, shape (H, W) or (H, W, C)
    border : int
        Non-negative; 0 returns ``img`` unchanged.

    Returns
    -------
    ndarray, shape (H - 2*border, W - 2*border[, C])
        A view of ``img``, same dtype.

    Raises
    ------
    ValueError
        If nothing would be left.
    """
    border = _check_int(border, "border", minimum=0)
    h, w = img.shape[:2]
    if h <= 2 * border or w <= 2 * border:
        raise ValueError(f"cannot shave {border} px from a {h}x{w} image")
    if border == 0:
        return img
    return img[border : h - border, border : w - border]


def _check_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Colour conversion (MATLAB rgb2ycbcr / ycbcr2rgb)
# --------------------------------------------------------------------------------------------

# Poynton's ITU-R BT.601 matrix for RGB in [0, 1] -> YCbCr in [16, 235/240], as in MATLAB.
_YCBCR_T = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def _lincomb(img: np.ndarray, coeffs: Sequence[float], offset: float) -> np.ndarray:
    """``c0*A0 + c1*A1 + c2*A2 + offset`` over the channels of ``img`` (H, W, 3), in float64
    and evaluated left to right, like MATLAB ``imlincomb``."""
    out = coeffs[0] * img[..., 0].astype(np.float64)
    for c in (1, 2):
        out += coeffs[c] * img[..., c].astype(np.float64)
    out += offset
    return out


def _check_rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {img.shape}")
    if img.dtype != np.uint8 and not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"expected uint8 or float input, got {img.dtype}")
    return img


def rgb2ycbcr(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr``.

    Parameters
    ----------
    img : ndarray, shape (H, W, 3)
        uint8 RGB in [0, 255], or float RGB in [0, 1].

    Returns
    -------
    ndarray, shape (H, W, 3)
        uint8 input: uint8 YCbCr, Y in [16, 235], Cb/Cr in [16, 240]. Each channel is
        ``(t0/255)*R + (t1/255)*G + (t2/255)*B + offset`` evaluated left to right in float64
        (docs/protocol.md step 1), then rounded half away from zero. The evaluation order
        matters: other orders round differently on a few pixels of Set5 butterfly and Set14
        monarch.
        Float input: float64 YCbCr, Y in [16/255, 235/255], Cb/Cr in [16/255, 240/255].
    """
    img = _check_rgb(img)
    is_uint8 = img.dtype == np.uint8
    channels = []
    for row, offset in zip(_YCBCR_T, _YCBCR_OFFSET):
        coeffs = [t / 255.0 for t in row]
        chan = _lincomb(img, coeffs, offset if is_uint8 else offset / 255.0)
        channels.append(to_uint8(chan) if is_uint8 else chan)
    return np.stack(channels, axis=-1)


def rgb2y(img: np.ndarray) -> np.ndarray:
    """The Y channel of MATLAB ``rgb2ycbcr`` on uint8 input (docs/protocol.md step 1).

    Parameters
    ----------
    img : ndarray of uint8, shape (H, W, 3), (H, W) or (H, W, 1)
        RGB, or a single-channel image that is used as Y directly.

    Returns
    -------
    ndarray of uint8, shape (H, W)
        For RGB: ``round_half_away((65.481/255)*R + (128.553/255)*G + (24.966/255)*B + 16)``.
        A single-channel input is returned as is (2-D).
    """
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"rgb2y expects a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    coeffs = [t / 255.0 for t in _YCBCR_T[0]]
    return to_uint8(_lincomb(_check_rgb(img), coeffs, _YCBCR_OFFSET[0]))


def ycbcr2rgb(img: np.ndarray) -> np.ndarray:
    """MATLAB ``ycbcr2rgb``, the inverse of :func:`rgb2ycbcr`.

    Parameters
    ----------
    img : ndarray, shape (H, W, 3)
        uint8 YCbCr (Y in [16, 235], Cb/Cr in [16, 240]) or float YCbCr on the [0, 1] scale.

    Returns
    -------
    ndarray, shape (H, W, 3)
        uint8 input: uint8 RGB (rounded half away from zero, saturated). Float input: float64
        RGB clipped to [0, 1], as MATLAB does (checked on the pytorch-vdsr ``.mat`` data).
    """
    img = _check_rgb(img)
    is_uint8 = img.dtype == np.uint8
    tinv = np.linalg.inv(_YCBCR_T)
    # MATLAB: T = 255*inv(T0); offset = s*inv(T0)*[16;128;128], s = 255 for uint8, 1 for double
    coeffs = 255.0 * tinv
    offsets = ((255.0 if is_uint8 else 1.0) * tinv) @ _YCBCR_OFFSET
    channels = [_lincomb(img, coeffs[p], -offsets[p]) for p in range(3)]
    rgb = np.stack(channels, axis=-1)
    return to_uint8(rgb) if is_uint8 else np.clip(rgb, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# MATLAB imresize (bicubic)
# --------------------------------------------------------------------------------------------


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys' cubic convolution kernel with a = -0.5, written exactly as MATLAB's cubic().
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (
        -0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2
    ) * ((1 < absx) & (absx <= 2))


@functools.lru_cache(maxsize=512)
def _contributions(
    in_len: int, out_len: int, scale: float, border: str = "symmetric"
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and 0-based input indices, each (out_len, taps), of MATLAB ``contributions``."""
    kernel_width = 4.0
    if scale < 1:
        # Antialiasing: a kernel stretched by 1/scale (MATLAB h = @(x) scale*cubic(scale*x)).
        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)

        kernel_width = kernel_width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(np.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)
    weights = kernel(u[:, None] - indices)
    # Row sums added left to right; another order would change the weights by an ulp at most.
    total = weights[:, 0].copy()
    for k in range(1, taps):
        total += weights[:, k]
    weights = weights / total[:, None]
    indices = indices.astype(np.int64) - 1  # MATLAB's 1-based indices, 0-based from here on
    if border == "symmetric":
        # Mirror with the edge pixel repeated: aux = [1:in, in:-1:1] in MATLAB.
        aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
        indices = aux[np.mod(indices, 2 * in_len)]
    elif border == "replicate":
        # Clamped indices, min(max(1, indices), in_length): the rule of the MATLAB release
        # that made the RCAN and SelfExSR LR files.
        indices = np.clip(indices, 0, in_len - 1)
    else:
        raise ValueError(f"border must be 'symmetric' or 'replicate', got {border!r}")
    keep = np.any(weights != 0, axis=0)
    weights = np.ascontiguousarray(weights[:, keep])
    indices = np.ascontiguousarray(indices[:, keep])
    weights.flags.writeable = False
    indices.flags.writeable = False
    return weights, indices


@functools.lru_cache(maxsize=512)
def _resize_matrix(in_len: int, out_len: int, scale: float, border: str) -> sparse.csr_matrix:
    """The 1-D resize as a sparse (out_len, in_len) matrix, one stored entry per tap.

    The CSR arrays are built directly, so duplicate column indices (mirrored taps) are kept
    and each output is accumulated tap by tap in MATLAB's order: uint8 ties round as in
    MATLAB.
    """
    weights, indices = _contributions(in_len, out_len, scale, border)
    taps = weights.shape[1]
    indptr = np.arange(0, out_len * taps + 1, taps, dtype=np.int64)
    return sparse.csr_matrix(
        (weights.ravel(), indices.ravel(), indptr), shape=(out_len, in_len), copy=True
    )


def _transpose(x: np.ndarray) -> np.ndarray:
    # cv2's blocked transpose is ~3x faster than np.ascontiguousarray(x.T) on large images.
    return cv2.transpose(x)


def _resize_plane(
    x: np.ndarray, mats: dict[int, sparse.csr_matrix], order: list[int], is_uint8: bool
) -> np.ndarray:
    """Resize one C-contiguous float64 plane, axes in ``order``."""
    transposed = False
    for axis in order:
        if (axis == 1) != transposed:
            x = _transpose(x)
            transposed = not transposed
        x = mats[axis] @ x
        if is_uint8:
            x = to_uint8(x).astype(np.float64)
    return _transpose(x) if transposed else x


def imresize(
    img: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    border: str = "symmetric",
) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` / ``imresize(img, [rows cols], 'bicubic')``.

    Parameters
    ----------
    img : ndarray, shape (H, W) or (H, W, C)
        uint8, or float (any range; converted to float64).
    scale : float, optional
        Resize factor for both axes; the output is ``ceil(H*scale) x ceil(W*scale)``.
    output_shape : (int, int), optional
        Output (rows, cols); the per-axis factor is then ``out/in``. Give exactly one of
        ``scale`` and ``output_shape``.
    border : {'symmetric', 'replicate'}
        How out-of-range input indices are mapped. ``'symmetric'`` (mirror, edge pixel
        repeated; the default) is what docs/protocol.md step 3 prescribes; it matches the
        ``pytorch-vdsr`` ``.mat`` data to 1e-13 and Octave's imresize (the golden pairs)
        bit for bit. ``'replicate'`` (indices clamped) is the rule of the MATLAB release that
        made the RCAN and SelfExSR LR files: it reproduces every pixel of them, whereas
        ``'symmetric'`` differs within 3 LR pixels of the border there.

    Returns
    -------
    ndarray, shape (rows, cols[, C])
        float64 for float input (no rounding, no clipping); uint8 for uint8 input, rounded
        half away from zero and saturated after each 1-D pass, as MATLAB does.

    Notes
    -----
    Cubic kernel with a = -0.5, antialiasing when shrinking (kernel widened by 1/scale),
    MATLAB's index computation and border handling, all-zero weight columns dropped,
    the axis with the smaller factor resized first (rows first on ties). Each 1-D pass is a
    product with a sparse weight matrix cached per (in_len, out_len, scale, border); each
    output sums its taps left to right, as MATLAB does.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {img.shape}")
    is_uint8 = img.dtype == np.uint8
    if not is_uint8 and not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"imresize supports uint8 and float images, got {img.dtype}")
    in_shape = img.shape[:2]
    if min(in_shape) < 1:
        raise ValueError(f"cannot resize an empty image of shape {img.shape}")
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    if scale is not None:
        scale = float(scale)
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a positive number, got {scale}")
        scales = (scale, scale)
        out_shape = tuple(int(np.ceil(n * scale)) for n in in_shape)
    else:
        assert output_shape is not None
        if len(output_shape) != 2:
            raise ValueError(f"output_shape must be (rows, cols), got {output_shape!r}")
        out_shape = tuple(_check_int(n, "output_shape entry") for n in output_shape)
        scales = (out_shape[0] / in_shape[0], out_shape[1] / in_shape[1])

    # MATLAB [~, order] = sort(scale): the smaller factor first, a stable sort on ties.
    order = sorted(range(2), key=lambda a: scales[a])
    mats = {a: _resize_matrix(in_shape[a], out_shape[a], scales[a], border) for a in range(2)}
    planes = [img] if img.ndim == 2 else [img[:, :, c] for c in range(img.shape[2])]
    out = [
        _resize_plane(np.ascontiguousarray(p, dtype=np.float64), mats, order, is_uint8)
        for p in planes
    ]
    result = out[0] if img.ndim == 2 else np.stack(out, axis=-1)
    return result.astype(np.uint8) if is_uint8 else result


# --------------------------------------------------------------------------------------------
# Image files
# --------------------------------------------------------------------------------------------


def _high_bit_depth(im: Image.Image) -> str | None:
    """A description such as "16-bit" when the file holds more than 8 bits per sample."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return "16-bit"
    if im.mode == "I":
        return "32-bit integer"
    if im.mode == "F":
        return "floating-point"
    # Pillow silently narrows 16-bit RGB(A)/LA PNGs and TIFFs to 8 bits; the raw mode of the
    # decoder still says what the file holds.
    for tile in getattr(im, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and (";16" in rawmode or rawmode.startswith("I;16")):
            return "16-bit"
        if isinstance(rawmode, str) and (";32" in rawmode or rawmode.startswith("F")):
            return "32-bit"
    return None


def _palette_to_array(im: Image.Image) -> np.ndarray:
    index = np.asarray(im.getchannel(0) if im.mode == "PA" else im)
    palette = np.asarray(im.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette[:256]
    used = lut[np.unique(index)]
    if np.all(used[:, 0] == used[:, 1]) and np.all(used[:, 1] == used[:, 2]):
        return lut[:, 0][index]
    return lut[index]


def read_image(path: PathLike) -> np.ndarray:
    """Read an 8-bit image file as MATLAB ``imread`` does for the protocol's test sets.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray of uint8
        (H, W) for single-channel files (grayscale, or a palette image whose used palette
        entries are gray, e.g. Set14 ``bridge.bmp``: the gray values), (H, W, 3) RGB
        otherwise. Alpha channels are dropped; CMYK/YCbCr/other colour palettes are converted
        to RGB; bilevel images become 0/255. Multi-frame files give their first frame.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageReadError
        If the file is not an image, is truncated or corrupt, has more than 8 bits per
        sample (16-bit, 32-bit or floating-point images), or has more than twice Pillow's
        ``MAX_IMAGE_PIXELS`` (a decompression bomb).

    Notes
    -----
    The EXIF orientation tag is ignored, as MATLAB ``imread`` ignores it: pixels are returned
    in stored order. A palette image with a non-gray palette gives RGB, whereas MATLAB would
    return the raw indices; no test set contains one.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            depth = _high_bit_depth(im)
            if depth is not None:
                raise ImageReadError(
                    f"{path} is a {depth} image; the drrn-matlab-v1 protocol is defined on "
                    "8-bit images"
                )
            im.load()
            mode = im.mode
            if mode == "L":
                arr = np.asarray(im)
            elif mode == "1":
                arr = np.asarray(im.convert("L"))
            elif mode in ("P", "PA"):
                arr = _palette_to_array(im)
            elif mode == "LA":
                arr = np.asarray(im.getchannel(0))
            elif mode == "RGB":
                arr = np.asarray(im)
            elif mode in ("RGBA", "RGBX"):
                arr = np.asarray(im)[:, :, :3]
            else:  # CMYK, YCbCr, LAB, HSV, RGBa, La ...
                arr = np.asarray(im.convert("RGB"))
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{path} is not a readable image file") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            f"{path} is too large to decode safely ({' '.join(str(exc).split())}); raise "
            "PIL.Image.MAX_IMAGE_PIXELS if the file is trusted") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(f"{path} is corrupt or truncated: {msg}") from exc
    return np.ascontiguousarray(arr, dtype=np.uint8)


def write_image(path: PathLike, arr: np.ndarray) -> None:
    """Write a uint8 image as PNG atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder must exist. Written as PNG whatever the suffix.
    arr : ndarray of uint8, shape (H, W), (H, W, 3) or (H, W, 4)
    """
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise TypeError(f"write_image expects uint8 (see to_uint8/quantize_unit), got {arr.dtype}")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got {arr.shape}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as fh:  # "x": never clobber; normal umask permissions
            Image.fromarray(np.ascontiguousarray(arr)).save(fh, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Protocol steps 1-3
# --------------------------------------------------------------------------------------------

#: Smallest side the protocol can evaluate at scale s: s shaved on each border (step 6) must
#: leave room for SSIM's 11x11 window (step 7).
SSIM_WINDOW = 11


def min_side(scale: int) -> int:
    """Smallest modcropped height/width accepted by :func:`prepare_pair` at ``scale``: 2*s + 11."""
    return 2 * scale + SSIM_WINDOW


def prepare_gt_lr(img_uint8: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and LR image of one test image (docs/protocol.md steps 1-3, without the
    final upscaling: :func:`prepare_pair` does that).

    Parameters
    ----------
    img_uint8 : ndarray of uint8, shape (H, W, 3) or (H, W)
        As returned by :func:`read_image`.
    scale : int
        SR factor s >= 1.

    Returns
    -------
    gt : ndarray of float64, shape (H - H % s, W - W % s)
        ``modcrop(rgb2y(img), s) / 255``, in [0, 1].
    lr : ndarray of float64, shape (gt rows / s, gt cols / s)
        ``imresize(gt, 1/s)``, not quantised.

    Raises
    ------
    ValueError
        If the modcropped image has a side shorter than ``min_side(s) = 2*s + 11``: after
        shaving s pixels per border (step 6) SSIM's 11x11 window would not fit.
    """
    scale = _check_int(scale, "scale")
    y = modcrop(rgb2y(img_uint8), scale)
    h, w = y.shape
    if min(h, w) < min_side(scale):
        raise ValueError(
            f"image of {img_uint8.shape[0]}x{img_uint8.shape[1]} px is too small for x{scale}: "
            f"the modcropped Y is {h}x{w}, each side must be at least {min_side(scale)} px "
            f"(2*scale shaved + 11 for SSIM)"
        )
    gt = y.astype(np.float64) / 255.0
    return gt, imresize(gt, 1.0 / scale)


def prepare_pair(img_uint8: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and bicubic input of one test image (docs/protocol.md steps 1-3).

    Parameters, ``gt`` and errors as :func:`prepare_gt_lr`; the second result is the ILR,
    float64 of ``gt``'s shape: ``imresize(lr, output_shape=gt.shape)``, not clipped (it can
    leave [0, 1] slightly).
    """
    gt, lr = prepare_gt_lr(img_uint8, scale)
    return gt, imresize(lr, output_shape=gt.shape)
