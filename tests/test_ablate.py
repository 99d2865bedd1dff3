"""Ablation studies: expansion into unique jobs, effects with CIs, caching, Dask, and DDP.

Training tests use ``$SRBENCH_DATA`` (Set5 patches, Set5 x3 evaluation) and are skipped without
it; the models are 8 channels wide and train for a few iterations, so the file runs in seconds.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark import ablation, distributed, results, trainer
from benchmark.cli import main

DATA = os.environ.get("SRBENCH_DATA", "")
needs_data = pytest.mark.skipif(
    not DATA or not Path(DATA).is_dir(),
    reason="SRBENCH_DATA is not set to the staged datasets folder (e.g. ../shared/datasets)",
)

TINY = {"train_set": "set5", "scales": [3], "patch_size": 15, "stride": 15, "batch_size": 4,
        "iterations": 6, "max_patches": 64, "log_every": 3, "ckpt_every": 3, "val_every": 0,
        "warmup_iters": 2, "val_scale": 3}
TINY_STUDY = {"tiny": {"compare": ["drrn_c", "drrn"], "shapes": ["B1U2"]}}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SRBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setattr(ablation, "STUDIES", {**ablation.STUDIES, **TINY_STUDY})
        yield


@pytest.fixture(scope="module")
def inline_run(cache: None, tmp_path_factory: pytest.TempPathFactory):
    """The tiny study run once in-process: (its folder, run folder, summary, counts)."""
    tmp = tmp_path_factory.mktemp("inline")
    return (tmp, *_run(tmp))


def _run(tmp: Path, **kwargs):
    return ablation.run_ablation(["tiny"], seeds=2, width=8, overrides=TINY, metrics=["psnr"],
                               data_root=DATA, results_dir=tmp / "results",
                               weights_dir=tmp / "weights", threads=1, log=lambda _: None,
                               **kwargs)


# ------------------------------------------------------------------------------- expansion
def test_studies_expand_into_unique_jobs() -> None:
    studies = ablation.select_studies(["lrl", "recursion", "multipath"])
    jobs = ablation.expand(studies, [0, 1])
    # vdsr_bn, drrn_ns, drrn, drrn_c at 3 depths (drrn_ns and drrn shared), 2 seeds
    assert len(jobs) == len(set(jobs)) == 4 * 3 * 2
    plain = {j.variant.config["depth"] for j in jobs if j.variant.method == "vdsr_bn"}
    assert plain == {16, 22, 28}
    assert {j.variant.shape for j in jobs} == {"B3U2", "B3U3", "B3U4"}
    # table4 adds only drrn_ns_c at B3U4 to the three studies; width reaches every config
    more = ablation.expand(ablation.select_studies(["lrl", "recursion", "multipath", "table4"]), [0],
                         width=16)
    assert len(more) == 13 and all(j.variant.config["channels"] == 16 for j in more)
    grid = ablation.expand(ablation.select_studies(["grid"]), [0])
    assert sorted(j.variant.depth for j in grid) == [8, 10, 15, 16, 22, 28, 29, 52, 52, 52]
    with pytest.raises(ValueError, match="unknown studies"):
        ablation.select_studies(["nope"])


def test_job_overrides_budget_and_training_scales() -> None:
    quick = ablation.job_overrides("quick", [3])
    assert quick == {"iterations": ablation.ABLATION_BUDGET["quick"]["iterations"], "scales": [3]}
    plan = trainer.plan_training("drrn", "quick", quick, config={"B": 3, "U": 4})
    assert plan.params["scales"] == [3] and plan.params["iterations"] < 3000
    assert ablation.job_overrides("paper", [3]) == {}  # x3 is among the paper's scales
    assert ablation.job_overrides("quick", [3], {"iterations": 7, "scales": [2, 3]}) == {
        "iterations": 7, "scales": [2, 3]}


def test_effect_statistics_on_synthetic_rows() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        for i in range(5):
            base = 30 + rng.normal()
            # drrn_c's config cell as rows had it before JSON: both forms read alike.
            for m, shift, config in (("drrn_c", 0.0, "B=1,U=2"),
                                     ("drrn", 0.5, results.config_text({"B": 1, "U": 2}))):
                rows.append({"method": m, "config": config, "dataset": "set5", "scale": 3,
                             "image": f"im{i}", "psnr": base + shift + 0.01 * rng.normal(),
                             "status": "ok", "seed": seed})
    summary = ablation.summarize_effects(pd.DataFrame(rows), TINY_STUDY, [0, 1, 2],
                                       shapes=["B1U2"])
    row = summary.iloc[0]
    assert row["n_seeds"] == 3 and row["n_images"] == 15
    assert row["ci_low"] < row["dpsnr"] < row["ci_high"] and row["ci_low"] > 0.4
    assert row["p_value"] < 1e-6 and row["verdict"] == "B better"


# ------------------------------------------------------------------ in-process, cache, CLI
@needs_data
def test_tiny_study_in_process_then_cached(inline_run, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path, run_dir, summary, counts = inline_run
    assert counts == {"cached": 0, "run": 4}
    assert (run_dir / "ablation.csv").is_file()
    row = summary.iloc[0]
    for col in ("dpsnr", "ci_low", "ci_high", "p_value", "paper_dpsnr", "verdict"):
        assert col in summary.columns
    assert row["n_seeds"] == 2 and row["n_images"] == 10
    assert np.isfinite([row["dpsnr"], row["ci_low"], row["ci_high"]]).all()
    per_image = pd.read_csv(run_dir / "per_image.csv")
    assert sorted(per_image["seed"].unique()) == [0, 1] and len(per_image) == 20
    weights = sorted((tmp_path / "weights").glob("*.safetensors"))
    mtimes = [p.stat().st_mtime_ns for p in weights]

    def boom(*args, **kwargs):
        raise AssertionError("a finished job ran again")

    monkeypatch.setattr(trainer, "find_or_train", boom)
    monkeypatch.setattr(ablation.harness, "evaluate", boom)
    run_dir2, summary2, counts2 = _run(tmp_path)
    assert counts2 == {"cached": 4, "run": 0} and run_dir2 != run_dir
    assert [p.stat().st_mtime_ns for p in weights] == mtimes
    pd.testing.assert_frame_equal(summary, summary2)


@needs_data
def test_cli_ablate_writes_a_run_folder(cache: None, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    code = main(["ablate", "tiny", "--seeds", "1", "--width", "8", "--metrics", "psnr",
                 "--datasets", "set5", "--scales", "3", "--data-root", DATA, "--device", "cpu",
                 "--results-dir", str(tmp_path / "r"), "--weights-dir", str(tmp_path / "w"),
                 "--quiet", "--no-report", *sets])
    out = capsys.readouterr().out
    assert code == 0
    assert "95% CI n/a (1 seed)" in out and "drrn@B1U2 - drrn_c@B1U2" in out
    assert len(list((tmp_path / "r").glob("*/ablation.csv"))) == 1


@pytest.mark.slow
# ------------------------------------------------------------------------------------ Dask
@needs_data
def test_dask_local_cluster_gives_the_in_process_table(inline_run, tmp_path: Path) -> None:
    distributed_mod = pytest.importorskip("distributed")
    inline = inline_run[2]
    with distributed_mod.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster:
        _, remote, counts = _run(tmp_path / "dask", cluster=cluster.scheduler_address)
    assert counts == {"cached": 0, "run": 4}
    pd.testing.assert_frame_equal(inline, remote, rtol=1e-6)


# ------------------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_data
@pytest.mark.parametrize("method, config", [("vdsr", {"depth": 5, "channels": 8}),
                                            ("drcn", {"recursions": 2, "channels": 8})])
def test_ddp_gloo_two_processes_train_like_one_process(cache: None, tmp_path: Path, method: str,
                                                      config: dict) -> None:
    """The real trainer under DDP (gloo, 2 CPU ranks, each half of the global batch of 8)
    ends with the weights of one process on the whole batch. DRCN covers the all-outputs
    forward of recursive supervision. Models without BN: BN statistics are per rank on CPU."""
    from safetensors.torch import load_file

    kwargs = {"method": method, "recipe": "quick", "config": config, "data_root": DATA,
              "overrides": {**TINY, "iterations": 4, "batch_size": 8, "log_every": 2,
                            "bf16": False},
              "device": "cpu", "progress": False}
    torch.multiprocessing.spawn(
        distributed.spawn_train,
        args=(2, _free_port(), {**kwargs, "out_dir": str(tmp_path / "ddp")}), nprocs=2, join=True)
    one = trainer.train(**kwargs, out_dir=tmp_path / "one")
    (ddp,) = (tmp_path / "ddp").glob("*.safetensors")
    assert ddp.name == one.name
    a, b = load_file(one), load_file(ddp)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-5, atol=1e-6)
    log_one = pd.read_csv(one.with_suffix(".csv"))
    log_ddp = pd.read_csv(ddp.with_suffix(".csv"))  # rank 0 alone writes the log
    assert list(log_ddp["iteration"]) == list(log_one["iteration"]) == [2, 4]
    np.testing.assert_allclose(log_ddp["loss"], log_one["loss"], rtol=1e-4)
