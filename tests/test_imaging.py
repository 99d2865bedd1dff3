"""Tests of benchmark.imaging against MATLAB-made reference data and the protocol's rules.

Reference data is read in place from ``$SRBENCH_DATA`` (datasets) and
``$SRBENCH_DATA/../reference``; those tests skip when it is absent (see conftest.py).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from benchmark.imaging import (
    ImageReadError,
    imresize,
    min_side,
    modcrop,
    prepare_pair,
    quantize_unit,
    read_image,
    rgb2y,
    rgb2ycbcr,
    round_half_away,
    shave,
    to_uint8,
    write_image,
    ycbcr2rgb,
)

SET5 = ["baby", "bird", "butterfly", "head", "woman"]
SET14 = [
    "baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers",
    "foreman", "lenna", "man", "monarch", "pepper", "ppt3", "zebra",
]  # fmt: skip
SCALES = (2, 3, 4)


def hr_path(datasets: Path, dataset: str, name: str) -> Path:
    return datasets / dataset / (f"{name}_GT.bmp" if dataset == "Set5" else f"{name}.bmp")


# --------------------------------------------------------------------------------------------
# Rounding, cropping, quantisation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.5, 1.0), (1.5, 2.0), (2.5, 3.0), (254.5, 255.0), (-0.5, -1.0), (-2.5, -3.0),
        (0.49999999999999994, 0.0), (-0.49999999999999994, 0.0), (2.4999999999999996, 2.0),
        (0.5000000000000001, 1.0), (1.4999999999999998, 1.0), (-1.5000000000000002, -2.0),
        (3.0, 3.0), (-7.0, -7.0), (0.0, 0.0), (2.0**52 + 1, 2.0**52 + 1), (1e300, 1e300),
    ],
)  # fmt: skip
def test_round_half_away_values(x: float, expected: float) -> None:
    assert round_half_away(x) == expected
    assert round_half_away(np.array([x]))[0] == expected


def test_round_half_away_beats_naive_forms() -> None:
    x = 0.49999999999999994
    assert np.floor(x + 0.5) == 1.0  # the naive form is wrong here ...
    assert round_half_away(x) == 0.0  # ... this one is not
    assert np.round(2.5) == 2.0 and round_half_away(2.5) == 3.0  # numpy rounds half to even


def test_round_half_away_specials() -> None:
    out = round_half_away(np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_round_half_away_matches_exact_arithmetic(x: float) -> None:
    from fractions import Fraction

    f = Fraction(x)
    magnitude = abs(f)
    n = int(magnitude)  # floor for non-negative
    if magnitude - n >= Fraction(1, 2):
        n += 1
    assert round_half_away(x) == (n if f >= 0 else -n)


def test_to_uint8_saturates_and_rounds() -> None:
    x = np.array([-5.0, -0.5, 0.4, 0.5, 127.5, 254.49, 254.5, 255.0, 300.0, np.nan])
    out = to_uint8(x)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 0, 1, 128, 254, 255, 255, 255, 0]


@settings(max_examples=400, deadline=None)
@given(st.floats(min_value=0.0, max_value=255.0))
def test_to_uint8_rounds_half_up_exactly(x: float) -> None:
    from fractions import Fraction

    f = Fraction(x)
    n = int(f)
    assert to_uint8(np.array([x]))[0] == n + (f - n >= Fraction(1, 2))


def test_to_uint8_at_every_tie_and_its_neighbours() -> None:
    ties = np.arange(256, dtype=np.float64) + 0.5
    below, above = np.nextafter(ties, 0.0), np.nextafter(ties, 1e9)
    k = np.arange(256)
    assert to_uint8(below).tolist() == k.tolist()
    assert to_uint8(ties[:-1]).tolist() == (k[:-1] + 1).tolist()
    assert to_uint8(above[:-1]).tolist() == (k[:-1] + 1).tolist()
    assert to_uint8(np.array([0.49999999999999994, 0.25, 0.24999999999999997]))\
        .tolist() == [0, 0, 0]


def test_quantize_unit() -> None:
    x = np.array([[-0.1, 0.0, 0.5, 1.0, 1.2, 0.5 / 255]])
    out = quantize_unit(x)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 0, 128, 255, 255, 1]]


def test_modcrop_and_shave() -> None:
    img = np.arange(7 * 10 * 3).reshape(7, 10, 3)
    assert modcrop(img, 3).shape == (6, 9, 3)
    assert modcrop(img, 2).shape == (6, 10, 3)
    assert modcrop(img[:, :, 0], 4).shape == (4, 8)
    assert np.array_equal(modcrop(img, 3), img[:6, :9])  # top-left part is kept
    assert np.array_equal(shave(img, 2), img[2:-2, 2:-2])
    assert shave(img, 0) is img
    with pytest.raises(ValueError):
        shave(img, 4)
    with pytest.raises(ValueError):
        modcrop(img, 0)
    with pytest.raises(TypeError):
        modcrop(img, 2.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Colour conversion
# --------------------------------------------------------------------------------------------


def test_rgb2ycbcr_uint8_known_values() -> None:
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    ycc = rgb2ycbcr(img)
    assert ycc.dtype == np.uint8
    assert ycc[0].tolist() == [[16, 128, 128], [235, 128, 128], [81, 90, 240], [41, 240, 110]]
    assert np.array_equal(rgb2y(img), ycc[..., 0])


def test_rgb2y_single_channel_is_y() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert rgb2y(gray) is gray
    assert np.array_equal(rgb2y(gray[..., None]), gray)
    with pytest.raises(TypeError):
        rgb2y(gray.astype(np.float64))


def test_rgb2y_evaluation_order() -> None:
    """Pixels whose exact Y is a tie (x.5): only the protocol's left-to-right float64 order
    gives the golden values (Set5 butterfly and Set14 monarch hold both colours)."""
    rgb = np.array([[[146, 124, 97], [61, 39, 12]]], dtype=np.uint8)
    assert rgb2y(rgb).tolist() == [[125, 53]]
    r, g, b = rgb[0].astype(np.float64).T
    regrouped = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    assert round_half_away(regrouped).tolist() == [126, 53]


def test_ycbcr_roundtrip() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 3))
    assert np.abs(ycbcr2rgb(rgb2ycbcr(x)) - x).max() < 1e-12
    ycc = rgb2ycbcr(x)
    assert ycc[..., 0].min() >= 16 / 255 - 1e-15 and ycc[..., 0].max() <= 235 / 255 + 1e-15
    u8 = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    back = ycbcr2rgb(rgb2ycbcr(u8))
    assert back.dtype == np.uint8
    assert np.abs(back.astype(int) - u8).max() <= 2  # quantised YCbCr loses a little


def test_rgb2ycbcr_matches_matlab_mat(reference_root: Path) -> None:
    """pytorch-vdsr's butterfly_GT_x3.mat: im_gt_y = 255 * Y of rgb2ycbcr(im_gt / 255)."""
    from scipy.io import loadmat

    mat = loadmat(reference_root / "pytorch-vdsr/Set5_mat/butterfly_GT_x3.mat")
    y = rgb2ycbcr(mat["im_gt"].astype(np.float64) / 255)[..., 0] * 255
    assert np.abs(y - mat["im_gt_y"]).max() < 1e-12


def test_ycbcr2rgb_matches_matlab_mat(reference_root: Path) -> None:
    """pytorch-vdsr's im_b = 255 * ycbcr2rgb([im_b_y / 255, imresize(im_l_ycbcr Cb/Cr, 3)]);
    12 of its pixels would exceed 255 without MATLAB's clipping of double output."""
    from scipy.io import loadmat

    mat = loadmat(reference_root / "pytorch-vdsr/Set5_mat/butterfly_GT_x3.mat")
    ycc = imresize(mat["im_l_ycbcr"], 3)
    ycc[..., 0] = mat["im_b_y"] / 255
    assert np.abs(ycbcr2rgb(ycc) * 255 - mat["im_b"]).max() < 1e-12


@pytest.mark.parametrize("scale", SCALES)
def test_rgb2y_matches_golden_gt(datasets_root: Path, reference_root: Path, scale: int) -> None:
    """Golden gt PNGs hold MATLAB-order Y, modcropped. ``man`` is tested separately below."""
    golden = reference_root / "golden_metrics"
    for dataset, names in (("Set5", SET5), ("Set14", SET14)):
        for name in names:
            if name == "man":
                continue
            y = modcrop(rgb2y(read_image(hr_path(datasets_root, dataset, name))), scale)
            expected = read_image(golden / dataset / f"x{scale}" / f"{name}_gt.png")
            assert np.array_equal(y, expected), f"{dataset}/{name} x{scale}"


def test_golden_man_is_octave_gray(datasets_root: Path, reference_root: Path) -> None:
    """Set14 man.bmp is a 24-bit RGB BMP with R = G = B. MATLAB imread returns RGB (so Y goes
    through rgb2ycbcr), but Octave's imread, which made the golden PNGs, collapses it to gray:
    its golden gt is the raw gray value, not MATLAB's Y."""
    img = read_image(hr_path(datasets_root, "Set14", "man"))
    assert img.ndim == 3 and np.array_equal(img[..., 0], img[..., 1])
    golden = read_image(reference_root / "golden_metrics/Set14/x2/man_gt.png")
    assert np.array_equal(golden, modcrop(img[..., 0], 2))
    assert not np.array_equal(golden, modcrop(rgb2y(img), 2))


# --------------------------------------------------------------------------------------------
# imresize
# --------------------------------------------------------------------------------------------


def test_imresize_output_shapes() -> None:
    x = np.zeros((255, 256))
    assert imresize(x, 1 / 3).shape == (85, 86)  # ceil(in * scale)
    assert imresize(x, 2).shape == (510, 512)
    assert imresize(x, output_shape=(100, 50)).shape == (100, 50)
    assert imresize(np.zeros((5, 6, 3), np.uint8), 2).shape == (10, 12, 3)
    assert imresize(np.zeros((5, 6), np.float32), 2).dtype == np.float64
    with pytest.raises(ValueError):
        imresize(x)
    with pytest.raises(ValueError):
        imresize(x, 2, output_shape=(1, 1))
    with pytest.raises(TypeError):
        imresize(np.zeros((4, 4), np.int32), 2)
    with pytest.raises(ValueError):
        imresize(x, 2, border="wrap")


def test_imresize_colour_is_per_channel() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((20, 17, 3))
    out = imresize(x, 1 / 3)
    for c in range(3):
        assert np.array_equal(out[..., c], imresize(x[..., c], 1 / 3))


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    scale=st.sampled_from([1 / 4, 1 / 3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0]),
    value=st.floats(0, 255),
    border=st.sampled_from(["symmetric", "replicate"]),
)
def test_imresize_constant_stays_constant(
    h: int, w: int, scale: float, value: float, border: str
) -> None:
    out = imresize(np.full((h, w), value), scale, border=border)
    assert np.abs(out - value).max() <= 1e-12 * max(1.0, value)
    u8 = imresize(np.full((h, w), int(value), np.uint8), scale, border=border)
    assert np.all(u8 == int(value))


def test_imresize_matches_matlab_mat(reference_root: Path) -> None:
    """pytorch-vdsr butterfly_GT_x3.mat (MATLAB double, no rounding): im_l_y = imresize(im_gt_y,
    1/3), im_b_y = imresize(im_l_y, 3), im_l = imresize(im_gt, 1/3) on RGB doubles."""
    from scipy.io import loadmat

    mat = loadmat(reference_root / "pytorch-vdsr/Set5_mat/butterfly_GT_x3.mat")
    assert np.abs(imresize(mat["im_gt_y"], 1 / 3) - mat["im_l_y"]).max() < 1e-12
    assert np.abs(imresize(mat["im_l_y"], 3) - mat["im_b_y"]).max() < 1e-12
    rgb = mat["im_gt"].astype(np.float64)
    assert np.abs(imresize(rgb, 1 / 3) - mat["im_l"]).max() < 1e-12


def test_imresize_matches_octave_golden_pairs(reference_root: Path) -> None:
    """The golden sr PNGs are round(imresize(imresize(Y, 1/s), s)) by Octave's imresize, which
    uses the symmetric border: the default port reproduces all 114 images bit for bit."""
    golden = reference_root / "golden_metrics"
    for gt_path in sorted(golden.glob("Set*/x*/*_gt.png")):
        scale = int(gt_path.parent.name[1:])
        gt = read_image(gt_path).astype(np.float64)
        sr = read_image(gt_path.with_name(gt_path.name.replace("_gt", "_sr")))
        ilr = imresize(imresize(gt, 1 / scale), output_shape=gt.shape)
        assert np.array_equal(to_uint8(ilr), sr), gt_path


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_uint8_matches_matlab_lr(
    datasets_root: Path, reference_root: Path, scale: int
) -> None:
    """RCAN Set5 LRBI and SelfExSR Set14 LR files = MATLAB imresize(modcrop(HR), 1/s) on uint8
    RGB (rounded after each 1-D pass). The MATLAB release that made them clamps out-of-range
    indices (border='replicate'): every pixel matches. The protocol's symmetric border
    gives the same pixels except within 3 LR pixels of the image edge."""
    pairs = [
        (
            hr_path(datasets_root, "Set5", name),
            reference_root / f"RCAN/RCAN_TestCode/LR/LRBI/Set5/x{scale}/{name}_LRBI_x{scale}.png",
        )
        for name in SET5
    ]
    lr_dir = reference_root / f"SelfExSR/data/Set14/image_SRF_{scale}"
    pairs += [  # img_NNN = Set14 file names in sorted order
        (hr_path(datasets_root, "Set14", name), lr_dir / f"img_{i:03d}_SRF_{scale}_LR.png")
        for i, name in enumerate(sorted(SET14), start=1)
    ]
    for hr_file, lr_file in pairs:
        hr = modcrop(read_image(hr_file), scale)
        lr = read_image(lr_file)
        assert np.array_equal(imresize(hr, 1 / scale, border="replicate"), lr), lr_file
        sym = imresize(hr, 1 / scale)
        assert np.array_equal(sym[3:-3, 3:-3], lr[3:-3, 3:-3]), lr_file


# --------------------------------------------------------------------------------------------
# Image files
# --------------------------------------------------------------------------------------------


def write_png(path: Path, width: int, height: int, depth: int, color: int, rows: bytes) -> None:
    """A minimal PNG writer, for bit depths Pillow cannot save (16-bit RGB)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    stride = len(rows) // height
    raw = b"".join(b"\x00" + rows[i * stride : (i + 1) * stride] for i in range(height))
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_read_gray_bmp(datasets_root: Path) -> None:
    img = read_image(datasets_root / "Set14/bridge.bmp")
    assert img.dtype == np.uint8 and img.shape == (512, 512)
    rgb = read_image(datasets_root / "Set5/bird_GT.bmp")
    assert rgb.dtype == np.uint8 and rgb.shape == (288, 288, 3)


def test_read_palette_images(tmp_path: Path) -> None:
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    gray = Image.fromarray(index, "P")
    gray.putpalette([v for i in range(256) for v in (255 - i,) * 3])
    gray.save(tmp_path / "gray.png")
    out = read_image(tmp_path / "gray.png")
    assert out.shape == (2, 3) and np.array_equal(out, 255 - index)

    colour = Image.fromarray(index, "P")
    colour.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90] + [0] * (253 * 3))
    colour.save(tmp_path / "colour.bmp")
    out = read_image(tmp_path / "colour.bmp")
    lut = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90]], dtype=np.uint8)
    assert out.shape == (2, 3, 3) and np.array_equal(out, lut[index])


def test_read_drops_alpha_and_converts_cmyk(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    Image.fromarray(x, "RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(read_image(tmp_path / "rgba.png"), x[..., :3])
    Image.fromarray(x[..., :2], "LA").save(tmp_path / "la.png")
    assert np.array_equal(read_image(tmp_path / "la.png"), x[..., 0])
    cmyk = Image.fromarray(x, "CMYK")
    cmyk.save(tmp_path / "cmyk.tif")
    out = read_image(tmp_path / "cmyk.tif")
    assert out.shape == (5, 6, 3) and np.array_equal(out, np.asarray(cmyk.convert("RGB")))


def test_read_ignores_exif_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.new("RGB", (6, 4), (200, 100, 50)).save(tmp_path / "rot.jpg", exif=exif)
    assert read_image(tmp_path / "rot.jpg").shape == (4, 6, 3)


@pytest.mark.parametrize(
    ("name", "depth", "color", "channels"),
    [("gray16.png", 16, 0, 1), ("rgb16.png", 16, 2, 3), ("rgba16.png", 16, 6, 4)],
)
def test_read_rejects_16_bit(
    tmp_path: Path, name: str, depth: int, color: int, channels: int
) -> None:
    data = (np.arange(4 * channels, dtype=">u2") * 1000).tobytes()
    write_png(tmp_path / name, 2, 2, depth, color, data)
    with pytest.raises(ImageReadError, match="16-bit image; the drrn-matlab-v1 protocol"):
        read_image(tmp_path / name)


def test_read_rejects_float_images(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(ImageReadError, match="8-bit"):
        read_image(tmp_path / "f.tif")


def test_read_corrupt_files(tmp_path: Path, datasets_root: Path) -> None:
    data = (datasets_root / "Set5/bird_GT.bmp").read_bytes()
    cases = {
        "truncated.bmp": data[: len(data) // 2],
        "notes.png": b"this is not an image\n",
        "empty.jpg": b"",
    }
    buffer = tmp_path / "ok.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8) + 7).save(buffer)
    cases["truncated.png"] = buffer.read_bytes()[:-30]
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ImageReadError) as info:
            read_image(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def test_write_image_roundtrip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for shape in ((7, 5), (7, 5, 3)):
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        path = tmp_path / f"out{len(shape)}.png"
        write_image(path, arr)
        write_image(path, arr)  # replacing an existing file
        assert np.array_equal(read_image(path), arr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out2.png", "out3.png"]  # no temp left
    with pytest.raises(TypeError):
        write_image(tmp_path / "f.png", np.zeros((2, 2)))
    with pytest.raises(FileNotFoundError):
        write_image(tmp_path / "missing-dir" / "x.png", np.zeros((2, 2), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out2.png", "out3.png"]


# --------------------------------------------------------------------------------------------
# prepare_pair (protocol steps 1-3)
# --------------------------------------------------------------------------------------------


def test_prepare_pair_matches_golden(datasets_root: Path, reference_root: Path) -> None:
    """GT and ILR, quantised, equal the golden gt/sr PNGs (all but man, see above)."""
    golden = reference_root / "golden_metrics"
    for dataset, names in (("Set5", ["bird", "butterfly"]), ("Set14", ["bridge", "monarch"])):
        for name in names:
            img = read_image(hr_path(datasets_root, dataset, name))
            for scale in SCALES:
                gt, ilr = prepare_pair(img, scale)
                assert gt.dtype == ilr.dtype == np.float64 and gt.shape == ilr.shape
                folder = golden / dataset / f"x{scale}"
                assert np.array_equal(quantize_unit(gt), read_image(folder / f"{name}_gt.png"))
                assert np.array_equal(quantize_unit(ilr), read_image(folder / f"{name}_sr.png"))


def test_prepare_pair_rules() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (50, 47, 3), dtype=np.uint8)
    gt, ilr = prepare_pair(img, 3)
    assert gt.shape == ilr.shape == (48, 45)
    assert np.array_equal(gt * 255, rgb2y(img)[:48, :45])
    assert np.array_equal(ilr, imresize(imresize(gt, 1 / 3), output_shape=(48, 45)))
    gray = img[..., 0]
    assert np.array_equal(prepare_pair(gray, 2)[0] * 255, gray[:50, :46])
    assert min_side(4) == 19
    prepare_pair(img[:20, :20], 4)  # modcropped to 20x20 >= 19
    with pytest.raises(ValueError, match="too small for x4"):
        prepare_pair(img[:18, :40], 4)
    with pytest.raises(TypeError):
        prepare_pair(img.astype(np.float64), 2)
