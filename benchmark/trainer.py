"""One trainer for every method: recipes, the training loop, checkpoints and resume.

Read top to bottom: recipes (named dicts of hyper-parameters) -> :func:`plan_training` (method +
recipe + overrides -> resolved parameters and a checkpoint name) -> :func:`train` (the loop)
-> :func:`find_or_train` (what ``python -m benchmark run`` calls).

Recipes
-------
``paper``  the official DRRN release: SGD lr 0.1, momentum 0.9, weight decay 1e-4, lr halved
           every 10 epochs of 6,536 iterations x 128 patches, the GLOBAL gradient norm clipped
           to ``clip_theta / lr`` (theta = 0.01), He init, conv biases at 0.1x lr, loss
           1/(2N) sum of squares, 31x31 patches (stride 21) of train291 at x2/x3/x4, fp32.
           A method's own registered ``spec.recipe`` (its paper's set-up) is applied on top.
``fast``   a GPU budget of minutes to an hour: the paper's data, AdamW lr 1e-3, linear
           warm-up + cosine decay, batch 128, 30k iterations, output conv zero-initialised,
           bf16 autocast, channels_last and ``torch.compile`` (on CUDA).
``quick``  a CPU budget of a few minutes per model: x2 only (mixed x2/x3/x4 learns several
           times slower at this budget), width capped at 32 channels, Adam lr 1e-3, warm-up
           + cosine decay, batch 16, 3,000 iterations, output conv zero-initialised (the
           network starts as bicubic), bf16 autocast where the CPU has native bf16. A quick
           number is not a paper number: every checkpoint records the recipe name and all
           its resolved parameters.

Recipe keys (the vocabulary ``spec.recipe`` of a method may use; the training keys are hashed
into the checkpoint name, the execution keys are not)

training   train_set, scales, patch_size, stride, augment ("dihedral8" | "none"), max_patches,
           batch_size, iterations (None: epochs x iters_per_epoch), epochs, iters_per_epoch,
           optimizer ("sgd" | "adam" | "adamw"), lr, momentum, betas, weight_decay,
           bias_lr_mult, lr_mult ({module prefix: multiplier}), schedule ("step" | "cosine" |
           "constant"), lr_step_epochs, lr_gamma, warmup_iters, min_lr, clip (None |
           "global_norm" | "value"), clip_theta, init ("model" | "he"), out_init_scale,
           loss ("mse" | "mse_half_sum" | "recursive_supervision"), alpha_start, alpha_end,
           alpha_decay, max_width, train_config (model config overrides for the training
           network only, e.g. SRCNN's 'valid' convolutions: same weights, no padding; the
           checkpoint records the evaluation config)
execution  bf16, channels_last, compile (``"auto"`` or a bool; see
           :func:`resolve_execution`), log_every, val_every, ckpt_every, val_set, val_scale

How ``spec.recipe`` applies: its ``loss`` and ``alpha_*`` keys (what the method *is*) apply to
every recipe; its other keys describe the method's paper set-up and apply to ``paper`` only;
a nested ``spec.recipe["quick"]`` (or ``"fast"``, ``"paper"``) dict applies to that recipe.
Keys the trainer cannot honour (``per_scale_models: True``, ``lr_plateau_epochs``) are
reported in a warning and in the checkpoint's ``notes``.

Checkpoint files in ``weights_dir`` (default :func:`benchmark.locations.default_weights_dir`:
``<checkout>/weights`` from a source checkout, else ``<cache>/trained`` with ``<cache>`` =
``$SRBENCH_CACHE`` or ``~/.cache/srbench``), ``<stem>`` =
``<method>-<recipe>-<key>`` where ``key`` hashes method, model config, recipe name, training
parameters and seed:

``<stem>.safetensors``          the finished model (written once, at the end)
``<stem>.partial.safetensors``  the model of an unfinished run (periodic, atomic)
``<stem>.state.pt``             optimiser, sampler, RNG and iteration of that run
``<stem>.csv``                  the training log
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import json
import math
import os
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn as nn

from benchmark import PROTOCOL, data, distributed, harness, imaging, weights
from benchmark.locations import default_weights_dir
from benchmark.patches import PatchBank, augment, build_patch_bank
from benchmark.progress import progress_bar
from benchmark.registry import create_model, get_method, resolve_config, suggest

#: The DRRN release's epoch: 6,536 iterations of 128 patches.
EPOCH_ITERS = 6536

# ------------------------------------------------------------------------------------ recipes
_PAPER: dict[str, Any] = {
    # data
    "train_set": "train291", "scales": [2, 3, 4], "patch_size": 31, "stride": 21,
    "augment": "dihedral8", "max_patches": None,
    # length
    "batch_size": 128, "iterations": None, "epochs": 80, "iters_per_epoch": EPOCH_ITERS,
    # optimiser
    "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "betas": [0.9, 0.999], "weight_decay": 1e-4,
    "bias_lr_mult": 0.1, "lr_mult": {},
    # schedule
    "schedule": "step", "lr_step_epochs": 10, "lr_gamma": 0.5, "warmup_iters": 0, "min_lr": 0.0,
    # gradient clipping: global L2 norm <= clip_theta / current lr
    "clip": "global_norm", "clip_theta": 0.01,
    # model and loss
    "init": "he", "out_init_scale": 1.0, "loss": "mse",
    "alpha_start": 1.0, "alpha_end": 0.0, "alpha_decay": 0.5,
    "max_width": None, "train_config": {},
    # execution (not part of the checkpoint key)
    "bf16": False, "channels_last": "auto", "compile": "auto",
    "log_every": 100, "val_every": EPOCH_ITERS, "ckpt_every": 2000,
    "val_set": "set5", "val_scale": 2,
}

RECIPES: dict[str, dict[str, Any]] = {
    "paper": _PAPER,
    "fast": {
        **_PAPER,
        "batch_size": 128, "iterations": 30_000, "epochs": None,
        "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "bias_lr_mult": 1.0,
        "schedule": "cosine", "warmup_iters": 500, "min_lr": 1e-6,
        "clip": None, "init": "model", "out_init_scale": 0.0,
        "bf16": "auto", "log_every": 100, "val_every": 2000, "ckpt_every": 2000,
    },
    "quick": {
        **_PAPER,
        "scales": [2], "max_width": 32, "batch_size": 16, "iterations": 3000, "epochs": None,
        "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "bias_lr_mult": 1.0,
        "schedule": "cosine", "warmup_iters": 100, "min_lr": 1e-5,
        "clip": None, "init": "model", "out_init_scale": 0.0,
        "bf16": "auto", "log_every": 100, "val_every": 0, "ckpt_every": 500,
    },
}

#: Keys that change nothing but speed and logging: recorded, not hashed.
EXECUTION_KEYS = frozenset(
    {"bf16", "channels_last", "compile", "log_every", "val_every", "ckpt_every", "val_set",
     "val_scale"}
)
#: Keys of ``spec.recipe`` that define the method's objective: applied to every recipe.
OBJECTIVE_KEYS = frozenset({"loss", "alpha_start", "alpha_end", "alpha_decay"})
#: Keys of method paper set-ups this trainer does not implement (reported, not applied).
UNSUPPORTED_KEYS = frozenset({"per_scale_models", "lr_plateau_epochs"})
#: Spellings of training sets in method recipes.
TRAIN_SET_ALIASES = {"291": "train291"}
LOSSES = ("mse", "mse_half_sum", "recursive_supervision")


@dataclass
class TrainPlan:
    """A resolved training: everything that decides the result, and its checkpoint name.

    Attributes
    ----------
    method, recipe : str
        Registered method and recipe name.
    config : dict
        The model configuration (``create_model(method, **config)``), width included.
    params : dict
        Resolved training parameters (hashed into ``key``).
    execution : dict
        Resolved execution parameters (bf16, compile, ...; ``"auto"`` still unresolved).
    seed : int
        Seed of the initialisation, patch subset and sampling.
    notes : list of str
        Method recipe keys that could not be honoured.
    """

    method: str
    recipe: str
    config: dict[str, Any]
    params: dict[str, Any]
    execution: dict[str, Any]
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """10 hex digits of the sha256 of method, config, recipe, params and seed."""
        payload = {"method": self.method, "config": self.config, "recipe": self.recipe,
                   "params": self.params, "seed": self.seed}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]

    @property
    def stem(self) -> str:
        """``<method>-<recipe>-<key>``: the file name of the checkpoint, without suffix."""
        return f"{self.method}-{self.recipe}-{self.key}"


def _check_keys(keys: Mapping[str, Any], where: str) -> None:
    known = set(_PAPER)
    for key in keys:
        if key not in known:
            raise TypeError(f"{where}: unknown recipe key {key!r}{suggest(key, sorted(known))}")


def _method_overrides(method_recipe: Mapping[str, Any], recipe: str) -> tuple[dict, list[str]]:
    """The part of a method's ``spec.recipe`` that applies to ``recipe``, and notes on the rest."""
    applied: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in method_recipe.items():
        if key in RECIPES:  # nested per-recipe overrides
            if key == recipe:
                applied.update(value)
        elif key in OBJECTIVE_KEYS or (recipe == "paper" and key in _PAPER):
            applied[key] = value
        elif recipe == "paper" and key in UNSUPPORTED_KEYS and value:
            notes.append(f"{key}={value!r} is not implemented; ignored")
        elif recipe == "paper" and key not in UNSUPPORTED_KEYS and key not in _PAPER:
            notes.append(f"unknown method recipe key {key}={value!r}; ignored")
    return applied, notes


def recipe_params(name: str) -> dict[str, Any]:
    """The named recipe's parameters (read-only use); ``ValueError`` for an unknown name."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def plan_training(
    method: str,
    recipe: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> TrainPlan:
    """Resolve method + recipe + overrides into a :class:`TrainPlan`.

    Order: ``RECIPES[recipe]`` <- the method's ``spec.recipe`` (see the module docstring) <-
    ``overrides``. The model config is the method's default, with ``channels`` capped at
    ``max_width`` when the method has a ``channels`` option, then updated by ``config``.

    Parameters
    ----------
    method : str
        Registered, trainable method.
    recipe : {"quick", "fast", "paper"}
        Named recipe.
    overrides : mapping, optional
        Recipe keys to override (training or execution keys).
    config : mapping, optional
        Model configuration overrides, e.g. ``{"channels": 64}``.
    seed : int
        Training seed.
    """
    spec = get_method(method)
    if not spec.trainable:
        raise ValueError(f"{method} has no trainable parameters; nothing to train")
    base = recipe_params(recipe)
    method_part, notes = _method_overrides(spec.recipe, recipe)
    overrides = dict(overrides or {})
    _check_keys(overrides, "overrides")
    resolved = {**copy.deepcopy(base), **method_part, **overrides}
    train_set = TRAIN_SET_ALIASES.get(str(resolved["train_set"]), resolved["train_set"])
    try:
        resolved["train_set"] = data.get_dataset(train_set).name
    except data.UnknownDatasetError as exc:
        raise ValueError(f"{method} ({recipe} recipe) trains on {train_set!r}, which is not "
                         f"available: {exc}; override it, e.g. {{'train_set': 'train291'}}"
                         ) from None
    resolved["scales"] = [int(s) for s in resolved["scales"]]
    if resolved["iterations"] is None:
        resolved["iterations"] = round(resolved["epochs"] * resolved["iters_per_epoch"])
    if resolved["loss"] not in LOSSES:
        raise ValueError(f"{method}: unknown loss {resolved['loss']!r}; known: {LOSSES}")
    model_config = resolve_config(method)
    if resolved["max_width"] and "channels" in model_config:
        model_config["channels"] = min(model_config["channels"], int(resolved["max_width"]))
    model_config = resolve_config(method, **{**model_config, **(config or {})})
    # One JSON round trip: tuples become lists, so the key is the same however it was given.
    params = json.loads(json.dumps({k: v for k, v in resolved.items() if k not in EXECUTION_KEYS}))
    execution = {k: v for k, v in resolved.items() if k in EXECUTION_KEYS}
    if "val_scale" not in overrides and len(resolved["scales"]) == 1:
        execution["val_scale"] = resolved["scales"][0]  # validate where a one-scale model works
    return TrainPlan(method, recipe, model_config, params, execution, int(seed), notes)


# ---------------------------------------------------------------------- optimiser, schedule
def param_groups(model: nn.Module, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Parameter groups with an ``lr_mult`` each: conv biases get ``bias_lr_mult``, and every
    parameter under a module prefix listed in ``lr_mult`` gets that multiplier too."""
    conv_biases = {
        id(m.bias) for m in model.modules() if isinstance(m, nn.Conv2d) and m.bias is not None
    }
    groups: dict[float, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        mult = params["bias_lr_mult"] if id(p) in conv_biases else 1.0
        for prefix, factor in params["lr_mult"].items():
            if name == prefix or name.startswith(prefix + "."):
                mult *= factor
        groups.setdefault(float(mult), []).append(p)
    return [{"params": ps, "lr_mult": mult} for mult, ps in sorted(groups.items())]


def make_optimizer(model: nn.Module, params: Mapping[str, Any], device: torch.device):
    """SGD (momentum, weight decay) or Adam/AdamW over :func:`param_groups`."""
    groups = param_groups(model, params)
    name = params["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=params["lr"], momentum=params["momentum"],
                               weight_decay=params["weight_decay"])
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(groups, lr=params["lr"], betas=tuple(params["betas"]),
                   weight_decay=params["weight_decay"], fused=device.type == "cuda")
    raise ValueError(f"unknown optimizer {name!r}; known: sgd, adam, adamw")


def lr_at(it: int, params: Mapping[str, Any]) -> float:
    """Learning rate of iteration ``it`` (0-based): a pure function, so resume needs no state.

    ``step``: ``lr * lr_gamma ** (it // (lr_step_epochs * iters_per_epoch))``.
    ``cosine``: linear warm-up over ``warmup_iters``, then cosine from ``lr`` to ``min_lr``.
    ``constant``: ``lr``.
    """
    base, schedule = params["lr"], params["schedule"]
    if it < params["warmup_iters"]:
        return base * (it + 1) / params["warmup_iters"]
    if schedule == "step":
        step = round(params["lr_step_epochs"] * params["iters_per_epoch"])
        return base * params["lr_gamma"] ** (it // step)
    if schedule == "cosine":
        span = max(1, params["iterations"] - params["warmup_iters"])
        progress = min(1.0, (it - params["warmup_iters"]) / span)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return params["min_lr"] + (base - params["min_lr"]) * cosine
    if schedule == "constant":
        return base
    raise ValueError(f"unknown schedule {schedule!r}; known: step, cosine, constant")


def clip_gradients(
    parameters: list[nn.Parameter], mode: str | None, theta: float, lr: float
) -> torch.Tensor | None:
    """Adjustable gradient clipping of the DRRN/VDSR solvers, without a host synchronisation.

    ``global_norm``: scale all gradients so that their global L2 norm is at most ``theta / lr``
    (the DRRN release); returns the norm before clipping. ``value``: clamp every gradient
    element to ``[-theta / lr, theta / lr]`` (the VDSR paper); returns None. ``None``: nothing.
    """
    if mode is None:
        return None
    if mode == "global_norm":
        return torch.nn.utils.clip_grad_norm_(parameters, theta / lr, foreach=True)
    if mode == "value":
        torch.nn.utils.clip_grad_value_(parameters, theta / lr, foreach=True)
        return None
    raise ValueError(f"unknown clip mode {mode!r}; known: None, global_norm, value")


def he_init(model: nn.Module) -> None:
    """He (MSRA) normal init of every conv weight (fan_in), biases zero, as the Caffe release."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def scale_output_conv(model: nn.Module, factor: float) -> None:
    """Multiply the initial weights of the output conv (the last conv with one output channel)
    by ``factor``: 0 starts a globally residual network as its skip path (the ILR)."""
    if factor == 1.0:
        return
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 1]
    if not convs:
        raise ValueError("out_init_scale: the model has no conv with one output channel")
    with torch.no_grad():
        convs[-1].weight.mul_(factor)


# ------------------------------------------------------------------------------------- losses
def centre_like(target: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The centre of ``target`` of ``out``'s spatial size (the label of a 'valid' network)."""
    dy, dx = (target.shape[-2] - out.shape[-2]) // 2, (target.shape[-1] - out.shape[-1]) // 2
    if dy == dx == 0:
        return target
    return target[..., dy:dy + out.shape[-2], dx:dx + out.shape[-1]]


def half_sse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Caffe's EuclideanLoss: ``1/(2N) sum ||out - target||^2`` with N the batch size; a
    smaller ``out`` (a 'valid' training network) is compared with the centre of ``target``."""
    return (out.float() - centre_like(target, out)).square().sum() / (2 * target.shape[0])


def alpha_at(it: int, params: Mapping[str, Any]) -> float:
    """DRCN recursive-supervision weight: linear from ``alpha_start`` to ``alpha_end`` over the
    first ``alpha_decay`` fraction of training, then constant at ``alpha_end``."""
    span = max(1, round(params["alpha_decay"] * params["iterations"]))
    frac = min(1.0, it / span)
    return params["alpha_start"] + (params["alpha_end"] - params["alpha_start"]) * frac


def recursive_supervision_loss(
    final: torch.Tensor, preds: list[torch.Tensor], target: torch.Tensor, alpha: float
) -> torch.Tensor:
    """``alpha * mean_d half_sse(y_d) + (1 - alpha) * half_sse(final)`` (DRCN, eq. 8-10)."""
    intermediate = torch.stack([half_sse(y, target) for y in preds]).mean()
    return alpha * intermediate + (1 - alpha) * half_sse(final, target)


def forward_loss(
    fn: Callable, x: torch.Tensor, y: torch.Tensor, *, needs_all: bool, alpha: float,
    bf16: bool, device: torch.device,
) -> torch.Tensor:
    """The training loss of one batch: ``fn`` is the model (or its ``forward_all`` when
    ``needs_all``, for recursive supervision), run under bf16 autocast when ``bf16``."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        if needs_all:
            final, preds = fn(x)
            return recursive_supervision_loss(final, preds, y, alpha)
        return half_sse(fn(x), y)


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


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast
    makes convolutions several times faster; elsewhere it would be emulated and slow."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # an older or non-x86 build
        return False


def resolve_execution(execution: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Resolve ``"auto"`` execution options for ``device``.

    ``bf16``: CUDA with bf16 support, or a CPU with native bf16. ``channels_last``: always
    (faster for these conv stacks with cuDNN and oneDNN). ``compile``: CUDA only (compilation
    costs minutes that a CPU run does not win back).
    """
    auto = {
        "bf16": (torch.cuda.is_bf16_supported() if device.type == "cuda"
                 else cpu_has_native_bf16()),
        "channels_last": True,
        "compile": device.type == "cuda",
    }
    return {**execution, **{k: auto[k] if execution[k] == "auto" else bool(execution[k])
                            for k in auto}}


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


# ------------------------------------------------------------------------------- the trainer
def _defer_sigint() -> tuple[Callable[[], bool], Callable[[], None]]:
    """Hold Ctrl-C until the end of the current iteration; returns ("was it pressed?",
    "restore the previous handler").

    A KeyboardInterrupt raised between ``optimizer.step()`` and the iteration count (or
    after the sampler drew a batch the model never saw) would save a state that resumes one
    step off. Outside the main thread (joblib, Dask) signals cannot be caught: nothing changes.
    """
    import signal
    import threading

    pressed = [False]
    if threading.current_thread() is not threading.main_thread():
        return (lambda: False), (lambda: None)

    def handler(signum: int, frame: Any) -> None:
        pressed[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    return (lambda: pressed[0]), (lambda: signal.signal(signal.SIGINT, previous))


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
        Named recipe (see the module docstring).
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
    p, ex = plan.params, plan.execution
    for note in plan.notes:
        warnings.warn(f"{method} ({recipe} recipe): {note}", stacklevel=2)
    dev = harness.resolve_device(str(device))
    ctx, dev = distributed.context(dev)  # data-parallel under torchrun, else a no-op
    if p["batch_size"] % ctx.world:
        raise ValueError(f"batch size {p['batch_size']} is not divisible by {ctx.world} ranks")
    progress = progress and ctx.is_main
    ex = resolve_execution(ex, dev)
    use_bf16, use_cl, use_compile = ex["bf16"], ex["channels_last"], ex["compile"]
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(out_dir) if out_dir is not None else default_weights_dir()
    out.mkdir(parents=True, exist_ok=True)
    final_path = out / f"{plan.stem}.safetensors"
    partial_path = out / f"{plan.stem}.partial.safetensors"
    state_path = out / f"{plan.stem}.state.pt"
    root = data.resolve_data_root(data_root)
    wall_start = time.perf_counter()

    # ---- model, optimiser
    torch.manual_seed(plan.seed)
    spec = get_method(method)
    model = create_model(method, **{**plan.config, **p["train_config"]})
    if p["init"] == "he":
        he_init(model)
    scale_output_conv(model, p["out_init_scale"])
    model = distributed.sync_batchnorm(model, ctx, dev)
    model.to(dev)
    if use_cl:
        model.to(memory_format=torch.channels_last)
    model.train()
    _check_patch_fits(model, p["patch_size"], method, dev)
    parameters = [q for q in model.parameters() if q.requires_grad]
    optimizer = make_optimizer(model, p, dev)
    needs_all = p["loss"] == "recursive_supervision"
    if ctx.enabled:
        eager = distributed.wrap(distributed.AllOutputs(model) if needs_all else model, ctx, dev)
    else:
        eager = model.forward_all if needs_all else model
    forward = torch.compile(eager) if use_compile else eager

    # ---- data (rank 0 fills the shared on-disk caches before the other ranks read them)
    if not ctx.is_main:
        ctx.barrier()
    bank: PatchBank = build_patch_bank(p["train_set"], p["scales"], p["patch_size"], p["stride"],
                                       data_root=root, offline=offline, progress=progress)
    val_pairs = (load_val_pairs(ex["val_set"], ex["val_scale"], root, offline=offline)
                 if ctx.is_main else [])
    if ctx.is_main:
        ctx.barrier()
    ilr_bank, gt_bank = bank.to_tensors(dev, max_patches=p["max_patches"], seed=plan.seed)
    sampler = PatchSampler(ilr_bank, gt_bank, p["batch_size"],
                           augment_patches=p["augment"] == "dihedral8", seed=plan.seed)
    # The evaluation network: the trained one, or its twin when train_config changes it.
    val_model = create_model(method, **plan.config).to(dev) if p["train_config"] else model
    val_run = harness.MethodRun(spec, plan.config, val_model)

    # ---- resume
    start, prior_seconds = 0, 0.0
    window = {"loss": torch.zeros((), device=dev), "n": 0}
    if resume and partial_path.exists() and state_path.exists():
        try:
            state_dict, saved = weights.load_checkpoint(partial_path, method)
            state = torch.load(state_path, map_location="cpu", weights_only=True)
        except (weights.WeightsError, RuntimeError, OSError) as exc:
            state_dict, saved, state = {}, {}, {"key": None}
            warnings.warn(f"{partial_path.name}: unreadable ({exc}); starting over")
        if state["key"] == plan.key and int(state["iteration"]) == int(saved["iteration"]):
            model.load_state_dict(state_dict)
            optimizer.load_state_dict(state["optimizer"])
            sampler.load_state(state["sampler"])
            torch.set_rng_state(state["torch_rng"])
            window = {"loss": state["window_loss"].to(dev), "n": int(state["window_n"])}
            start, prior_seconds = int(state["iteration"]), float(saved["train_seconds"])
        elif state["key"] is not None:
            warnings.warn(f"{partial_path.name}: training state does not match; starting over")
    log = _CsvLog(out / f"{plan.stem}.csv", start) if ctx.is_main else None

    meta: dict[str, Any] = {
        "method": method, "recipe": plan.recipe, "key": plan.key, "params": p,
        "execution": ex,
        "seed": plan.seed, "train_set": p["train_set"], "scales": p["scales"],
        "bank": bank.meta, "patches_used": len(ilr_bank), "iterations": p["iterations"],
        "notes": plan.notes, "protocol": PROTOCOL, "device": _device_label(dev),
        "torch": torch.__version__, "host": platform.node(),
        "val_set": ex["val_set"], "val_scale": ex["val_scale"],
    }

    def save(done: int, path: Path, *, finished: bool, val_psnr: float | None = None) -> None:
        if not ctx.is_main:
            return
        info = {**meta, "iteration": done, "finished": finished, "val_psnr": val_psnr,
                "train_seconds": round(prior_seconds + time.perf_counter() - wall_start, 1)}
        weights.save_checkpoint(path, model, method=method, config=plan.config, meta=info)
        if not finished:
            _atomic_torch_save({
                "key": plan.key, "iteration": done, "optimizer": optimizer.state_dict(),
                "sampler": sampler.state(), "torch_rng": torch.get_rng_state(),
                "window_loss": window["loss"].cpu(), "window_n": window["n"],
            }, state_path)

    # ---- the loop
    bar = progress_bar(total=p["iterations"], initial=start, desc=f"train {method} ({recipe})",
                       unit="it", show=progress, dynamic_ncols=True)
    tick, tick_it = time.perf_counter(), start
    done = start
    val_psnr: float | None = None
    stop_requested, restore_sigint = _defer_sigint()
    try:
        for it in range(start, p["iterations"]):
            lr_now = lr_at(it, p)
            for group in optimizer.param_groups:
                group["lr"] = lr_now * group["lr_mult"]
            x, y = sampler.next()
            x, y = distributed.shard(x, ctx), distributed.shard(y, ctx)
            if use_cl:
                x = x.contiguous(memory_format=torch.channels_last)

            def step_loss(fn: Callable) -> torch.Tensor:
                return forward_loss(fn, x, y, needs_all=needs_all, alpha=alpha_at(it, p),
                                    bf16=use_bf16, device=dev)

            optimizer.zero_grad(set_to_none=True)
            try:
                loss = step_loss(forward)
                loss.backward()
            except Exception as exc:  # noqa: BLE001 - a torch.compile failure of any kind
                if forward is eager:
                    raise
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); "
                              "training eagerly")
                forward, ex["compile"] = eager, False  # recorded in the checkpoint's meta
                optimizer.zero_grad(set_to_none=True)
                loss = step_loss(forward)
                loss.backward()
            logging = (it + 1) % ex["log_every"] == 0 or it + 1 == p["iterations"]
            grad_norm = None
            if logging and p["clip"] != "global_norm":
                grad_norm = torch.nn.utils.get_total_norm([q.grad for q in parameters
                                                           if q.grad is not None])
            clipped = clip_gradients(parameters, p["clip"], p["clip_theta"], lr_now)
            grad_norm = clipped if clipped is not None else grad_norm
            optimizer.step()
            window["loss"] += loss.detach()
            window["n"] += 1
            done = it + 1
            bar.update(1)

            validating = done == p["iterations"] or (
                ex["val_every"] > 0 and done % ex["val_every"] == 0)
            if logging or validating:
                mean_loss = ctx.mean(window["loss"] / max(1, window["n"])).item()  # one sync
                now = time.perf_counter()
                rate = (done - tick_it) * p["batch_size"] / max(now - tick, 1e-9)
                val_psnr = None
                if validating and ctx.is_main:
                    if val_model is not model:
                        val_model.load_state_dict(model.state_dict())
                    val_psnr = validate(val_run, val_pairs, ex["val_scale"], dev)
                if log is not None:
                    log.write(iteration=done, epoch=sampler.epoch, loss=f"{mean_loss:.6g}",
                              lr=f"{lr_now:.6g}",
                              grad_norm="" if grad_norm is None else f"{float(grad_norm):.6g}",
                              val_psnr="" if val_psnr is None else f"{val_psnr:.4f}",
                              patches_per_s=f"{rate:.1f}",
                              elapsed_s=f"{time.perf_counter() - wall_start:.1f}")
                bar.set_postfix(loss=f"{mean_loss:.4g}", lr=f"{lr_now:.2g}",
                                **({"psnr": f"{val_psnr:.2f}"} if val_psnr is not None else {}))
                window = {"loss": torch.zeros((), device=dev), "n": 0}
                tick, tick_it = time.perf_counter(), done
            if done == p["iterations"]:
                break
            if stop_requested():
                raise KeyboardInterrupt
            if done % ex["ckpt_every"] == 0 or done == stop_after:
                save(done, partial_path, finished=False)
                if done == stop_after:
                    return partial_path
    except KeyboardInterrupt:
        if done > start:
            save(done, partial_path, finished=False)
            warnings.warn(f"interrupted at iteration {done}; resume with the same arguments")
        raise
    finally:
        restore_sigint()
        bar.close()
        if log is not None:
            log.close()

    save(done, final_path, finished=True, val_psnr=val_psnr)
    partial_path.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)
    for leftover in out.glob(f".{plan.stem}.*.tmp"):  # from writes a SIGKILL cut short
        leftover.unlink(missing_ok=True)
    ctx.barrier()  # no rank returns before the checkpoint exists
    ctx.close()
    return final_path


# ----------------------------------------------------------------------- the API for `run`
def recipe_label(meta: Mapping[str, Any], default: str = "") -> str:
    """The ``recipe`` column of rows made with a checkpoint: the recipe's name plus how this
    training departs from the paper's data or from a budget recipe's length, e.g.
    ``quick(x2)``, ``quick(x3, 1500 it)``, ``quick(x2, on sample_train)``; ``default`` for files
    without a recipe (published weights)."""
    recipe = meta.get("recipe")
    name = str(recipe.get("name", default)) if isinstance(recipe, dict) else str(recipe or default)
    notes = []
    scales = meta.get("scales")
    if scales and sorted(int(x) for x in scales) != [2, 3, 4]:
        notes.append("x" + ",".join(str(x) for x in scales))
    train_set = meta.get("train_set")
    if train_set and train_set != "train291":
        notes.append(f"on {train_set}")
    iterations = meta.get("iterations")
    if name in ("quick", "fast") and iterations and iterations != RECIPES[name]["iterations"]:
        notes.append(f"{int(iterations)} it")
    return f"{name}({', '.join(notes)})" if notes else name


def checkpoint_path(plan: TrainPlan, weights_dir: str | Path | None = None) -> Path:
    """Where the finished checkpoint of ``plan`` lives (it may not exist yet)."""
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return folder / f"{plan.stem}.safetensors"


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


def idle_cores() -> int:
    """CPU cores this process may use that the 1-minute load average leaves idle (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - int(os.getloadavg()[0] + 0.5))


@contextlib.contextmanager
def cpu_threads(threads: int | None, device: str | torch.device = "auto") -> Iterator[None]:
    """Run CPU training on ``threads`` torch threads, then restore the setting.

    Default: :func:`idle_cores`. Measured side by side on the 2-core machine
    (``scripts/bench_train.py``, load average 0.4-1.0): channels_last trained srcnn_915 at
    1,085 patches/s on two threads vs 666 on one (1.63x) and drrn_b1u9 (quick) at 260 vs 161
    (1.62x); but with another process on one core, two threads collapsed (drrn_b1u9 0.4 it/s
    vs 13.9 on one: oneDNN's threads wait on each other). So all idle cores, never more.
    """
    previous = torch.get_num_threads()
    if harness.resolve_device(str(device)).type == "cpu":
        torch.set_num_threads(threads or idle_cores())
    try:
        yield
    finally:
        torch.set_num_threads(previous)
