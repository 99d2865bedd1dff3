"""Recipes: named dicts of hyper-parameters, resolved with a method's own set-up into a plan.

Read top to bottom: the recipes -> :func:`plan_training` (method + recipe + overrides ->
resolved parameters and a checkpoint name) -> :func:`recipe_label` (how a checkpoint's
training is named in result rows). Nothing here needs torch.

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
           :func:`benchmark.training.execution.resolve_execution`),
           log_every, val_every, ckpt_every, val_set, val_scale

How ``spec.recipe`` applies: its ``loss`` and ``alpha_*`` keys (what the method *is*) apply to
every recipe; its other keys describe the method's paper set-up and apply to ``paper`` only;
a nested ``spec.recipe["quick"]`` (or ``"fast"``, ``"paper"``) dict applies to that recipe.
Keys the trainer cannot honour (``per_scale_models: True``, ``lr_plateau_epochs``) are
reported in a warning and in the checkpoint's ``notes``.

A plan's checkpoint files are named ``<method>-<recipe>-<key>`` (:attr:`TrainPlan.stem`),
where ``key`` hashes method, model config, recipe name, training parameters and seed; see
:mod:`benchmark.training.loop` for the files.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from benchmark import data
from benchmark.locations import default_weights_dir
from benchmark.registry import get_method, resolve_config, suggest

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


def checkpoint_path(plan: TrainPlan, weights_dir: str | Path | None = None) -> Path:
    """Where the finished checkpoint of ``plan`` lives (it may not exist yet)."""
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return folder / f"{plan.stem}.safetensors"


# -------------------------------------------------------------------------- naming results
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

