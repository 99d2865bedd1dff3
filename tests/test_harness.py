"""The harness end to end: published bicubic cells, run folders, caching, CLI errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark import PROTOCOL, cli, data, harness, imaging, metrics, registry, results

PUBLISHED_BICUBIC = registry.get_method("bicubic").published


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _bicubic_run() -> harness.MethodRun:
    return harness.MethodRun(registry.get_method("bicubic"), {}, registry.create_model("bicubic"))


#: Published bicubic SSIM cells that the protocol's shaved SSIM misses by 0.0006-0.0008. The
#: same pairs scored WITHOUT the border shave reproduce them (checked below), so the paper's
#: table mixes conventions there; our rows keep the protocol (shaved) value.
UNSHAVED_SSIM_CELLS = {("set14", 3), ("set14", 4), ("urban100", 4)}


@pytest.mark.slow
def test_bicubic_reproduces_all_twelve_published_cells(datasets_root: Path, cache_dir: Path):
    """docs/protocol.md: bicubic on Set5/Set14/BSD100/Urban100 x2/x3/x4 within 0.01 dB, 0.0005."""
    images = {name: data.list_images(name, datasets_root, offline=True, progress=False)
              for name in ("set5", "set14", "bsd100", "urban100")}
    pairs = harness.prepare_pairs(images, [2, 3, 4], cache_dir=cache_dir, jobs=2,
                                  times=harness.StageTimes(), progress=False)
    rows = harness.evaluate([_bicubic_run()], pairs, metric_names=("psnr", "ssim"),
                            device=harness.resolve_device("cpu"), jobs=2, progress=False)
    frame = pd.DataFrame(rows)
    assert len(frame) == 3 * (5 + 14 + 100 + 100)
    assert (frame["status"] == "ok").all()
    means = frame.groupby(["dataset", "scale"])[["psnr", "ssim"]].mean()
    for (dataset, scale), (psnr, ssim) in PUBLISHED_BICUBIC.items():
        ours = means.loc[(dataset, scale)]
        assert abs(ours["psnr"] - psnr) <= 0.01, (dataset, scale, ours["psnr"], psnr)
        if (dataset, scale) in UNSHAVED_SSIM_CELLS:
            assert 0.0005 < ssim - ours["ssim"] <= 0.001, (dataset, scale, ours["ssim"], ssim)
            cell = [p.load() for p in pairs if (p.ref.dataset, p.scale) == (dataset, scale)]
            unshaved = np.mean([metrics.ssim(gt, imaging.quantize_unit(ilr)) for gt, ilr in cell])
            assert abs(unshaved - ssim) <= 0.0005, (dataset, scale, unshaved, ssim)
        else:
            assert abs(ours["ssim"] - ssim) <= 0.0005, (dataset, scale, ours["ssim"], ssim)


def test_run_writes_tidy_tables_with_ifc_and_never_overwrites(
    datasets_root: Path, cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = ["run", "--methods", "bicubic", "--datasets", "set5", "--scales", "2,3",
            "--data-root", str(datasets_root), "--results-dir", str(tmp_path),
            "--cache-dir", str(cache_dir), "--jobs", "2", "--quiet", "--no-report"]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(runs) == 2, "a second run must get its own folder"
    per_image = pd.read_csv(runs[0] / "per_image.csv")
    assert list(per_image.columns[: len(results.PER_IMAGE_COLUMNS)]) == results.PER_IMAGE_COLUMNS
    assert len(per_image) == 10
    assert per_image["ifc"].notna().all() and (per_image["ifc"] > 0).all()
    assert set(per_image["protocol"]) == {PROTOCOL}
    assert (per_image["run_id"] == runs[0].name).all()
    summary = pd.read_csv(runs[0] / "summary.csv")
    for _, row in summary.iterrows():
        sel = per_image[per_image["scale"] == row["scale"]]
        assert row["psnr"] == pytest.approx(sel["psnr"].mean(), rel=1e-9)
        assert row["paper_psnr"] == PUBLISHED_BICUBIC[("set5", int(row["scale"]))][0]
    meta = json.loads((runs[0] / "run.json").read_text())
    assert meta["evaluations"] == 10 and set(meta["stage_seconds"]) >= {"prepare", "psnr", "ifc"}
    printed = capsys.readouterr().out
    assert "33.66" in printed and "paper" in printed


def test_methods_of_a_run_share_the_reference_side_and_score_as_alone(
    datasets_root: Path, cache_dir: Path
):
    """Scoring every method's output of an image in one task (the reference side of the
    metrics once) gives each method the rows it gets when evaluated alone, to the last bit;
    each method's metric seconds are kept apart (the bench's ratio reads them)."""
    images = {"set5": data.list_images("set5", datasets_root, offline=True, progress=False)}
    pairs = harness.prepare_pairs(images, [3], cache_dir=cache_dir, jobs=1,
                                  times=harness.StageTimes(), progress=False)
    spec = dataclasses.replace(registry.get_method("bicubic"), name="sharpened")
    device = harness.resolve_device("cpu")
    times = harness.StageTimes()
    together = harness.evaluate([_bicubic_run(), harness.MethodRun(spec, {}, _Sharpen())],
                                pairs, device=device, jobs=1, progress=False, times=times,
                                chunk=3)
    alone = [row for run in (_bicubic_run(), harness.MethodRun(spec, {}, _Sharpen()))
             for row in harness.evaluate(
        [run], pairs, device=device, jobs=1, progress=False)]
    key = lambda r: (r["method"], r["image"])  # noqa: E731
    for a, b in zip(sorted(together, key=key), sorted(alone, key=key)):
        assert [a[k] for k in ("psnr", "ssim", "ifc")] == [b[k] for k in ("psnr", "ssim", "ifc")]
    assert len(together) == 10 and {r["method"] for r in together} == {"bicubic", "sharpened"}
    assert set(times.metric_seconds) == {"bicubic", "sharpened"}


class _Sharpen(torch.nn.Module):
    """A stand-in second method: the ILR with its 4-neighbour Laplacian subtracted."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = torch.tensor([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=x.dtype)
        return x + 0.3 * torch.nn.functional.conv2d(x, kernel[None, None], padding=1)


def test_gt_ilr_cache_is_reused(datasets_root: Path, tmp_path: Path):
    images = {"set5": data.list_images("set5", datasets_root, offline=True, progress=False)}
    first, second = harness.StageTimes(), harness.StageTimes()
    pairs = harness.prepare_pairs(images, [3], cache_dir=tmp_path, jobs=1, times=first,
                                  progress=False)
    stamps = [p.lr_path.stat().st_mtime_ns for p in pairs]
    again = harness.prepare_pairs(images, [3], cache_dir=tmp_path, jobs=1, times=second,
                                  progress=False)
    assert [p.lr_path.stat().st_mtime_ns for p in again] == stamps
    gt, ilr = again[0].load()
    assert gt.dtype == np.uint8 and ilr.dtype == np.float64 and gt.shape == ilr.shape


def test_sample_set_runs_offline_without_any_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh offline checkout: the default job falls back to the embedded sample set."""
    monkeypatch.delenv("SRBENCH_DATA", raising=False)
    empty = tmp_path / "no-data"
    empty.mkdir()
    code = cli.main(["run", "--offline", "--data-root", str(empty), "--results-dir",
                     str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
                     "--scales", "2", "--quiet", "--jobs", "1", "--save-images"])
    assert code == 0
    (run,) = (tmp_path / "results").iterdir()
    per_image = pd.read_csv(run / "per_image.csv")
    assert set(per_image["dataset"]) == {"sample"} and len(per_image) >= 4
    assert per_image["psnr"].between(15, 60).all()
    saved = sorted((run / "images" / "bicubic" / "sample" / "x2").glob("*.png"))
    assert [p.stem for p in saved] == sorted(per_image["image"])
    assert imaging.read_image(saved[0]).dtype == np.uint8
    assert (tmp_path / "reports" / "index.html").is_file(), "run refreshes the HTML report"


def test_colour_output_keeps_y_and_takes_bicubic_chroma():
    # A smooth image: its bicubic chroma stays in the RGB gamut, so nothing is clipped.
    yy, xx = np.mgrid[0:24, 0:30]
    image = np.stack([60 + 4 * yy, 80 + 3 * xx, 150 - 2 * yy - xx], axis=-1).astype(np.uint8)
    y = imaging.rgb2y(imaging.modcrop(image, 4))
    colour = harness.colour_output(image, y, 4)
    assert colour.shape == (24, 28, 3) and colour.dtype == np.uint8
    # Round trip through the colour image changes Y by at most the quantisation steps.
    assert np.abs(imaging.rgb2y(colour).astype(int) - y).max() <= 1
    gray = image[..., 0]
    assert harness.colour_output(gray, imaging.modcrop(gray, 4), 4) is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--methods", "bicubc"], "did you mean 'bicubic'"),
        (["run", "--datasets", "set15"], "did you mean"),
        (["run", "--scales", "x2"], "not an integer"),
        (["run", "--scales", "1"], "outside the supported range"),
        (["run", "--scales", "2,2"], "listed twice"),
        (["run", "--metrics", "psnr,ssimm"], "did you mean 'ssim'"),
    ],
)
def test_bad_command_lines_fail_early_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code = cli.main([*argv, "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "results").exists(), "no work may start on a bad command line"


def test_summary_leaves_failed_rows_out_of_the_means():
    rows = [
        dict(method="bicubic", config="-", weights="-", recipe="-", protocol=PROTOCOL,
             dataset="set5", scale=2, image=f"im{i}", psnr=p, ssim=0.9, ifc=np.nan,
             seconds=0.0, status=s)
        for i, (p, s) in enumerate([(30.0, "ok"), (32.0, "ok"), (np.nan, "nonfinite output")])
    ]
    summary = results.summarize(pd.DataFrame(rows))
    (row,) = summary.to_dict("records")
    assert row["psnr"] == 31.0 and row["n_images"] == 2 and row["n_failed"] == 1
    assert row["diff_psnr"] == pytest.approx(31.0 - 33.66)


def test_run_with_official_vdsr_weights_matches_published_set5_x3(
    datasets_root: Path, reference_root: Path, cache_dir: Path, tmp_path: Path
):
    weights_file = reference_root / "caffe-vdsr" / "Test" / "VDSR_Official.mat"
    argv = ["run", "--methods", "vdsr", "--weights", str(weights_file), "--datasets", "set5",
            "--scales", "3", "--metrics", "psnr", "--data-root", str(datasets_root),
            "--results-dir", str(tmp_path), "--cache-dir", str(cache_dir), "--jobs", "1",
            "--quiet", "--no-report"]
    assert cli.main(argv) == 0
    (run,) = tmp_path.iterdir()
    summary = pd.read_csv(run / "summary.csv")
    (row,) = summary.to_dict("records")
    # A file that is a zoo entry is named by its entry and sha256, whatever its path.
    assert row["recipe"] == "published"
    assert row["weights"] == "zoo:vdsr_official@sha256:" \
        "f613166660840af1a2ca47e31b0337b951e7c4e094364f6135a16d81a55c323c"
    assert abs(row["psnr"] - 33.66) <= 0.02


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--methods", "bicubic", "--weights", "x.mat"], "needs exactly one learned"),
        (["run", "--methods", "vdsr", "--weights", "no/such/file.mat"], "is not a file"),
        (["run", "--methods", "vdsr", "--weights", "srcnn=x.mat"], "is not among --methods"),
    ],
)
def test_bad_weights_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_preparation_workers_go_on_to_score() -> None:
    """Preparation runs on the scoring executor: its workers, warm, are the ones that score
    (a pool with other settings would make the executor restart them)."""
    import os

    from benchmark.harness import _executor, _in_order

    prepared = set(_in_order(os.getpid, [()] * 16, 2))
    scored = {_executor(2).submit(os.getpid).result() for _ in range(8)}
    assert os.getpid() not in prepared and scored <= prepared


def test_in_order_keeps_the_order_and_raises_a_task_error() -> None:
    from benchmark.harness import _in_order

    assert list(_in_order(abs, [(-i,) for i in range(20)], 2)) == list(range(20))
    with pytest.raises(TypeError):
        list(_in_order(abs, [(-1,), ("x",), (-3,)], 2))
