"""The training loop: batches, steps, log lines, validation, checkpoints and exact resume.

Read top to bottom: :class:`PatchSampler` (the batches) -> validation -> checkpoints and resume
-> the set-up steps of :func:`train` (device, model and optimiser, data) -> one step, a log
line, the loop -> :func:`train` -> :func:`find_or_train` (what ``python -m benchmark run``
calls).

Checkpoint files in ``weights_dir`` (default :func:`benchmark.locations.default_weights_dir`:
``<checkout>/weights`` from a source checkout, else ``<cache>/trained`` with ``<cache>`` =
``$SRBENCH_CACHE`` or ``~/.cache/srbench``), ``<stem>`` =
``<method>-<recipe>-<key>`` where ``key`` hashes method, model config, recipe name, training
parameters and seed (:class:`benchmark.training.recipes.TrainPlan`):

``<stem>.safetensors``          the finished model (written once, at the end)
``<stem>.partial.safetensors``  the model of an unfinished run (periodic, atomic)
``<stem>.state.pt``             optimiser, sampler, RNG and iteration of that run
``<stem>.csv``                  the training log
"""

from __future__ import annotations

import csv
import os
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn as nn

from benchmark import PROTOCOL, data, distributed, harness, imaging, interrupts, weights
from benchmark.locations import default_weights_dir
from benchmark.patches import augment, build_patch_bank
from benchmark.progress import progress_bar
from benchmark.registry import create_model, get_method
from benchmark.training.execution import device_label, resolve_execution
from benchmark.training.optim import (
    alpha_at, clip_gradients, forward_loss, he_init, lr_at, make_optimizer, scale_output_conv,
)
from benchmark.training.recipes import TrainPlan, checkpoint_path, plan_training


# --------------------------------------------------------------------------------- the sampler
class PatchSampler:
    """Shuffled epochs over a device-resident patch bank, augmented on the device.

    Each epoch is a fresh permutation; a batch is the next ``batch_size`` indices (the tail of
    an epoch that does not fill a batch is dropped). All randomness comes from one generator
    on the bank's device, so :meth:`state` / :meth:`load_state` make resume exact.
    """

    def __init__(self, ilr: torch.Tensor, gt: torch.Tensor, batch_size: int, *,
                 augment_patches: bool, seed: int) -> None:
        if len(ilr) < batch_size:
            raise ValueError(f"the patch bank has {len(ilr)} patches, fewer than a batch "
                             f"({batch_size})")
        self.ilr, self.gt, self.batch_size = ilr, gt, batch_size
        self.augment_patches = augment_patches
        self.generator = torch.Generator(device=ilr.device)
        self.generator.manual_seed(seed)
        self.epoch, self.pos = 0, 0
        self.perm = torch.randperm(len(ilr), generator=self.generator, device=ilr.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input, target)`` float32 ``(B, 1, P, P)`` on the bank's device."""
        if self.pos + self.batch_size > len(self.perm):
            self.epoch += 1
            self.pos = 0
            self.perm = torch.randperm(len(self.ilr), generator=self.generator,
                                       device=self.ilr.device)
        index = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        x = self.ilr[index]
        y = self.gt[index].float().div_(255.0)
        if self.augment_patches:
            x, y = augment(x, y, self.generator)
        return x, y

    def state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "epoch": self.epoch, "pos": self.pos,
                "perm": self.perm.cpu()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self.perm = state["perm"].to(self.ilr.device)


# ------------------------------------------------------------------------------- validation
def load_val_pairs(
    name: str, scale: int, data_root: Path, *, offline: bool = False
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(GT uint8, ILR float64)`` of a test set through the harness's cached step 1-3."""
    refs = data.list_images(name, data_root, offline=offline, progress=False)
    pairs = harness.prepare_pairs({name: refs}, [scale], cache_dir=data.cache_dir(),
                                  jobs=1, times=harness.StageTimes(), progress=False)
    return [p.load() for p in pairs if p.error is None]


def validate(run: harness.MethodRun, pairs: list[tuple[np.ndarray, np.ndarray]], scale: int,
             device: torch.device) -> float:
    """Mean PSNR per the protocol (harness forward, quantise, shave ``scale``, PSNR)."""
    was_training = run.model.training
    run.model.eval()
    scores = []
    for gt, ilr in pairs:
        sr, _ = harness.forward(run, ilr, device)
        scores.append(harness.score(gt, imaging.quantize_unit(sr), scale, ("psnr",))["psnr"])
    run.model.train(was_training)
    return float(np.mean(scores))


# ------------------------------------------------------------------------------ checkpoints
@dataclass(frozen=True)
class _Files:
    """The files of one plan in the checkpoint folder (see the module docstring)."""

    folder: Path
    stem: str

    @property
    def final(self) -> Path:
        return self.folder / f"{self.stem}.safetensors"

    @property
    def partial(self) -> Path:
        return self.folder / f"{self.stem}.partial.safetensors"

    @property
    def state(self) -> Path:
        return self.folder / f"{self.stem}.state.pt"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.stem}.csv"


@dataclass
class _Window:
    """The iterations since the last log line: their summed loss and number (saved with a
    partial checkpoint, so that a resumed run logs the uninterrupted run's means) and when
    they began (for the throughput; not saved)."""

    loss: torch.Tensor
    n: int = 0
    began: float = 0.0
    began_at: int = 0

    def clock_from(self, iteration: int) -> None:
        self.began, self.began_at = time.perf_counter(), iteration

    def restart(self, iteration: int) -> None:
        self.loss, self.n = torch.zeros((), device=self.loss.device), 0
        self.clock_from(iteration)


@dataclass
class _Position:
    """Where a run stands: what a partial checkpoint saves and a resume restores."""

    window: _Window
    start: int = 0  # the first iteration of this process
    done: int = 0  # iterations finished
    prior_seconds: float = 0.0  # training time of the earlier processes of this run

    @classmethod
    def fresh(cls, device: torch.device) -> _Position:
        return cls(_Window(torch.zeros((), device=device)))


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _resume(files: _Files, plan: TrainPlan, net: _Net, sampler: PatchSampler,
            device: torch.device) -> _Position:
    """Restore model, optimiser, sampler and torch RNG from the partial run of ``plan`` in
    ``files``; a fresh position (with a warning) when there is none or it does not match."""
    fresh = _Position.fresh(device)
    if not (files.partial.exists() and files.state.exists()):
        return fresh
    try:
        state_dict, saved = weights.load_checkpoint(files.partial, plan.method)
        state = torch.load(files.state, map_location="cpu", weights_only=True)
    except (weights.WeightsError, RuntimeError, OSError) as exc:
        warnings.warn(f"{files.partial.name}: unreadable ({exc}); starting over")
        return fresh
    if state["key"] != plan.key or int(state["iteration"]) != int(saved["iteration"]):
        warnings.warn(f"{files.partial.name}: training state does not match; starting over")
        return fresh
    net.model.load_state_dict(state_dict)
    net.optimizer.load_state_dict(state["optimizer"])
    sampler.load_state(state["sampler"])
    torch.set_rng_state(state["torch_rng"])
    start = int(state["iteration"])
    window = _Window(state["window_loss"].to(device), int(state["window_n"]))
    return _Position(window, start, start, float(saved["train_seconds"]))


def _checkpoint_meta(plan: TrainPlan, execution: dict[str, Any], device: torch.device,
                     bank_meta: dict[str, Any], patches_used: int) -> dict[str, Any]:
    """What every checkpoint of this run records besides its iteration and times."""
    p = plan.params
    return {
        "method": plan.method, "recipe": plan.recipe, "key": plan.key, "params": p,
        # The run's own dict: a compile fallback during the run is recorded too.
        "execution": execution,
        "seed": plan.seed, "train_set": p["train_set"], "scales": p["scales"],
        "bank": bank_meta, "patches_used": patches_used, "iterations": p["iterations"],
        "notes": plan.notes, "protocol": PROTOCOL, "device": device_label(device),
        "torch": torch.__version__, "host": platform.node(),
        "val_set": execution["val_set"], "val_scale": execution["val_scale"],
    }


def _save(run: _Run, path: Path, *, finished: bool, val_psnr: float | None = None) -> None:
    """The model at ``run``'s position to ``path`` (rank 0); an unfinished run also writes
    the training state that :func:`_resume` reads."""
    if not run.ctx.is_main:
        return
    pos = run.position
    info = {**run.meta, "iteration": pos.done, "finished": finished, "val_psnr": val_psnr,
            "train_seconds": round(pos.prior_seconds + time.perf_counter() - run.wall_start, 1)}
    weights.save_checkpoint(path, run.net.model, method=run.plan.method, config=run.plan.config,
                            meta=info)
    if not finished:
        _atomic_torch_save({
            "key": run.plan.key, "iteration": pos.done,
            "optimizer": run.net.optimizer.state_dict(), "sampler": run.sampler.state(),
            "torch_rng": torch.get_rng_state(),
            "window_loss": pos.window.loss.cpu(), "window_n": pos.window.n,
        }, run.files.state)


def _finish(run: _Run, val_psnr: float | None) -> Path:
    """Write the finished checkpoint and remove the partial run's files."""
    _save(run, run.files.final, finished=True, val_psnr=val_psnr)
    run.files.partial.unlink(missing_ok=True)
    run.files.state.unlink(missing_ok=True)
    for leftover in run.files.folder.glob(f".{run.plan.stem}.*.tmp"):  # a SIGKILL's writes
        leftover.unlink(missing_ok=True)
    run.ctx.barrier()  # no rank returns before the checkpoint exists
    run.ctx.close()
    return run.files.final


class _CsvLog:
    """The training log; on resume, rows after the resumed iteration are dropped."""

    FIELDS = ("iteration", "epoch", "loss", "lr", "grad_norm", "val_psnr", "patches_per_s",
              "elapsed_s")

    def __init__(self, path: Path, start: int) -> None:
        rows = []
        if start > 0 and path.exists():
            with open(path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if self._complete(r)
                        and int(r["iteration"]) <= start]
        # Rewritten atomically: a kill here keeps the old log, never half of it.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
        self.handle = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=self.FIELDS)

    @classmethod
    def _complete(cls, row: Mapping[str, Any]) -> bool:
        """False for the cut-off last line a killed process may leave."""
        return (all(row.get(k) is not None for k in cls.FIELDS) and None not in row
                and str(row["iteration"]).isdigit())

    def write(self, **row: Any) -> None:
        self.writer.writerow(row)
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


# --------------------------------------------------------------------------- set-up steps
@dataclass
class _Net:
    """The network in training and what a step calls."""

    model: nn.Module  # the trained network itself (what checkpoints hold)
    eager: Callable  # its forward as a step calls it: DDP-wrapped, or forward_all
    forward: Callable  # eager, or eager under torch.compile
    optimizer: torch.optim.Optimizer
    parameters: list[nn.Parameter]
    needs_all: bool  # recursive supervision: the loss takes every recursion's output


@dataclass
class _Run:
    """One training run in progress: what the set-up steps of :func:`train` built."""

    plan: TrainPlan
    ctx: distributed.Context
    device: torch.device
    execution: dict[str, Any]  # resolved; "compile" turns False when torch.compile fails
    files: _Files
    net: _Net
    sampler: PatchSampler
    val_run: harness.MethodRun
    val_pairs: list[tuple[np.ndarray, np.ndarray]]
    position: _Position
    meta: dict[str, Any]  # what every checkpoint records (:func:`_checkpoint_meta`)
    wall_start: float  # when this process began (log elapsed_s, checkpoint train_seconds)


def _setup_device(plan: TrainPlan, device: str | torch.device
                  ) -> tuple[distributed.Context, torch.device, dict[str, Any]]:
    """This process's data-parallel context and device, and the resolved execution options."""
    ctx, dev = distributed.context(harness.resolve_device(str(device)))  # a no-op without torchrun
    if plan.params["batch_size"] % ctx.world:
        raise ValueError(f"batch size {plan.params['batch_size']} is not divisible by "
                         f"{ctx.world} ranks")
    execution = resolve_execution(plan.execution, dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return ctx, dev, execution


def _check_patch_fits(model: nn.Module, patch: int, method: str, device: torch.device) -> None:
    """A one-line error, before any data is read, when a ``patch`` x ``patch`` input does not
    fit the training network (e.g. SRCNN's 'valid' convolutions need more than 2 x radius)."""
    model.eval()  # no batch-norm statistics are touched
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, patch, patch, device=device))
    except RuntimeError as exc:
        raise ValueError(f"{method}: a {patch}x{patch} training patch does not fit its training "
                         f"network ({str(exc).splitlines()[0]}); use a larger patch_size"
                         ) from None
    finally:
        model.train()


def _build_net(plan: TrainPlan, execution: Mapping[str, Any], ctx: distributed.Context,
               device: torch.device) -> _Net:
    """The initialised training network on ``device``, its optimiser and its forward."""
    p = plan.params
    torch.manual_seed(plan.seed)
    model = create_model(plan.method, **{**plan.config, **p["train_config"]})
    if p["init"] == "he":
        he_init(model)
    scale_output_conv(model, p["out_init_scale"])
    model = distributed.sync_batchnorm(model, ctx, device)
    model.to(device)
    if execution["channels_last"]:
        model.to(memory_format=torch.channels_last)
    model.train()
    _check_patch_fits(model, p["patch_size"], plan.method, device)
    parameters = [q for q in model.parameters() if q.requires_grad]
    optimizer = make_optimizer(model, p, device)
    needs_all = p["loss"] == "recursive_supervision"
    if ctx.enabled:
        eager = distributed.wrap(distributed.AllOutputs(model) if needs_all else model, ctx,
                                 device)
    else:
        eager = model.forward_all if needs_all else model
    forward = torch.compile(eager) if execution["compile"] else eager
    return _Net(model, eager, forward, optimizer, parameters, needs_all)


def _load_data(plan: TrainPlan, execution: Mapping[str, Any], ctx: distributed.Context,
               device: torch.device, root: Path, *, offline: bool, progress: bool
               ) -> tuple[PatchSampler, dict[str, Any], list[tuple[np.ndarray, np.ndarray]]]:
    """The sampler over the training patches on ``device``, the patch bank's meta and the
    validation pairs (rank 0 only: it alone validates)."""
    p = plan.params
    if not ctx.is_main:  # rank 0 fills the shared on-disk caches before the others read them
        ctx.barrier()
    bank = build_patch_bank(p["train_set"], p["scales"], p["patch_size"], p["stride"],
                            data_root=root, offline=offline, progress=progress)
    val_pairs = (load_val_pairs(execution["val_set"], execution["val_scale"], root,
                                offline=offline) if ctx.is_main else [])
    if ctx.is_main:
        ctx.barrier()
    ilr_bank, gt_bank = bank.to_tensors(device, max_patches=p["max_patches"], seed=plan.seed)
    sampler = PatchSampler(ilr_bank, gt_bank, p["batch_size"],
                           augment_patches=p["augment"] == "dihedral8", seed=plan.seed)
    return sampler, bank.meta, val_pairs


def _validation_run(plan: TrainPlan, model: nn.Module, device: torch.device) -> harness.MethodRun:
    """The network validation evaluates: the trained one, or its twin of the evaluation config
    when ``train_config`` changes the training network (weights copied at each validation)."""
    val_model = (create_model(plan.method, **plan.config).to(device)
                 if plan.params["train_config"] else model)
    return harness.MethodRun(get_method(plan.method), plan.config, val_model)


# --------------------------------------------------------------------------------- the loop
def _backward(run: _Run, x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Fresh gradients of the loss of one batch; returns the loss. A failing
    ``torch.compile`` falls back to eager for the rest of the run, with a warning."""
    net = run.net

    def loss_of(fn: Callable) -> torch.Tensor:
        return forward_loss(fn, x, y, needs_all=net.needs_all, alpha=alpha,
                            bf16=run.execution["bf16"], device=run.device)

    net.optimizer.zero_grad(set_to_none=True)
    try:
        loss = loss_of(net.forward)
        loss.backward()
    except Exception as exc:  # noqa: BLE001 - a torch.compile failure of any kind
        if net.forward is net.eager:
            raise
        warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); training eagerly")
        net.forward, run.execution["compile"] = net.eager, False  # recorded in the meta
        net.optimizer.zero_grad(set_to_none=True)
        loss = loss_of(net.forward)
        loss.backward()
    return loss


def _step(run: _Run, it: int, *, measure_norm: bool) -> tuple[float, torch.Tensor | None]:
    """Iteration ``it``: set the lr, draw a batch, backward, clip, step, add the loss to the
    window. Returns the lr and the gradient norm before clipping (the global-norm clip
    measures it anyway; else only when ``measure_norm``, as it costs a reduction)."""
    p, net, window = run.plan.params, run.net, run.position.window
    lr_now = lr_at(it, p)
    for group in net.optimizer.param_groups:
        group["lr"] = lr_now * group["lr_mult"]
    x, y = run.sampler.next()
    x, y = distributed.shard(x, run.ctx), distributed.shard(y, run.ctx)
    if run.execution["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    loss = _backward(run, x, y, alpha_at(it, p))
    grad_norm = None
    if measure_norm and p["clip"] != "global_norm":
        grad_norm = torch.nn.utils.get_total_norm([q.grad for q in net.parameters
                                                   if q.grad is not None])
    clipped = clip_gradients(net.parameters, p["clip"], p["clip_theta"], lr_now)
    grad_norm = clipped if clipped is not None else grad_norm
    net.optimizer.step()
    window.loss += loss.detach()
    window.n += 1
    return lr_now, grad_norm


def _report(run: _Run, log: _CsvLog | None, bar: Any, lr_now: float,
            grad_norm: torch.Tensor | None, *, validating: bool) -> float | None:
    """A log line and the progress bar's figures for the window, after validating when
    ``validating`` (rank 0); starts the next window. Returns the validation PSNR or None."""
    pos, window = run.position, run.position.window
    mean_loss = run.ctx.mean(window.loss / max(1, window.n)).item()  # the one host sync
    rate = ((pos.done - window.began_at) * run.plan.params["batch_size"]
            / max(time.perf_counter() - window.began, 1e-9))
    val_psnr = None
    if validating and run.ctx.is_main:
        if run.val_run.model is not run.net.model:
            run.val_run.model.load_state_dict(run.net.model.state_dict())
        val_psnr = validate(run.val_run, run.val_pairs, run.execution["val_scale"], run.device)
    if log is not None:
        log.write(iteration=pos.done, epoch=run.sampler.epoch, loss=f"{mean_loss:.6g}",
                  lr=f"{lr_now:.6g}",
                  grad_norm="" if grad_norm is None else f"{float(grad_norm):.6g}",
                  val_psnr="" if val_psnr is None else f"{val_psnr:.4f}",
                  patches_per_s=f"{rate:.1f}",
                  elapsed_s=f"{time.perf_counter() - run.wall_start:.1f}")
    bar.set_postfix(loss=f"{mean_loss:.4g}", lr=f"{lr_now:.2g}",
                    **({"psnr": f"{val_psnr:.2f}"} if val_psnr is not None else {}))
    window.restart(pos.done)
    return val_psnr


def _loop(run: _Run, stop_after: int | None, progress: bool) -> Path:
    """Iterate from the run's position to the plan's last iteration; returns the finished
    checkpoint, or the partial one at ``stop_after``. Ctrl-C is held to the end of the
    iteration, which is saved as a partial checkpoint before KeyboardInterrupt goes on; one
    during the last iteration (or its validation) lets the finished checkpoint be written
    first."""
    p, ex, pos = run.plan.params, run.execution, run.position
    log = _CsvLog(run.files.log, pos.start) if run.ctx.is_main else None
    bar = progress_bar(total=p["iterations"], initial=pos.start,
                       desc=f"train {run.plan.method} ({run.plan.recipe})", unit="it",
                       show=progress, dynamic_ncols=True)
    pos.window.clock_from(pos.start)
    val_psnr: float | None = None
    with interrupts.held() as stop_requested:  # a press in the last iteration: finish, then stop
        try:
            for it in range(pos.start, p["iterations"]):
                logging = (it + 1) % ex["log_every"] == 0 or it + 1 == p["iterations"]
                lr_now, grad_norm = _step(run, it, measure_norm=logging)
                pos.done = it + 1
                bar.update(1)
                validating = pos.done == p["iterations"] or (
                    ex["val_every"] > 0 and pos.done % ex["val_every"] == 0)
                if logging or validating:
                    val_psnr = _report(run, log, bar, lr_now, grad_norm, validating=validating)
                if pos.done == p["iterations"]:
                    break
                if stop_requested():
                    raise KeyboardInterrupt
                if pos.done % ex["ckpt_every"] == 0 or pos.done == stop_after:
                    _save(run, run.files.partial, finished=False)
                    if pos.done == stop_after:
                        return run.files.partial
        except KeyboardInterrupt:
            if pos.done > pos.start:
                _save(run, run.files.partial, finished=False)
                warnings.warn(f"interrupted at iteration {pos.done}; "
                              "resume with the same arguments")
            raise
        finally:
            bar.close()
            if log is not None:
                log.close()
        return _finish(run, val_psnr)


# ------------------------------------------------------------------------ train, find or train
def train(
    method: str,
    *,
    recipe: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    iterations: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    bf16: bool | None = None,
    channels_last: bool | None = None,
    compile: bool | None = None,
    data_root: str | Path | None = None,
    offline: bool = False,
    out_dir: str | Path | None = None,
    resume: bool = True,
    log_every: int | None = None,
    val_every: int | None = None,
    stop_after: int | None = None,
    progress: bool = True,
) -> Path:
    """Train ``method`` with a named recipe; returns the checkpoint path.

    Parameters
    ----------
    method : str
        Registered trainable method.
    recipe : {"quick", "fast", "paper"}
        Named recipe (see :mod:`benchmark.training.recipes`).
    overrides : mapping, optional
        Any recipe keys; the keyword arguments below override these.
    config : mapping, optional
        Model configuration overrides, e.g. ``{"channels": 64}`` (the width).
    iterations, batch_size, lr : optional
        Shortcuts for the recipe keys of the same names.
    seed : int
        Seed of initialisation, patch subset, shuffling and augmentation.
    device : str or torch.device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
    bf16, channels_last, compile : bool, optional
        Execution options; default: the recipe's (``"auto"``: see :func:`resolve_execution`).
        A failing ``torch.compile`` falls back to eager with a warning.
    data_root : path, optional
        Dataset folder (default ``$SRBENCH_DATA``).
    offline : bool
        Never download missing training or validation images.
    out_dir : path, optional
        Checkpoint folder (default ``<repo>/weights``).
    resume : bool
        Continue a partial run of the same plan found in ``out_dir`` (exactly: same weights as
        an uninterrupted run on a deterministic device); False starts over.
    log_every, val_every : int, optional
        Log (loss, lr, grad norm, throughput) every so many iterations; validate on the
        recipe's ``val_set`` x ``val_scale`` every so many (0: only at the end).
    stop_after : int, optional
        Stop after this iteration, write a partial checkpoint and return its path (a
        resumable slice of a longer run).
    progress : bool
        tqdm progress bar with ETA.

    Returns
    -------
    Path
        ``<out_dir>/<stem>.safetensors``, or the ``.partial.safetensors`` when stopped early.
    """
    # ---- plan
    shortcuts = {"iterations": iterations, "batch_size": batch_size, "lr": lr, "bf16": bf16,
                 "channels_last": channels_last, "compile": compile, "log_every": log_every,
                 "val_every": val_every}
    overrides = {**(overrides or {}), **{k: v for k, v in shortcuts.items() if v is not None}}
    plan = plan_training(method, recipe, overrides, config=config, seed=seed)
    for note in plan.notes:
        warnings.warn(f"{method} ({recipe} recipe): {note}", stacklevel=2)

    # ---- device, files
    ctx, dev, execution = _setup_device(plan, device)
    progress = progress and ctx.is_main
    files = _Files(Path(out_dir) if out_dir is not None else default_weights_dir(), plan.stem)
    files.folder.mkdir(parents=True, exist_ok=True)
    root = data.resolve_data_root(data_root)
    wall_start = time.perf_counter()

    # ---- model and optimiser, then data (a patch that does not fit fails before any reading)
    net = _build_net(plan, execution, ctx, dev)
    sampler, bank_meta, val_pairs = _load_data(plan, execution, ctx, dev, root,
                                               offline=offline, progress=progress)
    val_run = _validation_run(plan, net.model, dev)

    # ---- resume, then the loop
    position = _resume(files, plan, net, sampler, dev) if resume else _Position.fresh(dev)
    meta = _checkpoint_meta(plan, execution, dev, bank_meta, len(sampler.ilr))
    run = _Run(plan, ctx, dev, execution, files, net, sampler, val_run, val_pairs, position,
               meta, wall_start)
    return _loop(run, stop_after, progress)


def find_or_train(
    method: str,
    recipe: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
    data_root: str | Path | None = None,
    offline: bool = False,
    weights_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> Path:
    """The finished checkpoint of (method, config, recipe, overrides, seed): found or trained.

    Looks for ``<weights_dir>/<method>-<recipe>-<key>.safetensors``; when it is missing,
    trains (continuing a partial run of the same plan) and returns the new file. Parameters
    as :func:`train`; execution keys in ``overrides`` (bf16, compile, ...) do not change the
    key, so a checkpoint trained on a GPU is found from a CPU and vice versa.
    """
    plan = plan_training(method, recipe, overrides, config=config, seed=seed)
    path = checkpoint_path(plan, weights_dir)
    if path.exists():
        return path
    return train(method, recipe=recipe, overrides=overrides, config=config, seed=seed,
                 device=device, data_root=data_root, offline=offline, out_dir=path.parent,
                 resume=True, progress=progress)
