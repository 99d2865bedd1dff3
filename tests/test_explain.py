"""Protocol variants and ``score --explain``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import cli, imaging
from benchmark.data import ImageRef
from benchmark.protocol import EXPLAIN_ORDER, get_protocol
from benchmark.scoring import Match, explain, format_explain, match_files, score_match

RCAN_SR = Path("RCAN/RCAN_TestCode/SR/BI/RCAN/Set5")
SET5 = ("baby", "bird", "butterfly", "head", "woman")
#: RCAN paper (ECCV 2018) Table 3, RCAN on Set5 (BI), PSNR.
RCAN_PAPER = {2: 38.27, 3: 34.74, 4: 32.63}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


@pytest.fixture()
def pair(tmp_path: Path) -> Match:
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (50, 61, 3), dtype=np.uint8)
    sr = np.clip(gt[:50, :60].astype(int) + rng.integers(-9, 10, (50, 60, 3)), 0, 255)
    Image.fromarray(gt).save(tmp_path / "a.png")
    Image.fromarray(sr.astype(np.uint8)).save(tmp_path / "a_x2.png")
    return Match(ImageRef("tmp", "a", tmp_path / "a.png"), tmp_path / "a_x2.png")


def test_every_variant_is_a_registered_protocol_and_they_differ(pair: Match) -> None:
    values = {name: score_match(pair, 2, name, ("psnr",))["psnr"] for name in EXPLAIN_ORDER}
    assert len(EXPLAIN_ORDER) == 10 and all(get_protocol(n).name == n for n in EXPLAIN_ORDER)
    assert len({round(v, 9) for v in values.values()}) >= 9  # float64 vs single: ~1e-6 apart


def test_variants_against_direct_formulas(pair: Match) -> None:
    gt = imaging.read_image(pair.gt.path)[:50, :60].astype(np.float64)
    sr = imaging.read_image(pair.sr).astype(np.float64)
    y_drrn = [imaging.rgb2y(x.astype(np.uint8)) for x in (gt, sr)]
    def s(x: np.ndarray, b: int) -> np.ndarray:
        return x[b:x.shape[0] - b, b:x.shape[1] - b] if b else x
    def y64(x: np.ndarray) -> np.ndarray:
        return 16 + (64.738 * x[..., 0] + 129.057 * x[..., 1] + 25.064 * x[..., 2]) / 256
    def jpeg(x: np.ndarray) -> np.ndarray:
        return np.floor(0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2] + 0.5)
    expected = {
        "no-shave-v1": _psnr(*y_drrn),
        "shave-s+6-v1": _psnr(s(y_drrn[0], 8), s(y_drrn[1], 8)),
        "modcrop12-v1": _psnr(s(y_drrn[0][:48, :60], 2), s(y_drrn[1][:48, :60], 2)),
        "y-64.738-v1": _psnr(s(y64(gt), 2), s(y64(sr), 2)),
        "jpeg-y-v1": _psnr(s(jpeg(gt), 2), s(jpeg(sr), 2)),
        "rgb-v1": _psnr(s(gt, 2), s(sr, 2)),
    }
    for name, value in expected.items():
        assert score_match(pair, 2, name, ("psnr",))["psnr"] == pytest.approx(value, abs=1e-9), name


def test_format_explain_lists_matches(pair: Match) -> None:
    table = explain([pair], 2, ("drrn-matlab-v1", "no-shave-v1"))
    target = float(table["psnr"].iloc[1]) + 0.004
    text = format_explain(table, target)
    assert text.splitlines()[-1].startswith("matches: no-shave-v1 ")
    assert format_explain(table, 100.0).splitlines()[-1].startswith("matches: none")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rcan_published_numbers_match_the_float_y_protocol(
    datasets_root: Path, reference_root: Path, scale: int
) -> None:
    refs = [ImageRef("set5", f"{s}_GT", datasets_root / "Set5" / f"{s}_GT.bmp") for s in SET5]
    sr_dir = reference_root / RCAN_SR / f"x{scale}"
    matches, _ = match_files(refs, sorted(sr_dir.iterdir()), scale, "RCAN")
    text = format_explain(explain(matches, scale, EXPLAIN_ORDER[:2]), RCAN_PAPER[scale])
    found = text.splitlines()[-1]
    assert found.startswith("matches: matlab-float-y-v1 ") and "drrn-matlab-v1" not in found


def test_cli_explain_needs_no_name_and_target_needs_explain(
    datasets_root: Path, reference_root: Path, capsys: pytest.CaptureFixture
) -> None:
    sr = str(reference_root / RCAN_SR / "x2")
    common = ["--dataset", "set5", "--scale", "2", "--data-root", str(datasets_root), "--offline",
              "--jobs", "1"]
    assert cli.main(["score", "--sr", sr, *common, "--name", "R", "--target", "38.27"]) == 2
    assert "--target needs --explain" in capsys.readouterr().err
    assert cli.main(["score", "--sr", sr, *common, "--explain", "--target", "38.27"]) == 0
    out = capsys.readouterr().out
    assert "rgb-v1" in out and out.strip().splitlines()[-1].startswith("matches: matlab-float-y-v1")
