"""Hostile inputs, crashes and untrusted files (issue 7).

What the other test files already cover is not repeated here: ``read_image`` on odd files
(test_imaging), failed downloads (test_data), malicious or broken checkpoints (test_weights),
hostile names in the report (test_report) and bad command lines (test_harness). This file
checks that the same hostile files, met *during a run*, give one row each with a status that
names the problem while every other image is still evaluated; that a model's NaN/Inf output is
recorded and the run goes on; that killing a run never leaves a half-written table or a corrupt
cache; and a few properties of the imaging helpers.

The suite extracts no archives (no tarfile/zipfile use in ``benchmark/``), so there is no
path-traversal case to test for extraction.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from benchmark import cli, data, harness, imaging, registry

REPO = Path(__file__).resolve().parent.parent
SIDE = 84  # a multiple of 2, 3 and 4, and above IFC's 72 px after shaving


# --------------------------------------------------------------------------------------------
# A folder of hostile images
# --------------------------------------------------------------------------------------------


def _rgb(h: int = SIDE, w: int = SIDE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth content, so that bicubic scores are ordinary numbers
    base = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2, 3)).astype(np.float64)
    big = np.kron(base, np.ones((4, 4, 1)))[:h, :w]
    return big.astype(np.uint8)


def _png_bytes(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def make_hostile_folder(folder: Path) -> dict[str, np.ndarray | str]:
    """Write the hostile files; return per stem the expected array or the expected status text."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, np.ndarray | str] = {}

    rgb = _rgb()
    Image.fromarray(rgb).save(folder / "a_good.png")
    expected["a_good"] = rgb

    whole = _png_bytes(Image.fromarray(_rgb(seed=1)))
    (folder / "b_truncated.png").write_bytes(whole[: len(whole) // 2])
    expected["b_truncated"] = "corrupt or truncated"

    (folder / "c_not_an_image.png").write_bytes(b"<html>404 not found</html>\n")
    expected["c_not_an_image"] = "not a readable image file"

    deep = (np.arange(SIDE * SIDE, dtype=np.uint16).reshape(SIDE, SIDE) * 7)
    Image.fromarray(deep).save(folder / "d_16bit.png")  # mode I;16
    expected["d_16bit"] = "16-bit"

    rgba = np.dstack([_rgb(seed=2), np.full((SIDE, SIDE), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "e_rgba.png")
    expected["e_rgba"] = rgba[..., :3]  # alpha dropped

    pal = Image.fromarray(_rgb(seed=3)).quantize(colors=16)
    pal.save(folder / "f_palette.png")
    expected["f_palette"] = np.asarray(pal.convert("RGB"))

    cmyk = Image.fromarray(_rgb(seed=4)).convert("CMYK")
    cmyk.save(folder / "g_cmyk.jpg", quality=95)
    with Image.open(folder / "g_cmyk.jpg") as im:
        assert im.mode == "CMYK"
        expected["g_cmyk"] = np.asarray(im.convert("RGB"))

    # EXIF orientation 6 ("rotate 90 CW to view"), non-square so a rotation changes the shape
    tall = _rgb(SIDE + 12, SIDE, seed=5)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(tall).save(folder / "h_exif.jpg", quality=95, exif=exif.tobytes())
    with Image.open(folder / "h_exif.jpg") as im:
        assert im.getexif().get(0x0112) == 6
        expected["h_exif"] = np.asarray(im)  # stored order, as MATLAB imread
    assert expected["h_exif"].shape[:2] == (SIDE + 12, SIDE)

    gray = _rgb(seed=6)[..., 0]
    Image.fromarray(gray, "L").save(folder / "i_gray.png")
    expected["i_gray"] = gray

    Image.fromarray(_rgb(10, 10, seed=7)).save(folder / "j_tiny.png")
    expected["j_tiny"] = "too small for x2"

    small = _rgb(48, 48, seed=8)
    Image.fromarray(small).save(folder / "k_small_for_ifc.png")
    expected["k_small_for_ifc"] = small

    (folder / "README.txt").write_text("not listed: not an image extension\n")
    (folder / ".hidden.png").write_bytes(b"junk")
    return expected


def _bicubic_run() -> harness.MethodRun:
    spec = registry.get_method("bicubic")
    config = registry.resolve_config("bicubic")
    return harness.MethodRun(spec, config, spec.factory(**config))


class _Constant(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        y[..., 0, 0] = self.value  # one bad pixel is enough
        return y


def _run(method: str, value: float) -> harness.MethodRun:
    spec = dataclasses.replace(registry.get_method("bicubic"), name=method)
    return harness.MethodRun(spec, {}, _Constant(value))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    folder = tmp_path_factory.mktemp("hostile") / "images"
    return folder, make_hostile_folder(folder)


def _evaluate(folder: Path, cache: Path, runs: list[harness.MethodRun],
              metrics: tuple[str, ...] = ("psnr", "ssim", "ifc")) -> tuple[list, list[dict]]:
    refs = data.list_images(f"dir:{folder}")
    pairs = harness.prepare_pairs({"dir": refs}, [2], cache_dir=cache, jobs=1,
                                  times=harness.StageTimes(), progress=False)
    rows = harness.evaluate(runs, pairs, metric_names=metrics, device=torch.device("cpu"),
                            jobs=1, progress=False)
    return pairs, rows


def test_dir_dataset_lists_image_files_sorted_with_sha(hostile: tuple[Path, dict]) -> None:
    folder, expected = hostile
    refs = data.list_images(f"dir:{folder}")
    assert [r.name for r in refs] == sorted(expected)  # README.txt and .hidden.png left out
    assert all(r.dataset == f"dir:{folder}" for r in refs)
    assert refs[0].sha256 == data.file_sha256(folder / "a_good.png")
    with pytest.raises(data.DatasetError, match="is not a folder"):
        data.list_images(f"dir:{folder / 'nope'}")
    with pytest.raises(data.UnknownDatasetError):
        data.get_dataset("dir:")
    report = data.verify_dataset(f"dir:{folder}")  # no digests to check: listed means ok
    assert [s for _, s in report] == ["ok"] * len(expected)
    assert data.download_dataset(f"dir:{folder}") == []


def test_hostile_images_through_the_harness(hostile: tuple[Path, dict], tmp_path: Path) -> None:
    folder, expected = hostile
    pairs, rows = _evaluate(folder, tmp_path / "cache", [_bicubic_run()])
    by_name = {r["image"]: r for r in rows}
    assert sorted(by_name) == sorted(expected) and len(rows) == len(expected)
    by_pair = {p.ref.name: p for p in pairs}
    for name, want in expected.items():
        row = by_name[name]
        if isinstance(want, str):  # rejected, with a status naming the problem
            assert row["status"].startswith("skipped: "), (name, row["status"])
            assert want in row["status"], (name, row["status"])
            assert np.isnan(row["psnr"]) and np.isnan(row["ssim"])
            continue
        assert row["status"] == "ok", (name, row["status"])
        # handled per protocol: the GT is modcrop(rgb2y(stored pixels)), EXIF ignored
        gt = np.load(by_pair[name].gt_path)
        assert np.array_equal(gt, imaging.modcrop(imaging.rgb2y(want), 2)), name
        assert np.isfinite(row["psnr"]) and np.isfinite(row["ssim"]), name
        if name == "k_small_for_ifc":
            assert np.isnan(row["ifc"])  # too small for IFC's pyramid: NaN, still ok
        else:
            assert np.isfinite(row["ifc"]), name
    assert by_name["h_exif"]["status"] == "ok"
    assert np.load(by_pair["h_exif"].gt_path).shape == (SIDE + 12, SIDE)  # not rotated


def test_rgba_and_palette_score_like_their_rgb(hostile: tuple[Path, dict], tmp_path: Path) -> None:
    folder, _ = hostile
    _, rows = _evaluate(folder, tmp_path / "cache", [_bicubic_run()], metrics=("psnr",))
    by_name = {r["image"]: r for r in rows}
    rgb_only = tmp_path / "rgb"
    rgb_only.mkdir()
    with Image.open(folder / "e_rgba.png") as im:
        Image.fromarray(np.asarray(im)[..., :3]).save(rgb_only / "e_rgba.png")
    _, rgb_rows = _evaluate(rgb_only, tmp_path / "cache", [_bicubic_run()], metrics=("psnr",))
    assert rgb_rows[0]["psnr"] == by_name["e_rgba"]["psnr"]


def test_nonfinite_output_is_recorded_and_the_run_continues(
    hostile: tuple[Path, dict], tmp_path: Path
) -> None:
    folder, expected = hostile
    runs = [_run("nan_out", float("nan")), _run("inf_out", float("inf")),
            _run("neginf_out", float("-inf")), _bicubic_run()]
    _, rows = _evaluate(folder, tmp_path / "cache", runs, metrics=("psnr",))
    assert len(rows) == 4 * len(expected)
    readable = [n for n, w in expected.items() if not isinstance(w, str)]
    for method in ("nan_out", "inf_out", "neginf_out"):
        mine = {r["image"]: r for r in rows if r["method"] == method}
        for name in readable:
            assert mine[name]["status"] == "nonfinite output", (method, name)
            assert np.isnan(mine[name]["psnr"])
    bicubic = [r for r in rows if r["method"] == "bicubic" and r["image"] in readable]
    assert bicubic and all(r["status"] == "ok" for r in bicubic)


NAN_PLUGIN = '''
import torch.nn as nn
from benchmark import register_method


class NanNet(nn.Module):
    def forward(self, x):
        return x * float("nan")


@register_method("{name}", family="{name}", trainable=False, description="always NaN")
def make():
    return NanNet()
'''


def test_cli_dir_run_reports_skipped_images_and_nonfinite_output(
    hostile: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, expected = hostile
    name = f"hostile_nan_{os.getpid()}"
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(NAN_PLUGIN.format(name=name))
    results_dir = tmp_path / "results"
    rc = cli.main([
        "--plugin", str(plugin), "run", "--methods", f"bicubic,{name}",
        "--datasets", f"dir:{folder}", "--scales", "2", "--metrics", "psnr", "--jobs", "1",
        "--no-report", "--quiet", "--offline", "--results-dir", str(results_dir),
        "--cache-dir", str(tmp_path / "cache"),
    ])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_SKIPPED
    (table,) = results_dir.glob("*/per_image.csv")
    frame = pd.read_csv(table)
    assert len(frame) == 2 * len(expected)
    assert (frame[frame["method"] == name]["status"] != "ok").all()
    assert set(frame[frame["method"] == name]["status"]) >= {"nonfinite output"}
    ok = frame[(frame["method"] == "bicubic") & (frame["status"] == "ok")]
    assert sorted(ok["image"]) == sorted(n for n, w in expected.items() if not isinstance(w, str))
    assert "skipped: bicubic" in err and "b_truncated" in err and "nonfinite output" in err
    summary = pd.read_csv(table.parent / "summary.csv")
    assert len(summary) == 2  # one row per method, never NaN-poisoned by the bad rows
    assert np.isfinite(summary[summary["method"] == "bicubic"]["psnr"]).all()


def test_cli_dir_run_of_a_missing_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["run", "--datasets", f"dir:{tmp_path / 'absent'}", "--scales", "2",
                   "--metrics", "psnr", "--jobs", "1", "--no-report", "--quiet",
                   "--results-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 2 and "is not a folder" in err and len(err.strip().splitlines()) == 1


def test_hostile_dataset_names_stay_inside_the_cache(tmp_path: Path) -> None:
    """A ``dir:`` set's name holds slashes and ``..``: its cache files stay under the cache."""
    sub = tmp_path / "deep" / "x"
    sub.mkdir(parents=True)
    Image.fromarray(_rgb()).save(sub / "img.png")
    cache = tmp_path / "cache"
    name = f"dir:{tmp_path}/deep/../deep/x"
    refs = data.list_images(name)
    pairs = harness.prepare_pairs({name: refs}, [2], cache_dir=cache, jobs=1,
                                  times=harness.StageTimes(), progress=False)
    assert pairs[0].error is None
    for path in (pairs[0].gt_path, pairs[0].lr_path):
        assert path.is_file()
        assert path.resolve().is_relative_to((cache / "pairs").resolve())
        assert path.parent.parent.parent.parent == cache / "pairs"


def test_decompression_bomb_is_one_clear_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image far larger than Pillow's safety limit (here: the limit lowered to 100 px) is
    refused before decoding, as an ImageReadError naming the file, not a crash."""
    path = tmp_path / "bomb.png"
    Image.fromarray(_rgb()).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 84 x 84 > 2 x 100
    with pytest.raises(imaging.ImageReadError, match="bomb.png is too large to decode safely"):
        imaging.read_image(path)


# --------------------------------------------------------------------------------------------
# Kills: no half-written table, no corrupt cache, a rerun completes
# --------------------------------------------------------------------------------------------

SCALES = (2, 3, 4)
SET_SIZES = {"set5": 5, "set14": 14}


def _cmd(results: Path, cache: Path, scales: str = "2,3,4", metrics: str = "psnr,ssim,ifc",
         datasets: str = "set5") -> list[str]:
    return [sys.executable, "-m", "benchmark", "run", "--methods", "bicubic", "--datasets",
            datasets, "--scales", scales, "--metrics", metrics, "--jobs", "1", "--no-report",
            "--quiet", "--offline", "--results-dir", str(results), "--cache-dir", str(cache)]


def _default_sigint() -> None:
    """In the child: Ctrl-C's default disposition, which Python turns into KeyboardInterrupt
    (a suite started in the background of a non-interactive shell inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(datasets_root: Path) -> dict[str, str]:
    return {**os.environ, "SRBENCH_DATA": str(datasets_root), "PYTHONUNBUFFERED": "1"}


def _check_intact(results: Path, cache: Path, n_rows: int) -> int:
    """Every table present parses and is complete; every cached .npy loads. Returns #tables."""
    tables = 0
    for run in results.iterdir() if results.exists() else []:
        assert not list(run.glob("*.csv.tmp")) and not list(run.glob("*.json.tmp"))
        per_image = run / "per_image.csv"
        if per_image.exists():
            frame = pd.read_csv(per_image)
            assert (run / "summary.csv").exists() and (run / "run.json").exists()
            # A killed run keeps the chunks it finished (to --resume); a finished one has all.
            state = json.loads((run / "run.json").read_text())["state"]
            assert len(frame) == n_rows if state == "complete" else len(frame) <= n_rows, run
            # Whole (dataset, scale) groups (a chunk of 20 images holds a whole Set5 or
            # Set14 scale), never part of one.
            groups = frame.groupby(["dataset", "scale"]).size()
            assert all(n == SET_SIZES[dataset] for (dataset, _), n in groups.items()), groups
            assert not frame.duplicated(["method", "dataset", "scale", "image"]).any()
            assert len(pd.read_csv(run / "summary.csv")) == len(groups)
            tables += 1
    for npy in cache.rglob("*.npy"):
        np.load(npy)  # raises on a truncated file
    return tables


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_run_leaves_no_half_written_table_and_rerun_completes(
    datasets_root: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    results, cache = tmp_path / "results", tmp_path / "cache"
    # Set5 and Set14: a run long enough (~6 s here, 2-3 s of it before the first image is
    # scored) that the later signals still land mid-run; Set5 alone ends in ~3.5 s.
    datasets = "set5,set14"
    n_rows = (5 + 14) * len(SCALES)
    # SIGKILL at fixed times; SIGINT once the run is under way (the first cache file, the run
    # folder), as a SIGINT while ``import benchmark`` itself loads torch gets Python's default.
    waits = ([(None, 1.0), (None, 3.0), (None, 5.0)] if sig == signal.SIGKILL
             else [(cache / "pairs", 0.0), (results, 0.0), (results, 1.0)])
    interrupted = 0
    for marker, delay in waits:
        before = {p.name for p in results.iterdir()} if results.exists() else set()
        proc = subprocess.Popen(_cmd(results, cache, datasets=datasets), cwd=REPO,
                                env=_env(datasets_root),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_default_sigint)
        deadline = time.monotonic() + 60
        while marker is not None and time.monotonic() < deadline and proc.poll() is None:
            if marker.exists() and (marker != results
                                    or {p.name for p in results.iterdir()} - before):
                break
            time.sleep(0.05)
        time.sleep(delay)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        if proc.returncode == 0:  # it finished before the signal: nothing to check for this one
            continue
        interrupted += 1
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert err.strip().splitlines()[-1] == (
                "interrupted; results already written are intact")
            assert not list(cache.rglob("*.tmp"))  # a Ctrl-C leaves no temporary file
        else:
            assert proc.returncode == -signal.SIGKILL
        _check_intact(results, cache, n_rows)
    assert interrupted >= 2  # the signals landed mid-run, not after it
    before = {p.name for p in results.iterdir()} if results.exists() else set()
    done = subprocess.run(_cmd(results, cache, datasets=datasets), cwd=REPO,
                          env=_env(datasets_root),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (new,) = [p for p in results.iterdir() if p.name not in before]
    frame = pd.read_csv(new / "per_image.csv")
    assert len(frame) == n_rows and (frame["status"] == "ok").all()
    assert sorted(set(frame["scale"])) == list(SCALES)
    assert not frame.duplicated(["method", "dataset", "scale", "image"]).any()
    _check_intact(results, cache, n_rows)


def test_two_concurrent_runs_into_one_results_folder(datasets_root: Path, tmp_path: Path) -> None:
    results, cache = tmp_path / "results", tmp_path / "cache"  # shared cache too: both write it
    procs = [subprocess.Popen(_cmd(results, cache, "2", "psnr"), cwd=REPO,
                              env=_env(datasets_root), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    runs = sorted(p for p in results.iterdir() if p.is_dir())
    assert len(runs) == 2
    for run in runs:
        frame = pd.read_csv(run / "per_image.csv")
        assert len(frame) == 5 and (frame["status"] == "ok").all()
        assert frame["run_id"].nunique() == 1 and frame["run_id"].iloc[0] == run.name
    a, b = (pd.read_csv(r / "per_image.csv") for r in runs)
    assert np.array_equal(a["psnr"].to_numpy(), b["psnr"].to_numpy())
    _check_intact(results, cache, 5)



# Ctrl-C held over what must not be split (the subprocess tests above catch it only by chance).
def test_a_held_ctrl_c_is_delivered_when_the_block_ends() -> None:
    from benchmark import interrupts

    reached_end = False
    with pytest.raises(KeyboardInterrupt):
        with interrupts.held() as pressed:
            assert not pressed()
            signal.raise_signal(signal.SIGINT)
            assert pressed()
            reached_end = True
    assert reached_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_held_ctrl_c_gives_way_to_the_blocks_own_error_and_keeps_an_ignored_sigint() -> None:
    from benchmark import interrupts

    with pytest.raises(ValueError):  # the block's own stop, not a second KeyboardInterrupt
        with interrupts.held():
            signal.raise_signal(signal.SIGINT)
            raise ValueError("stop")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts.held():
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_a_run_folder_is_written_leaves_all_three_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark import results

    real_fsync, calls = os.fsync, []

    def fsync_then_ctrl_c(fd: int) -> None:  # Ctrl-C after the first file is on disk
        real_fsync(fd)
        calls.append(fd)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)

    rows = [{"method": "bicubic", "dataset": "Set5", "scale": 2, "image": f"im{i}",
             "psnr": 30.0 + i, "status": "ok"} for i in range(5)]
    monkeypatch.setattr(os, "fsync", fsync_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        results.write_run(tmp_path, rows, {"state": "running"})
    assert len(calls) == 3
    assert len(pd.read_csv(tmp_path / "per_image.csv")) == 5
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 1
    assert json.loads((tmp_path / "run.json").read_text())["state"] == "running"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_ctrl_c_in_the_last_training_iteration_finishes_the_model_then_stops(
        datasets_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A press during the final validation was once dropped: the run went on to the end.
    from benchmark import trainer
    from benchmark.training import loop
    from benchmark.weights import load_checkpoint

    real_validate = loop.validate

    def validate_then_ctrl_c(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(loop, "validate", validate_then_ctrl_c)
    overrides = {"train_set": "set5", "scales": [2], "patch_size": 15, "stride": 15,
                 "batch_size": 4, "log_every": 4, "ckpt_every": 4, "val_every": 0}
    with pytest.raises(KeyboardInterrupt):
        trainer.train("srcnn_915", recipe="quick", overrides=overrides, iterations=8,
                      device="cpu", data_root=datasets_root, out_dir=tmp_path, progress=False)
    (final,) = [p for p in tmp_path.glob("*.safetensors") if ".partial." not in p.name]
    assert load_checkpoint(final)[1]["finished"]
    assert not list(tmp_path.glob("*.partial.*"))

# Training and ablation: a killed job resumes from its checkpoint; nothing is lost or doubled.
TINY_TRAIN = ["--set=train_set=set5", "--set=scales=[3]", "--set=patch_size=15",
              "--set=stride=15", "--set=batch_size=4", "--set=max_patches=64",
              "--set=log_every=10", "--set=ckpt_every=10", "--set=val_every=0",
              "--set=val_scale=3", "--set=warmup_iters=5", "--set=bf16=false"]


def _train_cmd(weights: Path, cache: Path, iterations: int = 240) -> list[str]:
    return [sys.executable, "-m", "benchmark", "train", "drrn_b1u9", "--width", "8",
            "--iterations", str(iterations), "--offline", "--quiet", "--device", "cpu",
            "--weights-dir", str(weights), *TINY_TRAIN]


def _spawn(cmd: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen:
    """A job in its own process group, its output in files: worker processes it forks (the
    patch-bank builder's loky pool) outlive a SIGKILL for a while and would hold pipes open."""
    logs.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True,
                            preexec_fn=_default_sigint,
                            stdout=open(logs / "stdout", "w"), stderr=open(logs / "stderr", "w"))


def _reap(proc: subprocess.Popen, logs: Path) -> tuple[str, str]:
    """Wait for ``proc``, kill what is left of its group, return its (stdout, stderr)."""
    proc.wait(timeout=120)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return (logs / "stdout").read_text(), (logs / "stderr").read_text()


def _wait_for(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def _finished(weights: Path) -> list[Path]:
    return [p for p in weights.glob("*.safetensors") if ".partial." not in p.name]


def _log_rows(weights: Path) -> pd.DataFrame:
    (log,) = weights.glob("*.csv")
    return pd.read_csv(log)


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_weights_and_log(
    datasets_root: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    cache = tmp_path / "cache"
    env = {**_env(datasets_root), "SRBENCH_CACHE": str(cache)}
    clean = tmp_path / "clean"
    done = subprocess.run(_train_cmd(clean, cache), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (reference,) = _finished(clean)

    killed = tmp_path / "killed"
    for i, (sig, at) in enumerate(((signal.SIGKILL, 30), (signal.SIGINT, 90),
                                   (signal.SIGKILL, 150))):
        logs = tmp_path / f"logs{i}"
        proc = _spawn(_train_cmd(killed, cache), env, logs)

        def reached() -> bool:
            logs = list(killed.glob("*.csv"))
            try:
                return bool(logs) and len(pd.read_csv(logs[0])) * 10 >= at
            except (pd.errors.EmptyDataError, OSError):
                return False

        _wait_for(proc, reached)
        proc.send_signal(sig)
        _, err = _reap(proc, logs)
        assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
        if sig == signal.SIGINT:
            assert err.strip().splitlines()[-1] == cli.INTERRUPTED
        assert list(killed.glob("*.partial.safetensors")), "no resumable checkpoint left"
        assert not _finished(killed)
    done = subprocess.run(_train_cmd(killed, cache), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (resumed,) = _finished(killed)
    assert resumed.name == reference.name and not list(killed.glob("*.partial.*"))
    a, b = load_file(reference), load_file(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log_a, log_b = _log_rows(clean), _log_rows(killed)
    assert list(log_b["iteration"]) == list(range(10, 241, 10))  # none lost, none twice
    np.testing.assert_array_equal(log_a["loss"].to_numpy(), log_b["loss"].to_numpy())


def _ablate_cmd(results: Path, weights: Path) -> list[str]:
    return [sys.executable, "-m", "benchmark", "ablate", "multipath", "--shapes", "B1U1",
            "--width", "4", "--seeds", "2", "--iterations", "150", "--metrics", "psnr",
            "--jobs", "1", "--device", "cpu", "--offline", "--quiet", "--no-report",
            "--results-dir", str(results), "--weights-dir", str(weights), *TINY_TRAIN]


@pytest.mark.slow
def test_killed_ablation_reruns_only_what_is_missing(datasets_root: Path, tmp_path: Path) -> None:
    results, weights, cache = tmp_path / "results", tmp_path / "weights", tmp_path / "cache"
    env = {**_env(datasets_root), "SRBENCH_CACHE": str(cache)}
    jobs_done = results / ".ablate-cache"

    def n_done() -> int:
        return len(list(jobs_done.glob("*.csv"))) if jobs_done.exists() else 0

    for sig, after_jobs in ((signal.SIGKILL, 1), (signal.SIGINT, 2)):
        logs = tmp_path / f"logs{after_jobs}"
        proc = _spawn(_ablate_cmd(results, weights), env, logs)
        _wait_for(proc, lambda: n_done() >= after_jobs)
        time.sleep(0.5)  # into the next job's training
        proc.send_signal(sig)
        _, err = _reap(proc, logs)
        assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
        assert not list(jobs_done.glob("*.tmp"))
        for table in jobs_done.glob("*.csv"):
            assert len(pd.read_csv(table)) == 5  # a job's rows are all there or absent
        assert not list(results.glob("*/ablation.csv"))  # no summary of a partial study
    finished_before = n_done()
    assert 2 <= finished_before < 4
    done = subprocess.run(_ablate_cmd(results, weights), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"4 jobs: {finished_before} cached, {4 - finished_before} to run" in done.stdout
    (run,) = [p for p in results.iterdir() if (p / "ablation.csv").exists()]
    rows = pd.read_csv(run / "per_image.csv")
    assert len(rows) == 4 * 5 and (rows["status"] == "ok").all()
    assert not rows.duplicated(["method", "config", "seed", "image"]).any()
    assert sorted(rows.groupby(["method", "seed"]).size().tolist()) == [5, 5, 5, 5]
    assert len(pd.read_csv(run / "ablation.csv")) == 1


# --------------------------------------------------------------------------------------------
# Properties not covered in test_imaging / test_metrics
# --------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(1, 20))
def test_ycbcr_uint8_round_trip_property(seed: int, h: int, w: int) -> None:
    u8 = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    back = imaging.ycbcr2rgb(imaging.rgb2ycbcr(u8))
    assert back.dtype == np.uint8 and back.shape == u8.shape
    # uint8 YCbCr has 220/225 levels for 256: the round trip can be off by up to 2 levels
    assert np.abs(back.astype(int) - u8).max() <= 2


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(1, 20))
def test_ycbcr_float_round_trip_property(seed: int, h: int, w: int) -> None:
    x = np.random.default_rng(seed).random((h, w, 3))
    assert np.abs(imaging.ycbcr2rgb(imaging.rgb2ycbcr(x)) - x).max() < 1e-12


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=True, width=64), min_size=1,
                max_size=30))
def test_quantize_unit_saturates(values: list[float]) -> None:
    x = np.array(values)
    out = imaging.quantize_unit(x)
    assert out.dtype == np.uint8
    assert np.all(out[x <= 0] == 0) and np.all(out[x >= 1] == 255)
    inside = (x > 0) & (x < 1)
    assert np.all(np.abs(out[inside].astype(float) - x[inside] * 255) <= 0.5 + 1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 8), st.sampled_from([0, 1, 3]))
def test_modcrop_shapes_are_multiples(h: int, w: int, scale: int, channels: int) -> None:
    shape = (h, w, channels) if channels else (h, w)
    img = np.zeros(shape, np.uint8)
    out = imaging.modcrop(img, scale)
    assert out.shape[0] % scale == 0 and out.shape[1] % scale == 0
    assert out.shape[0] == h - h % scale and out.shape[1] == w - w % scale
    assert out.shape[2:] == shape[2:]


SLOW_PLUGIN = """
import time
import torch.nn as nn
from benchmark import register_method


class Slow(nn.Module):
    def forward(self, x):
        time.sleep(0.3)
        return x


@register_method("slow_identity", family="slow", trainable=False)
def slow_identity() -> nn.Module:
    return Slow()
"""


def _resume_cmd(run_dir: Path, plugin: Path) -> list[str]:
    return [sys.executable, "-m", "benchmark", "--plugin", str(plugin), "run", "--methods",
            "bicubic,slow_identity", "--datasets", "sample", "--scales", "2,3,4", "--metrics",
            "psnr,ssim", "--jobs", "1", "--no-report", "--quiet", "--offline",
            "--resume", str(run_dir)]


@pytest.mark.slow
def test_killed_run_resumes_to_the_tables_of_an_uninterrupted_run(tmp_path: Path) -> None:
    """SIGKILL a run midway; ``run --resume`` evaluates only the missing rows, and the tables
    equal those of a run that was never interrupted (no duplicates, no lost rows)."""
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PLUGIN)
    env = {**os.environ, "SRBENCH_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    env.pop("SRBENCH_DATA", None)
    n_rows = 2 * 3 * 5
    whole = subprocess.run(_resume_cmd(tmp_path / "whole", plugin), cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    cut = tmp_path / "cut"
    proc = _spawn(_resume_cmd(cut, plugin), env, tmp_path / "logs")
    table = cut / "per_image.csv"
    _wait_for(proc, lambda: table.exists() and 0 < len(pd.read_csv(table)) < n_rows - 5)
    os.killpg(proc.pid, signal.SIGKILL)
    _reap(proc, tmp_path / "logs")
    kept = len(pd.read_csv(table))
    assert 0 < kept < n_rows
    done = subprocess.run(_resume_cmd(cut, plugin), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"({kept} rows kept from before)" in done.stdout
    key = ["method", "dataset", "scale", "image"]
    a = pd.read_csv(tmp_path / "whole" / "per_image.csv").sort_values(key).reset_index(drop=True)
    b = pd.read_csv(table).sort_values(key).reset_index(drop=True)
    assert len(b) == n_rows and not b.duplicated(key).any()
    cols = [*key, "psnr", "ssim", "status", "weights", "recipe", "protocol"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "whole" / "summary.csv").drop(columns="seconds"),
        pd.read_csv(cut / "summary.csv").drop(columns="seconds"))
    # A --resume folder of another request is refused in one line.
    argv = [("2" if a == "2,3,4" else a) for a in _resume_cmd(cut, plugin)]
    other = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "is a run of" in other.stderr
