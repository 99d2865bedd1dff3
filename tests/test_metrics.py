"""Tests of benchmark.metrics: golden MATLAB/Octave values, properties, and the IFC port's
pieces against pyrtools and a plain transcription of the reference algorithm.

Golden data is read in place from ``$SRBENCH_DATA/../reference/golden_metrics``; those tests
skip when it is absent (see conftest.py).
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from benchmark import metrics
from benchmark.imaging import imresize, modcrop, read_image, shave, to_uint8
from benchmark.metrics import ifc, psnr, ssim

GOLDEN_ROWS = 57
REL_TOL = 1e-9  # golden.csv holds 10 significant digits


@pytest.fixture(scope="module")
def golden(reference_root: Path) -> tuple[Path, list[dict[str, str]]]:
    folder = reference_root / "golden_metrics"
    with open(folder / "golden.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return folder, rows


def test_golden_table_size(golden: tuple[Path, list[dict[str, str]]]) -> None:
    assert len(golden[1]) == GOLDEN_ROWS


@pytest.mark.parametrize("index", range(GOLDEN_ROWS))
def test_golden_values(golden: tuple[Path, list[dict[str, str]]], index: int) -> None:
    folder, rows = golden
    row = rows[index]
    s = int(row["shave"])
    pair = folder / row["dataset"] / f"x{row['scale']}"
    gt = read_image(pair / f"{row['image']}_gt.png")
    sr = read_image(pair / f"{row['image']}_sr.png")
    assert gt.shape == (int(row["height"]), int(row["width"]))
    cases = {"": (gt[s:-s, s:-s], sr[s:-s, s:-s]), "_full": (gt, sr)}
    for suffix, (ref, out) in cases.items():
        for name, fn in (("psnr", psnr), ("ssim", ssim), ("ifc", ifc)):
            expected = float(row[name + suffix])
            assert fn(ref, out) == pytest.approx(expected, rel=REL_TOL), name + suffix


# --------------------------------------------------------------------------------------------
# PSNR / SSIM properties
# --------------------------------------------------------------------------------------------

images = arrays(
    np.uint8,
    st.tuples(st.integers(11, 40), st.integers(11, 40)),
    elements=st.integers(0, 255),
)


@settings(max_examples=30, deadline=None)
@given(images, st.integers(0, 2**32 - 1))
def test_psnr_ssim_properties(a: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 256, a.shape).astype(np.uint8)
    assert psnr(a, b) == psnr(b, a)
    assert ssim(a, a) == 1.0
    assert ssim(a, b) == pytest.approx(ssim(b, a), rel=1e-12, abs=1e-15)
    assert ssim(a, b) <= 1.0 + 1e-12
    assert psnr(a, a) == math.inf


def test_psnr_known_value() -> None:
    a = np.zeros((8, 8), np.uint8)
    assert psnr(a, a + 1) == pytest.approx(20 * math.log10(255))
    assert psnr(a.astype(np.float64), a + 1.0) == psnr(a, a + 1)


def test_inputs_are_checked() -> None:
    a = np.zeros((20, 20))
    for fn in (psnr, ssim, ifc):
        with pytest.raises(ValueError):
            fn(a, np.zeros((20, 21)))
        with pytest.raises(ValueError):
            fn(np.zeros((20, 20, 3)), np.zeros((20, 20, 3)))
        with pytest.raises(TypeError):
            fn(a.astype(np.int64), a.astype(np.int64))


def test_ssim_too_small_is_nan() -> None:
    with pytest.warns(RuntimeWarning, match="11x11"):
        assert math.isnan(ssim(np.zeros((10, 30)), np.zeros((10, 30))))


# --------------------------------------------------------------------------------------------
# IFC
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(60, 60), (71, 200), (200, 71)])
def test_ifc_too_small_is_nan_with_warning(shape: tuple[int, int]) -> None:
    a = np.random.default_rng(0).random(shape) * 255
    with pytest.warns(RuntimeWarning, match="72 px"):
        assert math.isnan(ifc(a, a))


def test_ifc_minimum_size_and_constants() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((72, 72)) * 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isfinite(ifc(a, a + rng.normal(0, 5, a.shape)))
    # golden README sanity checks: a constant image against itself or with one pixel changed
    c = np.full((160, 160), 100.0)
    changed = c.copy()
    changed[80, 80] = 101
    assert ifc(c, c) == 0.0
    assert ifc(c, changed) == 0.0


def test_ifc_reference_sanity_values(reference_root: Path) -> None:
    """Values quoted in golden_metrics/README.md (Octave): asymmetry and ifc(a, a)."""
    folder = reference_root / "golden_metrics/Set5/x2"
    gt = read_image(folder / "baby_gt.png")
    sr = read_image(folder / "baby_sr.png")
    assert ifc(gt, sr) == pytest.approx(6.4110, abs=5e-5)
    assert ifc(sr, gt) == pytest.approx(6.2788, abs=5e-5)
    assert ifc(gt[2:-2, 2:-2], gt[2:-2, 2:-2]) == pytest.approx(75.70, abs=5e-3)
    bird = read_image(folder / "bird_gt.png")[2:-2, 2:-2]
    assert ifc(bird, bird) == pytest.approx(68.10, abs=5e-3)


def test_embedded_sp5_taps_equal_pyrtools() -> None:
    pytest.importorskip("pyrtools", reason="pyrtools (the `test` extra) is the taps' source")
    from pyrtools.pyramids.filters import parse_filter

    from benchmark import sp5

    f = parse_filter("sp5_filters", normalize=False)
    assert np.array_equal(np.array(sp5.LO0FILT), f["lo0filt"])
    assert np.array_equal(np.array(sp5.LOFILT), f["lofilt"])
    for band, taps in sp5.BFILTS.items():
        assert np.array_equal(np.array(taps), f["bfilts"][:, band]), band


@pytest.mark.parametrize("shape", [(72, 72), (75, 101), (143, 97), (160, 211)])
def test_pyramid_matches_pyrtools(shape: tuple[int, int]) -> None:
    pyrtools = pytest.importorskip("pyrtools")
    img = np.random.default_rng(sum(shape)).random(shape) * 255
    pyr = pyrtools.pyramids.SteerablePyramidSpace(img, height=4, order=5, edge_type="reflect1")
    keys = [(level, band) for level in range(4) for band in (0, 3)]
    for band, key in zip(metrics._pyramid_bands(img), keys):
        expected = pyr.pyr_coeffs[key]
        assert band.shape == expected.shape
        assert np.abs(band - expected).max() <= 1e-13 * np.abs(expected).max(), key


def reference_ifc(ref: np.ndarray, dist: np.ndarray) -> float:
    """A plain, slow transcription of ifcvec.m (pyrtools pyramid, padded full correlations,
    all blocks, explicit inverse), to check the fast port away from the golden sizes."""
    import pyrtools
    from scipy.ndimage import correlate

    m, tol = 3, 1e-15
    pyr_r = pyrtools.pyramids.SteerablePyramidSpace(ref, 4, 5, "reflect1").pyr_coeffs
    pyr_d = pyrtools.pyramids.SteerablePyramidSpace(dist, 4, 5, "reflect1").pyr_coeffs
    total = 0.0
    for sub in (4, 7, 10, 13, 16, 19, 22, 25):
        lev = math.ceil((sub - 1) / 6)
        key = (4 - lev, 3 if (sub - 1) % 6 == 3 else 0)  # reversed band list -> pyrtools key
        h, w = (np.array(pyr_r[key].shape) // m) * m
        y, yn = pyr_r[key][:h, :w], pyr_d[key][:h, :w]
        win = np.ones((2**lev + 1, 2**lev + 1))
        n = win.sum()

        def box(x: np.ndarray, k: np.ndarray = win) -> np.ndarray:
            return correlate(x, k, mode="mirror")[1::m, 1::m]

        mx, my = box(y, win / n), box(yn, win / n)
        cov = box(y * yn) - n * mx * my
        ssx = np.maximum(box(y * y) - n * mx**2, 0)
        ssy = np.maximum(box(yn * yn) - n * my**2, 0)
        g = cov / (ssx + tol)
        vv = (ssy - g * cov) / n
        g[ssx < tol], vv[ssx < tol] = 0, ssy[ssx < tol]
        g[ssy < tol], vv[ssy < tol] = 0, 0
        vv[g < 0], g[g < 0] = ssy[g < 0], 0
        vv[vv <= tol] = tol
        vecs = np.stack([y[k : h - m + 1 + k, j : w - m + 1 + j].ravel() for j in range(m)
                         for k in range(m)])  # fmt: skip
        centred = vecs - vecs.mean(axis=1, keepdims=True)
        cu = centred @ centred.T / vecs.shape[1]
        blocks = np.stack([y[k::m, j::m].ravel() for j in range(m) for k in range(m)])
        ss = (np.sum((np.linalg.inv(cu) @ blocks) * blocks, axis=0) / m**2).reshape(h // m, -1)
        off = math.ceil((2**lev / 2) / m)
        keep = (slice(off, h // m - off), slice(off, w // m - off))
        for lam in np.linalg.eigvalsh(cu):
            total += np.sum(np.log2(1 + g[keep] ** 2 * ss[keep] * lam / (vv[keep] + 1e-10)))
    return float(total / ref.size)


@pytest.mark.parametrize("shape", [(72, 72), (80, 121), (131, 97)])
def test_ifc_matches_plain_transcription(shape: tuple[int, int]) -> None:
    """Textured, flat and edge regions, odd sizes: the fast port equals the plain one."""
    pytest.importorskip("pyrtools")
    rng = np.random.default_rng(shape[0])
    ref = np.kron(rng.random((shape[0] // 8 + 1, shape[1] // 8 + 1)), np.ones((8, 8)))
    ref = 255 * ref[: shape[0], : shape[1]]
    ref[: shape[0] // 2, : shape[1] // 3] = 128.0  # a flat region
    ref[shape[0] // 2 :] += rng.normal(0, 10, (shape[0] - shape[0] // 2, shape[1]))
    dist = 0.8 * ref + 20 + rng.normal(0, 4, shape)
    for a, b in ((ref, dist), (dist, ref)):
        assert ifc(a, b) == pytest.approx(reference_ifc(a, b), rel=1e-9)
    # For identical images sigma_v^2 is pure rounding noise (below the 1e-10 guard), so any
    # two summation orders, MATLAB's included, agree only to about 1e-6.
    assert ifc(ref, ref) == pytest.approx(reference_ifc(ref, ref), rel=1e-5)


def matlab_release_y(img: np.ndarray) -> np.ndarray:
    """Y as the MATLAB release behind the SelfExSR tables computes it: T = (1/255) * origT,
    so the coefficient is (1/255)*65.481, which differs in the last bit from the protocol's
    65.481/255 and rounds 3 exact ties differently (Set5 butterfly, Set14 monarch/pepper)."""
    if img.ndim == 2:
        return img
    r, g, b = (img[..., c].astype(np.float64) for c in range(3))
    y = (1 / 255 * 65.481) * r + (1 / 255 * 128.553) * g + (1 / 255 * 24.966) * b + 16
    return to_uint8(y)


def test_metrics_match_matlab_selfexsr_tables(datasets_root: Path, reference_root: Path) -> None:
    """SelfExSR's MATLAB-computed bicubic tables (PSNR/SSIM/IFC, column 1) for Set5 and Set14
    x2/x3/x4: SR = MATLAB imresize(LR uint8 RGB, s) (border='replicate', as the LR files
    show), Y from rgb2ycbcr on uint8, shave s, ssim_index / ifcvec(gt, sr)."""
    from scipy.io import loadmat

    set5 = ["baby", "bird", "butterfly", "head", "woman"]
    set14 = sorted(p.stem for p in (datasets_root / "Set14").glob("*.bmp"))
    tables = reference_root / "SelfExSR/quant_eval/result"
    for dataset, names in (("Set5", set5), ("Set14", set14)):
        for scale in (2, 3, 4):
            mat = loadmat(tables / f"result_{dataset}_SRF_{scale}.mat")
            for i, name in enumerate(names):
                if dataset == "Set5":
                    hr = read_image(datasets_root / f"Set5/{name}_GT.bmp")
                    lr_file = f"RCAN/RCAN_TestCode/LR/LRBI/Set5/x{scale}/{name}_LRBI_x{scale}.png"
                else:
                    hr = read_image(datasets_root / f"Set14/{name}.bmp")
                    lr_file = (
                        f"SelfExSR/data/Set14/image_SRF_{scale}/img_{i + 1:03d}_SRF_{scale}_LR.png"
                    )
                sr = imresize(read_image(reference_root / lr_file), scale, border="replicate")
                gt = shave(matlab_release_y(modcrop(hr, scale)), scale)
                out = shave(matlab_release_y(sr), scale)
                checks = [("PSNR", psnr), ("SSIM", ssim)]
                if dataset == "Set5" or scale == 4:  # IFC on 29 of the 57 rows keeps this short
                    checks.append(("IFC", ifc))
                for key, fn in checks:
                    expected = float(mat[f"{key}_table"][i, 0])
                    assert fn(gt, out) == pytest.approx(expected, rel=1e-9), (dataset, name, key)


@settings(max_examples=15, deadline=None)
@given(st.integers(72, 120), st.integers(72, 140), st.integers(0, 2**32 - 1))
def test_a_reference_gives_the_same_bits_for_every_output(h: int, w: int, seed: int) -> None:
    """The reference-side work kept in a Reference changes no bit of any metric, for the
    first output and for every later one (the ground truth itself included)."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, (h, w)).astype(np.uint8)
    outputs = [np.clip(ref + rng.normal(0, sd, ref.shape), 0, 255).astype(np.uint8)
               for sd in (3, 12)] + [ref]
    reference = metrics.Reference(ref)
    for out in outputs:
        for fn in (psnr, ssim, ifc):
            assert fn(reference, out) == fn(ref, out), fn.__name__
    with pytest.raises(ValueError, match="differ"):
        ssim(reference, ref[:-1])


def test_a_reference_computes_its_side_once() -> None:
    ref = np.random.default_rng(1).integers(0, 256, (90, 100)).astype(np.uint8)
    reference = metrics.Reference(ref)
    ifc(reference, ref)
    ssim(reference, ref)
    subbands = reference.ifc_subbands()
    stripes = [reference.ssim_stripe(i, top, stop)
               for i, (top, stop) in enumerate(metrics._ssim_stripes(ref.shape))]
    ifc(reference, 255 - ref)
    ssim(reference, 255 - ref)
    assert reference.ifc_subbands() is subbands
    assert all(reference.ssim_stripe(i, 0, 0) is s for i, s in enumerate(stripes))
    assert len(subbands) == 8 and len(stripes) == 1


def test_ifc_log2_sum_by_products_equals_the_sum_of_logarithms() -> None:
    """One log2 per block of the product of its factors (Horner on the eigenvalues' symmetric
    polynomials) equals ifcvec's per-eigenvalue sum; blocks whose product overflows and
    subbands with a flat eigenvalue fall back to that sum."""
    from benchmark.metrics import _elementary_symmetric, _log2_sum, _log2_sum_each

    rng = np.random.default_rng(0)
    lam = np.sort(rng.random(9) ** 4 * 1e4)
    gain = np.concatenate([np.zeros(10), 10.0 ** rng.uniform(-20, 10, 5000)])
    coeffs = _elementary_symmetric(lam)
    assert coeffs is not None and len(coeffs) == 10
    assert _log2_sum(gain, lam, coeffs) == pytest.approx(_log2_sum_each(gain, lam), rel=1e-14)
    huge = np.append(gain, [1e40, 1e300])  # (1 + 1e40 * lambda)^9 overflows float64
    assert _log2_sum(huge, lam, coeffs) == pytest.approx(_log2_sum_each(huge, lam), rel=1e-14)
    flat = np.append(lam[1:], 0.0)
    assert _elementary_symmetric(flat) is None
    assert _log2_sum(gain, flat, None) == _log2_sum_each(gain, flat)
