"""Scoring external SR images: protocols, name matching, size checks, RCAN reference values."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark import PROTOCOL, cli, harness, imaging, results
from benchmark.data import ImageRef
from benchmark.protocol import UnknownProtocolError, get_protocol, list_protocols
from benchmark.scoring import (
    Match,
    MatchError,
    ScoreError,
    SizeMismatchError,
    check_sizes,
    gt_key,
    match_files,
    score_folder,
    score_match,
)

RCAN_DIR = Path("RCAN/RCAN_TestCode")
SET5 = ("baby", "bird", "butterfly", "head", "woman")


def _refs(*stems: str, dataset: str = "set5") -> list[ImageRef]:
    return [ImageRef(dataset, stem, None) for stem in stems]


def _paths(*names: str) -> list[Path]:
    return [Path("/sr") / name for name in names]


def _pairs(matches: list[Match]) -> dict[str, str]:
    return {m.gt.name: m.sr.name for m in matches}


def _save(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


# ------------------------------------------------------------------------------ protocols
def test_protocol_registry() -> None:
    names = [p.name for p in list_protocols()]
    assert names[0] == PROTOCOL == "drrn-matlab-v1"
    assert "matlab-float-y-v1" in names
    assert get_protocol(" Matlab-Float-Y-V1 ").name == "matlab-float-y-v1"
    with pytest.raises(UnknownProtocolError, match="did you mean 'matlab-float-y-v1'"):
        get_protocol("matlab-float-y")


def test_drrn_protocol_is_the_harness_scoring() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (50, 61, 3), dtype=np.uint8)
    noisy = np.clip(img.astype(int) + rng.integers(-9, 10, img.shape), 0, 255).astype(np.uint8)
    proto = get_protocol(PROTOCOL)
    gt = proto.gt_y(img, 3)
    sr = proto.sr_y(imaging.modcrop(noisy, 3))
    assert gt.dtype == np.uint8 and gt.shape == (48, 60)
    np.testing.assert_array_equal(gt, imaging.modcrop(imaging.rgb2y(img), 3))
    ours = proto.score(gt, sr, 3, ("psnr", "ssim"))
    theirs = harness.score(gt, sr, 3, ("psnr", "ssim"))
    assert ours["psnr"] == theirs["psnr"] and ours["ssim"] == theirs["ssim"]
    assert np.isnan(ours["ifc"])


def test_float_protocol_y_is_single_precision_and_unrounded() -> None:
    proto = get_protocol("matlab-float-y-v1")
    rgb = np.array([[[255, 0, 0], [10, 200, 30]]], dtype=np.uint8)
    y = proto.sr_y(rgb)
    exact = imaging.rgb2ycbcr(rgb / 255.0)[:, :, 0] * 255.0
    np.testing.assert_allclose(y, exact, rtol=0, atol=1e-4)  # single precision, not rounded
    assert np.all(y == y.astype(np.float32))
    assert not np.all(y == np.round(y))
    gray = np.array([[0, 7], [128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(proto.sr_y(gray), gray.astype(np.float64))
    assert proto.gt_y(np.zeros((7, 9, 3), np.uint8), 2).shape == (6, 8)
    assert proto.shave(4) == 4


# -------------------------------------------------------------------------- name matching
@pytest.mark.parametrize(
    "names",
    [
        ("baby.png", "bird.png"),  # same stem as the GT without _GT
        ("baby_GT.bmp", "bird_GT.png"),  # same stem as the GT
        ("baby_x2.png", "bird_x2.png"),
        ("BABY_X2.PNG", "Bird_x2.png"),  # case-insensitive
        ("babyx2.png", "bird_2x.png"),
        ("baby_RCAN_x2.png", "bird_RCAN_x2.png"),  # RCAN/EDSR style
        ("baby_LRBI_x2.png", "bird_LRBI_x2.png"),
        ("baby_x2_SR.png", "bird_x2_SR.png"),
        ("baby_SRF_2_SR.png", "bird_SRF_2_SelfExSR.png"),  # SelfExSR style
        ("baby_MyNet.png", "bird_SR.png"),  # _<Name>, _SR
        ("baby_GT_x2.png", "bird_GT_MyNet_x2.png"),
    ],
)
def test_naming_schemes(names: tuple[str, str]) -> None:
    matches, unmatched = match_files(_refs("baby_GT", "bird_GT"), _paths(*names), 2, "MyNet")
    assert _pairs(matches) == {"baby_GT": names[0], "bird_GT": names[1]}
    assert unmatched == []


def test_selfexsr_and_urban_names() -> None:
    refs = _refs("img_001", "img_002", "img_010", dataset="urban100")
    files = _paths("img_001_SRF_4_SR.png", "img_002_SRF_4_SR.png", "img_010_SRF_4_SR.png")
    matches, _ = match_files(refs, files, 4)
    assert _pairs(matches) == {
        "img_001": "img_001_SRF_4_SR.png",
        "img_002": "img_002_SRF_4_SR.png",
        "img_010": "img_010_SRF_4_SR.png",
    }


def test_other_scales_and_strays_are_left_unmatched() -> None:
    files = _paths("baby_x2.png", "baby_x3.png", "baby_SRF_3_SR.png", "notes.png", "bird_x2.png")
    matches, unmatched = match_files(_refs("baby_GT", "bird_GT"), files, 2)
    assert _pairs(matches) == {"baby_GT": "baby_x2.png", "bird_GT": "bird_x2.png"}
    assert [p.name for p in unmatched] == ["baby_x3.png", "baby_SRF_3_SR.png", "notes.png"]


def test_missing_files_are_one_error_listing_them() -> None:
    with pytest.raises(MatchError) as info:
        match_files(_refs(*(f"{s}_GT" for s in SET5)), _paths("baby_x2.png", "head_x2.png"), 2)
    message = str(info.value)
    assert "no SR file for 3 of 5 GT images: bird_GT, butterfly_GT, woman_GT" in message
    assert "baby_GT" not in message.split("accepted")[0].split(":", 2)[2]


def test_duplicates_are_one_error_listing_them() -> None:
    files = _paths("baby.png", "baby_x2.png", "bird_x2.png", "bird_x2.bmp", "head_x2.png")
    with pytest.raises(MatchError) as info:
        match_files(_refs("baby_GT", "bird_GT", "head_GT", "woman_GT"), files, 2)
    message = str(info.value)
    assert "baby_GT is fitted by several SR files: baby.png, baby_x2.png" in message
    assert "bird_GT is fitted by several SR files: bird_x2.png, bird_x2.bmp" in message
    assert "no SR file for 1 of 4 GT images: woman_GT" in message
    assert message.count("\n") == 3  # one error, one line per problem


def test_method_name_breaks_ties() -> None:
    # A SelfExSR result folder holds every method's output side by side.
    files = _paths(
        "img_001_SRF_2_HR.png", "img_001_SRF_2_bicubic.png", "img_001_SRF_2_SelfExSR.png"
    )
    matches, _ = match_files(_refs("img_001"), files, 2, "SelfExSR")
    assert _pairs(matches) == {"img_001": "img_001_SRF_2_SelfExSR.png"}
    with pytest.raises(MatchError, match="several SR files"):
        match_files(_refs("img_001"), files, 2)


def test_longest_gt_name_wins_and_true_ambiguity_is_reported() -> None:
    refs = _refs("img_1", "img_1_b")
    matches, _ = match_files(refs, _paths("img_1_x2.png", "img_1_b_x2.png"), 2)
    assert _pairs(matches) == {"img_1": "img_1_x2.png", "img_1_b": "img_1_b_x2.png"}
    with pytest.raises(MatchError, match="baby_x2.png fits several GT images: baby_GT, baby"):
        match_files(_refs("baby_GT", "baby"), _paths("baby_x2.png"), 2)


def test_gt_key() -> None:
    assert gt_key("baby_GT") == "baby"
    assert gt_key("img_001") == "img_001"
    assert gt_key("_GT") == "_gt"


# ------------------------------------------------------------------------------ sizes etc.
@pytest.fixture()
def tiny_set(tmp_path: Path) -> tuple[list[ImageRef], Path]:
    rng = np.random.default_rng(1)
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    refs = []
    for stem, shape in (("a_GT", (41, 50, 3)), ("g_GT", (40, 44))):
        path = _save(gt_dir / f"{stem}.png", rng.integers(0, 256, shape, dtype=np.uint8))
        refs.append(ImageRef("tmp", stem, path))
    sr_dir = tmp_path / "sr"
    sr_dir.mkdir()
    return refs, sr_dir


def test_size_mismatch_names_file_and_both_sizes(tiny_set: tuple[list[ImageRef], Path]) -> None:
    refs, sr_dir = tiny_set
    a = _save(sr_dir / "a_x2.png", np.zeros((41, 50, 3), np.uint8))  # not modcropped
    g = _save(sr_dir / "g_x2.png", np.zeros((40, 44), np.uint8))
    matches = [Match(refs[0], a), Match(refs[1], g)]
    with pytest.raises(SizeMismatchError) as info:
        check_sizes(matches, 2)
    assert str(info.value).endswith(
        "a_x2.png is 41x50 px but GT a_GT modcropped for x2 is 40x50 px (from 41x50)"
    )
    assert "g_x2.png" not in str(info.value)
    with pytest.raises(SizeMismatchError, match="a_x2.png is 41x50 px"):
        score_match(matches[0], 2, PROTOCOL)


def test_score_rows_and_gray_handling(tiny_set: tuple[list[ImageRef], Path]) -> None:
    refs, sr_dir = tiny_set
    gt_a = imaging.read_image(refs[0].path)[:40]
    gt_g = imaging.read_image(refs[1].path)
    a = _save(sr_dir / "a_x2.png", gt_a)  # perfect colour output
    g = _save(sr_dir / "g_x2.png", np.repeat(gt_g[:, :, None], 3, axis=2))  # gray as RGB
    matches = [Match(refs[0], a), Match(refs[1], g)]
    check_sizes(matches, 2)
    rows = score_folder(
        matches, 2, method="MyNet", weights=str(sr_dir), protocol="matlab-float-y-v1",
        names=("psnr", "ssim"),
    )
    assert [r["image"] for r in rows] == ["a_GT", "g_GT"]
    for row in rows:
        assert row["psnr"] == np.inf and row["ssim"] == pytest.approx(1.0)
        assert np.isnan(row["ifc"]) and np.isnan(row["seconds"])
        assert (row["method"], row["recipe"], row["config"]) == ("MyNet", "external", "-")
        assert row["protocol"] == "matlab-float-y-v1" and row["status"] == "ok"
    colour = gt_g[:, :, None].repeat(3, axis=2)
    colour[0, 0] = (1, 2, 3)
    _save(g, colour)
    with pytest.raises(ScoreError, match="g_x2.png is a colour image but its ground truth is "
                                         "grayscale"):
        score_match(matches[1], 2, PROTOCOL)


# ----------------------------------------------------------------- results by protocol
def test_protocols_are_never_averaged_or_tabulated_together() -> None:
    base = {"method": "m", "config": "-", "weights": "w", "recipe": "external",
            "dataset": "set5", "scale": 2, "ssim": 0.9, "ifc": np.nan, "seconds": np.nan,
            "status": "ok"}
    rows = [
        {**base, "image": "a", "psnr": 30.0, "protocol": "drrn-matlab-v1"},
        {**base, "image": "b", "psnr": 32.0, "protocol": "drrn-matlab-v1"},
        {**base, "image": "a", "psnr": 40.0, "protocol": "matlab-float-y-v1"},
    ]
    summary = results.summarize(pd.DataFrame(rows))
    by_protocol = summary.set_index("protocol")
    assert len(summary) == 2
    assert by_protocol.loc["drrn-matlab-v1", "psnr"] == 31.0
    assert by_protocol.loc["matlab-float-y-v1", "psnr"] == 40.0
    # Published values are drrn-matlab-v1 figures: never set beside another protocol's rows.
    rows_bicubic = [{**r, "method": "bicubic"} for r in rows]
    summary = results.summarize(pd.DataFrame(rows_bicubic)).set_index("protocol")
    assert summary.loc["drrn-matlab-v1", "paper_psnr"] == 33.66
    assert np.isnan(summary.loc["matlab-float-y-v1", "paper_psnr"])
    text = results.format_summary(results.summarize(pd.DataFrame(rows)))
    first, second = text.split("\n\n")
    assert first.startswith("protocol: drrn-matlab-v1\n") and "31.00" in first
    assert second.startswith("protocol: matlab-float-y-v1\n") and "40.00" in second
    single = results.format_summary(results.summarize(pd.DataFrame(rows[:2])))
    assert "protocol:" not in single  # one protocol: the table as before


# ---------------------------------------------------------------- RCAN reference values
def _rcan_reference(path: Path) -> dict[tuple[int, str], tuple[float, float]]:
    """Per-image (PSNR, SSIM) of method RCAN from PSNR_SSIM_Results_BI_model.txt."""
    values: dict[tuple[int, str], tuple[float, float]] = {}
    method = None
    line_re = re.compile(r"x(\d+) \d+ (\S+)\.png: PSNR= ([\d.]+) SSIM= ([\d.]+)")
    for line in path.read_text().splitlines():
        header = re.match(r"Method_\d+: (\w+);", line)
        if header:
            method = header.group(1)
        found = line_re.match(line)
        if found and method == "RCAN":
            values[(int(found.group(1)), found.group(2))] = (
                float(found.group(3)), float(found.group(4)))
    return values


def test_rcan_set5_matches_matlab_evaluate_psnr_ssim(
    datasets_root: Path, reference_root: Path
) -> None:
    rcan = reference_root / RCAN_DIR
    expected = _rcan_reference(rcan / "PSNR_SSIM_Results_BI_model.txt")
    assert len(expected) == 20  # x2, x3, x4, x8 (the x8 images are not staged)
    refs = [ImageRef("set5", f"{s}_GT", datasets_root / "Set5" / f"{s}_GT.bmp") for s in SET5]
    checked = 0
    for scale in (2, 3, 4):
        sr_dir = rcan / "SR" / "BI" / "RCAN" / "Set5" / f"x{scale}"
        matches, unmatched = match_files(refs, sorted(sr_dir.iterdir()), scale, "RCAN")
        assert unmatched == []
        check_sizes(matches, scale)
        for match in matches:
            got = score_match(match, scale, "matlab-float-y-v1", ("psnr", "ssim"))
            psnr, ssim = expected[(scale, match.sr.stem)]
            assert got["psnr"] == pytest.approx(psnr, abs=1e-4), match.sr.name
            assert got["ssim"] == pytest.approx(ssim, abs=1e-5), match.sr.name
            checked += 1
    assert checked == 15


# ------------------------------------------------------------------------------------- CLI
def test_cli_score_writes_run_tables(
    datasets_root: Path, reference_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sr_dir = reference_root / RCAN_DIR / "SR" / "BI" / "RCAN" / "Set5" / "x2"
    code = cli.main([
        "score", "--sr", str(sr_dir), "--dataset", "Set5", "--scale", "2", "--name", "RCAN",
        "--protocol", "matlab-float-y-v1", "--metrics", "psnr", "--jobs", "1", "--offline",
        "--data-root", str(datasets_root), "--results-dir", str(tmp_path),
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("protocol: matlab-float-y-v1\n") and "38.27" in out
    (run_dir,) = tmp_path.iterdir()
    per_image = pd.read_csv(run_dir / "per_image.csv")
    assert list(per_image.columns) == results.PER_IMAGE_COLUMNS
    assert list(per_image["image"]) == [f"{s}_GT" for s in SET5]
    assert set(per_image["method"]) == {"RCAN"} and set(per_image["recipe"]) == {"external"}
    assert set(per_image["weights"]) == {str(sr_dir.resolve())}
    assert set(per_image["protocol"]) == {"matlab-float-y-v1"}
    assert per_image["ssim"].isna().all()
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary.loc[0, "psnr"] == pytest.approx(38.274168, abs=1e-5)


def test_cli_score_errors_exit_2(
    datasets_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sr_dir = tmp_path / "sr"
    sr_dir.mkdir()
    for stem in SET5[:4]:
        _save(sr_dir / f"{stem}_x2.png", np.zeros((20, 20), np.uint8))
    common = ["--dataset", "set5", "--scale", "2", "--name", "X", "--offline",
              "--data-root", str(datasets_root), "--results-dir", str(tmp_path / "res")]
    assert cli.main(["score", "--sr", str(sr_dir), *common]) == 2
    assert "no SR file for 1 of 5 GT images: woman_GT" in capsys.readouterr().err
    _save(sr_dir / "woman_x2.png", np.zeros((20, 20), np.uint8))
    assert cli.main(["score", "--sr", str(sr_dir), *common]) == 2
    err = capsys.readouterr().err
    assert "baby_x2.png is 20x20 px but GT baby_GT modcropped for x2 is 512x512 px" in err
    assert cli.main(["score", "--sr", str(sr_dir), *common, "--protocol", "float-y"]) == 2
    assert "unknown protocol 'float-y'" in capsys.readouterr().err
    assert cli.main(["score", "--sr", str(tmp_path / "nope"), *common]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "res").exists()  # nothing written on error
