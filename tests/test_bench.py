"""``python -m benchmark bench MODE --quick``: every mode runs on its small subset and writes
its JSON. Nothing is timed against anything here: quick figures say nothing about speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import cli

#: Every JSON: the machine, the date and the load average around the run.
COMMON = {"mode", "quick", "date", "cpu", "cores", "torch", "load_average_start",
          "load_average_end"}
NEEDS_DATA = {"eval", "peer"}


def _bench(mode: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / f"{mode}.json"
    assert cli.main(["bench", mode, "--quick", "--quiet", "--out", str(out), *extra]) == 0
    payload = json.loads(out.read_text())
    assert COMMON <= set(payload) and payload["mode"] == mode and payload["quick"] is True
    return payload


def test_eval_runs_table2_cold_then_warm(cache: None, datasets_root: Path, tmp_path: Path):
    payload = _bench("eval", tmp_path, "--data-root", str(datasets_root), "--jobs", "1")
    assert payload["datasets"] == ["set5"] and payload["scales"] == [2]
    for label in ("cold", "warm"):
        run = payload[label]
        assert run["evaluations"] == 5 and run["process_wall_s"] > 0
        assert {"prepare", "psnr", "ssim", "ifc"} <= set(run["stage_seconds"])
    assert payload["cold_over_warm"] > 0


def test_peer_compares_metric_stages_with_scikit_image(cache: None, datasets_root: Path,
                                                       tmp_path: Path):
    payload = _bench("peer", tmp_path, "--data-root", str(datasets_root), "--jobs", "1")
    assert payload["evaluations"] == 15  # Set5 x2, x3, x4
    for side in ("srbench", "skimage"):
        assert set(payload[f"{side}_seconds"]) == {"psnr", "ssim", "wall"}
    assert payload["metric_ratio_skimage_over_srbench"] > 0
    # Same pairs, same PSNR formula; skimage's Gaussian SSIM is Wang et al.'s up to rounding.
    assert payload["psnr_max_abs_difference"] < 1e-9
    assert payload["ssim_mean_abs_difference"] < 1e-3


def test_inference_times_eager_and_chosen_against_the_peak(cache: None, tmp_path: Path):
    payload = _bench("inference", tmp_path)
    assert payload["sizes"] == [48] and payload["memory"]["size"] == [64, 64]
    (block,) = payload["threads"]
    assert {"onednn_gflops", "mkl_gflops", "gflops"} <= set(block["peak"]) or \
        {"mkl_gflops", "gflops"} <= set(block["peak"])
    assert set(block["methods"]) == {"srcnn_915", "vdsr"}
    for name, row in block["methods"].items():
        cell = row["sizes"]["48"]
        assert {"eager_ms", "chosen_ms", "speedup", "eager_gflops", "chosen_gflops",
                "eager_fraction_of_peak", "chosen_fraction_of_peak", "max_difference"} <= set(cell)
        assert cell["max_difference"] <= 1e-4
        assert row["macs_per_pixel"] > 0
        memory = payload["memory"]["methods"][name]
        assert memory["eager_mib"] > 0 and memory["chosen_mib"] > 0


def test_train_times_the_variants_of_both_recipes(cache: None, tmp_path: Path):
    payload = _bench("train", tmp_path)
    assert set(payload["methods"]) == {"drrn_b1u9", "srcnn_915"}
    for method in payload["methods"].values():
        variants = method["variants"]
        assert set(variants) == {"plain 1t", "today (1t)"}
        assert variants["plain 1t"]["ratio"] == 1.0
        assert all(v["patches_per_s"] > 0 for v in variants.values())


def test_bench_help_names_every_mode(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    text = capsys.readouterr().out
    assert all(mode in text for mode in ("eval", "peer", "inference", "train", "--quick"))


def test_the_peak_counts_the_fastest_of_its_repeats() -> None:
    from benchmark import bench_inference

    times = iter([3.0, 1.0, 2.0, 5.0, 4.0, 9.0])
    fastest = bench_inference._fastest(lambda: next(times))
    assert bench_inference.PEAK_REPEATS == 5
    assert fastest() == 1.0 and next(times) == 9.0  # five timings, no more
