"""The Python API (``benchmark.run``, ``score``, ``train``, ``load_results``) as the README
shows it to a notebook user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import benchmark
from benchmark import api, weights

DATA = os.environ.get("SRBENCH_DATA", "")
needs_data = pytest.mark.skipif(not DATA, reason="SRBENCH_DATA is not set (the staged test sets)")

#: The bicubic row of DRRN Table 2 for Set5 (PSNR, SSIM).
BICUBIC_SET5 = {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)}


@needs_data
def test_readme_example_gives_the_published_bicubic_row_in_memory(cache: None) -> None:
    result = benchmark.run(["bicubic"], datasets=["set5"], scales=[2, 3, 4], results_dir=None,
                           progress=False)
    assert result.dir is None
    summary = result.summary.set_index("scale")
    for scale, (psnr, ssim) in BICUBIC_SET5.items():
        assert summary.loc[scale, "psnr"] == pytest.approx(psnr, abs=0.005)
        assert summary.loc[scale, "ssim"] == pytest.approx(ssim, abs=0.0005)
    assert len(result.per_image) == 15 and set(result.per_image["status"]) == {"ok"}
    assert result.per_image["image"].map(type).eq(str).all()
    assert result.models == ["bicubic: fixed (no weights)"] or result.models[0].startswith("bicubic")


@needs_data
def test_a_run_folder_reads_back_with_string_image_names(cache: None, tmp_path: Path) -> None:
    result = benchmark.run(["bicubic"], datasets=["set5"], scales=[3], metrics=["psnr"],
                           results_dir=tmp_path, progress=False)
    assert result.dir is not None and result.dir.parent == tmp_path
    back = benchmark.load_results(result.dir)
    assert list(back["image"]) == list(result.per_image["image"])
    assert back["psnr"].tolist() == pytest.approx(result.per_image["psnr"].tolist(), abs=1e-7)  # CSV: 10 digits
    assert back["ssim"].isna().all()  # not requested: NaN, never "-"


def test_load_results_keeps_numeric_image_names_as_strings(tmp_path: Path) -> None:
    csv = tmp_path / "per_image.csv"
    csv.write_text("run_id,method,dataset,scale,image,psnr,ssim,status\n"
                   "r,bicubic,bsd100,2,101085,30.5,,ok\n"
                   "r,bicubic,bsd100,2,0801,31.5,0.9,ok\n")
    frame = benchmark.load_results(csv)
    assert frame["image"].tolist() == ["101085", "0801"]
    assert pd.isna(frame.loc[0, "ssim"]) and frame["scale"].dtype == "int64"


def test_requests_are_checked_before_any_work() -> None:
    with pytest.raises(api.RequestError, match="unknown method"):
        benchmark.run(["drrn", "vdsrr"], datasets=["set5"], results_dir=None)
    with pytest.raises(api.RequestError, match="outside the supported range"):
        benchmark.run(["bicubic"], datasets=["set5"], scales=[1], results_dir=None)
    with pytest.raises(api.RequestError, match="listed twice"):
        benchmark.run(["bicubic", "bicubic"], results_dir=None)
    with pytest.raises(api.RequestError, match="unknown metric"):
        benchmark.run(["bicubic"], metrics=["psnr", "lpips"], results_dir=None)


def test_train_gives_one_checkpoint_per_scale_for_a_per_scale_method(
        cache: None, tmp_path: Path) -> None:
    overrides = {"train_set": "sample_train", "val_set": "sample", "batch_size": 8,
                 "max_patches": 64, "log_every": 2, "ckpt_every": 2, "warmup_iters": 1}
    paths = benchmark.train("srcnn_915", "quick", scales=[2, 3], iterations=2,
                            overrides=overrides, device="cpu", offline=True,
                            weights_dir=tmp_path, progress=False)
    assert len(paths) == 2 and paths[0] != paths[1]
    for path, scale in zip(paths, (2, 3)):
        _, meta = weights.load_checkpoint(path, "srcnn_915")
        assert meta["scales"] == [scale] and meta["finished"]
        assert meta["config"]["padding_mode"] == "replicate"  # the evaluation network
        assert meta["params"]["train_config"] == {"padding_mode": "valid"}


def test_the_api_is_public_and_lazy() -> None:
    for name in ("run", "score", "train", "ablate", "compare", "load_results", "Run"):
        assert name in benchmark.__all__ and callable(getattr(benchmark, name))
    code = "import sys, benchmark; print(sorted(m for m in ('pandas', 'scipy', 'cv2') " \
           "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_run_folder_rewrites_are_spaced_by_their_own_cost() -> None:
    from benchmark.api import REWRITE_SPACING, _Spaced

    now = [0.0]
    calls: list[float] = []

    def write() -> None:  # each rewrite takes 1 time unit
        calls.append(now[0])
        now[0] += 1.0

    rewrite = _Spaced(write, clock=lambda: now[0])
    assert rewrite()  # the first always runs
    for _ in range(8 * REWRITE_SPACING):
        now[0] += 0.5
        rewrite()
    gaps = [b - (a + 1.0) for a, b in zip(calls, calls[1:])]
    assert len(calls) >= 3 and all(gap >= REWRITE_SPACING for gap in gaps)
    assert all(gap < REWRITE_SPACING + 0.5 for gap in gaps)  # and no later than due
