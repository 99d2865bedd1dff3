"""Paired comparisons between methods (benchmark.comparison, ``compare``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import benchmark
from benchmark import cli, comparison, results


def _run(folder: Path, method: str, psnr: list[float], run_id: str, **extra: list) -> Path:
    n = len(psnr)
    frame = pd.DataFrame({
        "run_id": run_id, "method": method, "dataset": "set5", "scale": 2,
        "image": [f"img{i}" for i in range(n)], "psnr": psnr,
        "ssim": [0.9 + p / 1000 for p in psnr], "status": "ok", "protocol": "drrn-matlab-v1",
        **extra,
    })
    folder.mkdir(parents=True)
    results.atomic_write_csv(folder / "per_image.csv", frame)
    return folder


def test_delta_ci_and_tests_match_direct_computation(tmp_path: Path) -> None:
    base = [30.0, 31.0, 29.5, 32.0, 28.0, 30.5]
    better = [31.2, 31.9, 30.9, 33.4, 28.8, 31.0]
    a = _run(tmp_path / "a", "bicubic", base, "ra")
    b = _run(tmp_path / "b", "net", better, "rb")
    table = comparison.compare([a, b], "bicubic")
    row = table[table["metric"] == "psnr"].iloc[0]
    d = np.subtract(better, base)
    assert row["method"] == "net" and row["n"] == 6 and row["n_seeds"] == 0
    assert row["delta"] == pytest.approx(d.mean())
    assert row["p_t"] == pytest.approx(stats.ttest_rel(better, base).pvalue)
    assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert row["ci_low"] < d.mean() < row["ci_high"] and row["ci_low"] > 0
    assert row["verdict"] == "better than the baseline"
    assert list(table.columns[:11]) == ["method", "baseline", "dataset", "scale", "metric",
                                        "delta", "ci_low", "ci_high", "p_wilcoxon", "p_t", "n"]


def test_same_method_twice_is_labelled_and_not_distinguishable(tmp_path: Path) -> None:
    base = [30.0, 31.0, 29.5, 32.0, 28.0]
    a = _run(tmp_path / "a", "bicubic", base, "ra")
    b = _run(tmp_path / "b", "bicubic", base, "rb")
    table = comparison.compare([a, b], "bicubic", ["psnr"])
    row = table.iloc[0]
    assert row["method"] == "bicubic@rb" and row["delta"] == 0
    assert row["verdict"] == comparison.NOISE
    assert "not distinguishable" in comparison.format_comparison(table)


def test_noisy_difference_is_not_distinguishable(tmp_path: Path) -> None:
    base = [30.0, 31.0, 29.5, 32.0, 28.0, 30.0]
    noisy = [30.1, 30.9, 29.6, 31.9, 28.05, 29.98]
    a = _run(tmp_path / "a", "bicubic", base, "ra")
    b = _run(tmp_path / "b", "net", noisy, "rb")
    row = comparison.compare([a, b], "bicubic", ["psnr"]).iloc[0]
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == comparison.NOISE


def test_seeds_pair_each_seed_with_the_baseline_image(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", "bicubic", [30.0, 31.0, 29.0], "ra")
    b = _run(tmp_path / "b", "net", [31.0, 32.0, 30.0, 30.5, 31.5, 29.5], "rb",
             seed=[0, 0, 0, 1, 1, 1])
    frame = pd.read_csv(b / "per_image.csv")
    frame["image"] = ["img0", "img1", "img2"] * 2
    results.atomic_write_csv(b / "per_image.csv", frame)
    row = comparison.compare([a, b], "bicubic", ["psnr"]).iloc[0]
    assert row["n"] == 6 and row["delta"] == pytest.approx(0.75)


def test_ensemble_rows_are_labelled_apart(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", "net", [30.0, 31.0, 29.0], "ra", ensemble=["", "", ""])
    b = _run(tmp_path / "b", "net", [30.1, 31.1, 29.1], "rb", ensemble=["x8"] * 3)
    with pytest.raises(comparison.CompareError, match="no other method"):
        comparison.compare([a, b], "net", ["psnr"])  # plain and x8 rows never pair
    rows = comparison.read_runs([a, b])
    assert set(rows["label"]) == {"net", "net+"}


def test_cli_compare_writes_csv_and_bad_baseline_exits_2(tmp_path: Path, capsys) -> None:
    a = _run(tmp_path / "a", "bicubic", [30.0, 31.0, 29.5], "ra")
    b = _run(tmp_path / "b", "net", [31.0, 32.0, 30.0], "rb")
    out = tmp_path / "comparison.csv"
    assert cli.main(["compare", str(a), str(b), "--baseline", "bicubic", "--out", str(out)]) == 0
    assert list(pd.read_csv(out)["metric"]) == ["psnr", "ssim"]
    assert cli.main(["compare", str(a), "--baseline", "vdsr", "--out", str(out)]) == 2
    assert "error: --baseline" in capsys.readouterr().err
    assert cli.main(["compare", str(tmp_path), "--baseline", "x", "--out", str(out)]) == 2


def test_package_exports_compare() -> None:
    assert benchmark.compare is comparison.compare
