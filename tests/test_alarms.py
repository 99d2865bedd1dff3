"""Integrity alarms: the bicubic fingerprint of test sets and the run warnings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import PROTOCOL, alarms, cli, data, imaging


@pytest.fixture()
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SRBENCH_CACHE", str(cache))
    return cache


def _tampered_set5(datasets_root: Path, folder: Path) -> Path:
    """A dir: copy of Set5 (in a temporary folder) whose butterfly is a bicubic upscaling."""
    folder.mkdir()
    for path in sorted((datasets_root / "Set5").glob("*.bmp")):
        shutil.copyfile(path, folder / path.name)
    target = folder / "butterfly_GT.bmp"
    img = imaging.read_image(target).astype(np.float64) / 255.0
    up = imaging.imresize(imaging.imresize(img, 1 / 4), output_shape=img.shape[:2])
    imaging.write_image(target, imaging.quantize_unit(up))
    return folder


def test_fingerprint_of_set5_reproduces_the_published_row(
    datasets_root: Path, own_cache: Path
) -> None:
    refs = data.list_images("set5", datasets_root, offline=True, progress=False)
    checks = alarms.fingerprint(refs, "set5", cache_dir=own_cache)
    assert [c.scale for c in checks] == [2, 3, 4] and all(c.ok for c in checks)
    assert checks[0].psnr == pytest.approx(33.66, abs=0.01)


def test_fingerprint_fails_on_a_copy_with_an_upscaled_hr_image(
    datasets_root: Path, own_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = _tampered_set5(datasets_root, tmp_path / "set5copy")
    refs = data.list_images(f"dir:{folder}", offline=True, progress=False)
    checks = alarms.fingerprint(refs, "set5", cache_dir=own_cache)
    assert not any(c.ok for c in checks) and checks[0].psnr > 33.66 + 0.1
    code = cli.main(["datasets", "verify", "--fingerprint", f"dir:{folder}", "--like", "set5",
                     "--data-root", str(datasets_root)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1 and len(out) == 1 and "FAILS the bicubic fingerprint of set5" in out[0]


def test_fingerprint_usage_errors(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["datasets", "verify", "set5", "--like", "set14"]) == 2
    assert "--like" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no published bicubic row for t91"):
        alarms.fingerprint([], "t91", cache_dir=Path("/nonexistent"))


def _summary(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "recipe": "published", "protocol": PROTOCOL,
                          "dataset": d, "scale": 2, "psnr": p, "paper_psnr": paper}
                         for m, d, p, paper in rows])


def test_run_warnings_near_bicubic_and_below_paper() -> None:
    nan = float("nan")
    lines = alarms.run_warnings(_summary([
        ("bicubic", "set5", 33.70, 33.66),
        ("vdsr", "set5", 33.75, 37.53),  # within 0.1 dB of this run's bicubic, 3.8 dB short
        ("srcnn", "set14", 30.30, nan),  # within 0.1 dB of the published bicubic 30.24
        ("drrn_b1u9", "set5", 37.60, 37.66),  # fine
    ]))
    assert len(lines) == 3
    assert "vdsr (published) on set5 x2: 33.75 dB is within 0.1 dB of bicubic (33.70 dB)" in lines[0]
    assert "3.78 dB below its published 37.53 dB" in lines[1]
    assert "srcnn" in lines[2] and "(30.24 dB)" in lines[2]
    assert alarms.run_warnings(_summary([("bicubic", "set5", 33.66, 33.66)])) == []
    other = _summary([("vdsr", "set5", 33.70, 37.53)]).assign(protocol="matlab-float-y-v1")
    assert alarms.run_warnings(other) == []
