"""sewar's extended metrics against independent numpy computations, and their plumbing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from benchmark import cli, extmetrics, harness, results


def _pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 256, (200, 190)).astype(np.uint8)
    noisy = np.clip(texture + rng.normal(0, 12, texture.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:180, 0:230]
    smooth = (127 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + yy / 3).astype(np.uint8)
    shifted = np.clip(smooth.astype(int) + rng.integers(-6, 7, smooth.shape) + 3, 0, 255)
    return [(texture, noisy), (smooth, shifted.astype(np.uint8))]


def _valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.einsum("ijkl,kl->ij", sliding_window_view(x, w.shape), w)


def _gauss(n: int, sigma: float) -> np.ndarray:
    r = np.arange(n) - (n - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _uqi(a: np.ndarray, b: np.ndarray) -> float:
    wa, wb = (sliding_window_view(x, (8, 8))[:-1, :-1] for x in (a, b))
    ma, mb = wa.mean(axis=(2, 3)), wb.mean(axis=(2, 3))
    va, vb = wa.var(axis=(2, 3)), wb.var(axis=(2, 3))
    cov = ((wa - ma[..., None, None]) * (wb - mb[..., None, None])).mean(axis=(2, 3))
    return float(np.mean(4 * cov * ma * mb / ((va + vb) * (ma**2 + mb**2))))


def _ssim_cs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    w = _gauss(11, 1.5)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _valid(a, w), _valid(b, w)
    va, vb = _valid(a * a, w) - ma**2, _valid(b * b, w) - mb**2
    cov = _valid(a * b, w) - ma * mb
    cs = (2 * cov + c2) / (va + vb + c2)
    return float(np.mean((2 * ma * mb + c1) / (ma**2 + mb**2 + c1) * cs)), float(np.mean(cs))


def _halve(x: np.ndarray) -> np.ndarray:
    p = np.pad(x, ((1, 0), (1, 0)), mode="edge")
    return ((p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) / 4)[::2, ::2]


def _msssim(a: np.ndarray, b: np.ndarray) -> float:
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    value = 1.0
    for level, weight in enumerate(weights):
        s, cs = _ssim_cs(a, b)
        value *= (s if level == len(weights) - 1 else cs) ** weight
        a, b = _halve(a), _halve(b)
    return value


def _vifp(a: np.ndarray, b: np.ndarray, noise: float = 2.0) -> float:
    eps, num, den = 1e-10, 0.0, 0.0
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        w = _gauss(n, n / 5)
        if scale > 1:
            a, b = _valid(a, w)[::2, ::2], _valid(b, w)[::2, ::2]
        ma, mb = _valid(a, w), _valid(b, w)
        va = np.maximum(_valid(a * a, w) - ma**2, 0)
        vb = np.maximum(_valid(b * b, w) - mb**2, 0)
        cov = _valid(a * b, w) - ma * mb
        g = cov / (va + eps)
        sv = vb - g * cov
        flat = va < eps
        g[flat], sv[flat], va[flat] = 0, vb[flat], 0
        g[vb < eps], sv[vb < eps] = 0, 0
        sv[g < 0] = vb[g < 0]
        g[g < 0] = 0
        sv[sv <= eps] = eps
        num += np.sum(np.log10(1 + g**2 * va / (sv + noise)))
        den += np.sum(np.log10(1 + va / noise))
    return float(num / den)


def _scc(a: np.ndarray, b: np.ndarray) -> float:
    def high_pass(x: np.ndarray) -> np.ndarray:
        k = -np.ones((3, 3))
        k[1, 1] = 8
        return 2 * _valid(np.pad(x, 1, mode="symmetric"), k)  # sewar sums both axes' passes

    def box(x: np.ndarray) -> np.ndarray:
        return _valid(np.pad(x, ((4, 3), (4, 3))), np.ones((8, 8)) / 64)

    ha, hb = high_pass(a), high_pass(b)
    ma, mb = box(ha), box(hb)
    va = np.maximum(box(ha * ha) - ma**2, 0)
    vb = np.maximum(box(hb * hb) - mb**2, 0)
    den = np.sqrt(va) * np.sqrt(vb)
    cov = box(ha * hb) - ma * mb
    return float(np.mean(np.where(den == 0, 0, cov / np.where(den == 0, 1, den))))


DIRECT = {"msssim": _msssim, "vifp": _vifp, "scc": _scc}


@pytest.mark.parametrize("name", sorted(extmetrics.EXTENDED))
def test_each_metric_matches_an_independent_computation(name: str) -> None:
    assert set(DIRECT) == set(extmetrics.EXTENDED) == set(results.EXTENDED)
    for ref, out in _pairs():
        expected = DIRECT[name](ref.astype(np.float64), out.astype(np.float64))
        assert extmetrics.compute(name, ref, out) == pytest.approx(expected, rel=1e-7, abs=1e-9)
        assert extmetrics.compute(name, ref, ref) == pytest.approx(1.0)


def test_sewar_uqi_is_not_the_wang_bovik_index_so_it_is_not_offered() -> None:
    from sewar.full_ref import uqi

    ref, out = (x.astype(np.float64) for x in _pairs()[1])
    assert abs(uqi(ref, out) - _uqi(ref, out)) > 0.05  # 0.9993 vs 0.8895
    assert "uqi" not in extmetrics.EXTENDED
    with pytest.raises(cli.UsageError, match="uqi is not the Wang-Bovik index"):
        cli.parse_metrics("psnr,uqi")


@pytest.mark.parametrize("name,side", [("msssim", 175), ("vifp", 40)])
def test_too_small_images_give_nan_with_a_warning(name: str, side: int) -> None:
    ref, out = (x[:side, :side] for x in _pairs()[0])
    with pytest.warns(UserWarning, match=name):
        assert math.isnan(extmetrics.compute(name, ref, out))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = (x[:side + 1, :side + 1] for x in _pairs()[0])
        assert math.isfinite(extmetrics.compute(name, a, b))


def test_harness_rows_summary_and_label() -> None:
    ref, out = _pairs()[1]
    values = harness.score(ref, out, 2, ("psnr", "scc"))
    assert np.isnan(values["ssim"]) and values["scc"] == pytest.approx(
        _scc(ref[2:-2, 2:-2].astype(float), out[2:-2, 2:-2].astype(float)))
    assert extmetrics.label("scc").startswith("scc (sewar ") and "not part of the MATLAB" in \
        extmetrics.LABEL
    assert cli.parse_metrics("psnr,msssim,scc") == ("psnr", "msssim", "scc")
    with pytest.raises(cli.UsageError, match="sam .* always 0"):
        cli.parse_metrics("sam")
