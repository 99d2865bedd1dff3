"""The trainer: clipping, schedules, losses, the patch bank, loss decrease and exact resume.

Tests that need images use ``$SRBENCH_DATA`` (the staged datasets) and are skipped without
it; they train tiny models on a Set5 patch bank so that the whole file runs in seconds.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from benchmark import data, harness, imaging
from benchmark.patches import augment, build_patch_bank, extract, image_patches
from benchmark.trainer import (
    EPOCH_ITERS,
    alpha_at,
    clip_gradients,
    half_sse,
    lr_at,
    plan_training,
    recursive_supervision_loss,
    train,
)
from benchmark.weights import load_checkpoint, load_model

DATA = os.environ.get("SRBENCH_DATA", "")
needs_data = pytest.mark.skipif(
    not DATA or not Path(DATA).is_dir(),
    reason="SRBENCH_DATA is not set to the staged datasets folder (e.g. ../shared/datasets)",
)


# ------------------------------------------------------------------------- pure functions
def _model_with_grads(scale: float) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 1, 3))
    for p in model.parameters():
        p.grad = scale * torch.randn_like(p)
    return model


@pytest.mark.parametrize("lr", [0.1, 0.0125])
def test_global_norm_clipping_bounds_the_norm_by_theta_over_lr(lr: float) -> None:
    model = _model_with_grads(100.0)
    params = list(model.parameters())
    before = torch.nn.utils.get_total_norm([p.grad for p in params])
    returned = clip_gradients(params, "global_norm", 0.01, lr)
    after = torch.nn.utils.get_total_norm([p.grad for p in params])
    assert before > 0.01 / lr
    assert torch.isclose(returned, before)
    assert after <= 0.01 / lr * (1 + 1e-5)
    assert torch.isclose(after, torch.tensor(0.01 / lr), rtol=1e-4)


def test_global_norm_clipping_leaves_small_gradients_alone() -> None:
    model = _model_with_grads(1e-4)
    params = list(model.parameters())
    grads = [p.grad.clone() for p in params]
    clip_gradients(params, "global_norm", 0.01, 0.1)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, params))


def test_value_clipping_bounds_every_element() -> None:
    model = _model_with_grads(100.0)
    clip_gradients(list(model.parameters()), "value", 0.01, 0.1)
    assert max(p.grad.abs().max().item() for p in model.parameters()) <= 0.1 + 1e-7


def test_half_sse_is_caffe_euclidean_loss() -> None:
    out, target = torch.rand(4, 1, 5, 5), torch.rand(4, 1, 5, 5)
    assert torch.isclose(half_sse(out, target), ((out - target) ** 2).sum() / 8)


def test_recursive_supervision_alpha_schedule_and_loss() -> None:
    params = {"alpha_start": 1.0, "alpha_end": 0.0, "alpha_decay": 0.5, "iterations": 1000}
    alphas = [alpha_at(it, params) for it in range(1000)]
    assert alphas[0] == 1.0
    assert all(a >= b for a, b in zip(alphas, alphas[1:]))
    assert alphas[250] == pytest.approx(0.5)
    assert alphas[500] == 0.0 and alphas[-1] == 0.0
    assert all(0.0 <= a <= 1.0 for a in alphas)
    target = torch.zeros(2, 1, 3, 3)
    preds = [torch.full_like(target, 1.0), torch.full_like(target, 3.0)]
    final = torch.full_like(target, 2.0)
    mean_inter = (half_sse(preds[0], target) + half_sse(preds[1], target)) / 2
    assert torch.isclose(recursive_supervision_loss(final, preds, target, 1.0), mean_inter)
    assert torch.isclose(recursive_supervision_loss(final, preds, target, 0.0),
                         half_sse(final, target))
    mix = recursive_supervision_loss(final, preds, target, 0.25)
    assert torch.isclose(mix, 0.25 * mean_inter + 0.75 * half_sse(final, target))


def test_paper_schedule_halves_every_ten_epochs() -> None:
    p = plan_training("drrn_b1u9", "paper").params
    assert lr_at(0, p) == 0.1
    assert lr_at(10 * EPOCH_ITERS - 1, p) == 0.1
    assert lr_at(10 * EPOCH_ITERS, p) == 0.05
    assert lr_at(35 * EPOCH_ITERS, p) == 0.1 / 8


def test_plans_record_recipe_and_method_parts() -> None:
    paper = plan_training("drrn_b1u9", "paper")
    assert paper.params["iterations"] == 71 * EPOCH_ITERS  # the method's released epoch
    assert paper.params["train_set"] == "train291" and paper.config["channels"] == 128
    assert (paper.params["clip"], paper.params["clip_theta"]) == ("global_norm", 0.01)
    quick = plan_training("drrn_b1u9", "quick")
    assert quick.config["channels"] == 32 and quick.params["optimizer"] == "adam"
    assert plan_training("drcn", "quick").params["loss"] == "recursive_supervision"
    assert plan_training("drrn_b1u9", "quick", config={"channels": 64}).config["channels"] == 64
    # execution options do not change the checkpoint; training options do
    assert plan_training("vdsr", "quick", {"bf16": True}).key == plan_training("vdsr").key
    assert plan_training("vdsr", "quick", {"iterations": 7}).key != plan_training("vdsr").key
    with pytest.raises(TypeError, match="did you mean 'batch_size'"):
        plan_training("vdsr", "quick", {"batch_sise": 3})


def test_augment_applies_one_transform_to_both_and_covers_all_eight() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3).repeat(256, 1, 1, 1)
    gen = torch.Generator().manual_seed(0)
    ax, ay = augment(x, 2 * x, gen)
    assert torch.equal(ay, 2 * ax)
    assert len({tuple(t.flatten().tolist()) for t in ax}) == 8


def test_extract_grid() -> None:
    img = np.arange(10 * 12).reshape(10, 12)
    patches = extract(img, 4, 3)
    assert patches.shape == (3 * 3, 4, 4)
    assert np.array_equal(patches[4], img[3:7, 3:7])
    assert extract(img, 11, 3).shape == (0, 11, 11)


# ------------------------------------------------------------------------------ with data
@needs_data
def test_bank_ilr_equals_the_harness_ilr(cache: None) -> None:
    """The bank's input patches are the harness's ILR (float32) on the patch grid."""
    patch, stride = 31, 21
    bank = build_patch_bank("set5", (2, 3), patch, stride, data_root=DATA, progress=False)
    refs = data.list_images("set5", DATA, offline=True, progress=False)
    pairs = harness.prepare_pairs({"set5": refs}, [2, 3], cache_dir=data.cache_dir(),
                                  jobs=1, times=harness.StageTimes(), progress=False)
    first = [p for p in pairs if p.ref.name == refs[0].name]
    offset = 0
    for pair in first:  # the first image's patches come first, scale by scale
        gt, ilr = pair.load()
        n = len(extract(ilr, patch, stride))
        rows = slice(offset, offset + n)
        assert np.array_equal(bank.ilr[rows], extract(ilr.astype(np.float32), patch, stride))
        assert np.array_equal(bank.gt[rows], extract(gt, patch, stride))
        assert np.all(bank.scale[rows] == pair.scale)
        offset += n
    # and the same through imaging.prepare_pair directly
    ilr_p, gt_p, _ = image_patches(refs[0].load(), (2,), patch, stride)
    _, ilr = imaging.prepare_pair(refs[0].load(), 2)
    i, j = 21, 42  # second row, third column of the grid
    k = ((ilr.shape[1] - patch) // stride + 1) * 1 + 2
    assert np.array_equal(ilr_p[k], ilr[i:i + patch, j:j + patch].astype(np.float32))


TINY = {
    "train_set": "set5", "scales": [2], "patch_size": 15, "stride": 15, "batch_size": 4,
    "log_every": 4, "ckpt_every": 4, "val_every": 0, "warmup_iters": 2,
}


def _log(path: Path) -> list[dict[str, str]]:
    with open(path.with_name(path.name.replace(".safetensors", ".csv")), newline="") as handle:
        return list(csv.DictReader(handle))


@needs_data
@pytest.mark.parametrize(("method", "config"), [
    ("drrn_b1u9", {"channels": 8, "U": 2}),
    ("drcn", {"channels": 8, "recursions": 3}),
])
def test_loss_decreases_on_a_tiny_config(cache: None, tmp_path: Path, method: str,
                                         config: dict) -> None:
    # He-initialised output conv (not the quick recipe's zero): training starts far from the
    # bicubic solution, so a working loop must cut the loss several-fold.
    overrides = {**TINY, "log_every": 10, "out_init_scale": 1.0}
    path = train(method, recipe="quick", overrides=overrides, config=config, iterations=60,
                 lr=3e-3, device="cpu", data_root=DATA, out_dir=tmp_path, progress=False)
    rows = _log(path)
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 6
    assert np.mean(losses[-2:]) < 0.25 * losses[0]
    _, meta = load_checkpoint(path)
    assert meta["recipe"] == "quick" and meta["finished"] and meta["iteration"] == 60
    assert meta["config"]["channels"] == 8 and meta["train_set"] == "set5"
    assert np.isfinite(meta["val_psnr"]) and rows[-1]["val_psnr"] != ""
    model, _ = load_model(path)
    assert sum(p.numel() for p in model.parameters()) > 0


@needs_data
def test_resume_gives_the_weights_of_an_uninterrupted_run(cache: None, tmp_path: Path) -> None:
    kwargs = dict(recipe="quick", overrides=TINY, config={"channels": 4, "U": 2},
                  iterations=12, device="cpu", data_root=DATA, progress=False)
    full = train("drrn_b1u9", out_dir=tmp_path / "a", **kwargs)
    partial = train("drrn_b1u9", out_dir=tmp_path / "b", stop_after=6, **kwargs)
    assert partial.name.endswith(".partial.safetensors")
    assert load_checkpoint(partial)[1]["iteration"] == 6
    resumed = train("drrn_b1u9", out_dir=tmp_path / "b", **kwargs)
    assert resumed.name == full.name and not partial.exists()
    a, _ = load_checkpoint(full)
    b, _ = load_checkpoint(resumed)
    assert a.keys() == b.keys()
    for name in a:  # weights, biases and BN running statistics, bit for bit
        assert torch.equal(a[name], b[name]), name
    assert [r["loss"] for r in _log(full)] == [r["loss"] for r in _log(resumed)]


@needs_data
def test_a_failing_compile_falls_back_to_eager(cache: None, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fn):
        def call(*args, **kwargs):
            raise RuntimeError("no compiler here")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile failed"):
        path = train("srcnn_915", recipe="quick", overrides=TINY, iterations=4, compile=True,
                     device="cpu", data_root=DATA, out_dir=tmp_path, progress=False)
    meta = load_checkpoint(path)[1]
    assert meta["finished"] and meta["execution"]["compile"] is False


def test_speed_reports_both_paths_on_cpu() -> None:
    from benchmark.speed import speed

    rows = speed(["srcnn_915"], "cpu", recipe="quick",
                 overrides={"batch_size": 2, "patch_size": 15}, image_size=16, steps=1, reps=1,
                 warmup=1)
    (row,) = rows
    assert row["method"] == "srcnn_915" and row["device"] == "cpu"
    for key in ("train_pps_optimised", "train_pps_eager", "infer_ms_optimised", "infer_ms_eager"):
        assert row[key] > 0
    ratio = row["train_pps_optimised"] / row["train_pps_eager"]
    assert row["train_speedup"] == pytest.approx(ratio)


def test_offline_main_job_trains_on_the_embedded_set_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A fresh offline machine (no data folder): `run` of a learned method trains on
    ``sample_train``, validates on ``sample``, evaluates ``sample`` and labels every row."""
    from benchmark.cli import main

    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "no-data"
    empty.mkdir()
    tiny = ["--set=patch_size=21", "--set=stride=21", "--set=batch_size=4", "--set=iterations=3",
            "--set=max_patches=64", "--set=log_every=3", "--set=ckpt_every=3",
            "--set=channels_last=false"]
    code = main(["run", "--methods", "bicubic,srcnn", "--scales", "2", "--metrics", "psnr",
                 "--data-root", str(empty), "--offline", "--device", "cpu", "--quiet",
                 "--no-report", "--results-dir", str(tmp_path / "results"),
                 "--weights-dir", str(tmp_path / "weights"), *tiny])
    err = capsys.readouterr().err
    assert code == 0
    assert "using the embedded 'sample_train' set instead" in err
    assert "using the embedded 'sample' set instead" in err
    (run,) = (tmp_path / "results").iterdir()
    rows = pd.read_csv(run / "per_image.csv")
    assert set(rows["dataset"]) == {"sample"} and (rows["status"] == "ok").all()
    learned = rows[rows["method"] == "srcnn"]
    assert len(learned) == len(data.SAMPLE_FILES)
    assert set(learned["recipe"]) == {"quick(x2, on sample_train, 3 it)"}
    (ckpt,) = (tmp_path / "weights").glob("*.safetensors")
    _, meta = load_checkpoint(ckpt, "srcnn")
    assert meta["train_set"] == "sample_train" and meta["val_set"] == "sample"
    assert meta["bank"]["dataset"] == "sample_train"
    assert meta["bank"]["images"] == len(data.SAMPLE_TRAIN_FILES)


def test_recipe_label_says_how_a_training_departs_from_its_recipe() -> None:
    from benchmark.trainer import recipe_label

    assert recipe_label({"recipe": "quick", "scales": [2], "iterations": 3000,
                         "train_set": "train291"}) == "quick(x2)"
    assert recipe_label({"recipe": "quick", "scales": [3], "iterations": 1500,
                         "train_set": "train291"}) == "quick(x3, 1500 it)"
    assert recipe_label({"recipe": "paper", "scales": [2, 3, 4], "iterations": 522880,
                         "train_set": "train291"}) == "paper"
    assert recipe_label({}, default="published") == "published"
