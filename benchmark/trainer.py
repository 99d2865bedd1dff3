"""One trainer for every method: recipes, the training loop, checkpoints and resume.

The public names of :mod:`benchmark.training`, in one place (``from benchmark import
trainer``). Read top to bottom: recipes (:mod:`benchmark.training.recipes`: named dicts of
hyper-parameters, the recipe keys, how a method's ``spec.recipe`` applies) ->
:func:`plan_training` (method + recipe + overrides -> resolved parameters and a checkpoint
name) -> optimisation (:mod:`benchmark.training.optim`) -> :func:`train` (the loop,
checkpoint files and resume: :mod:`benchmark.training.loop`) -> :func:`find_or_train` (what
``python -m benchmark run`` calls); :mod:`benchmark.training.execution` says how it runs on
this machine.

Callers use the names through this module (``trainer.find_or_train(...)``), so that a test
that replaces one here (``monkeypatch.setattr(trainer, "find_or_train", ...)``) replaces it
for them.
"""

from __future__ import annotations

from benchmark.training.execution import (
    cpu_has_native_bf16, cpu_threads, idle_cores, resolve_execution,
)
from benchmark.training.loop import PatchSampler, find_or_train, load_val_pairs, train, validate
from benchmark.training.optim import (
    alpha_at, centre_like, clip_gradients, forward_loss, half_sse, he_init, lr_at,
    make_optimizer, param_groups, recursive_supervision_loss, scale_output_conv,
)
from benchmark.training.recipes import (
    EPOCH_ITERS, EXECUTION_KEYS, LOSSES, OBJECTIVE_KEYS, RECIPES, TRAIN_SET_ALIASES,
    UNSUPPORTED_KEYS, TrainPlan, checkpoint_path, plan_training, recipe_label, recipe_params,
)

__all__ = [
    # recipes
    "EPOCH_ITERS", "EXECUTION_KEYS", "LOSSES", "OBJECTIVE_KEYS", "RECIPES", "TRAIN_SET_ALIASES",
    "UNSUPPORTED_KEYS", "TrainPlan", "checkpoint_path", "plan_training", "recipe_label",
    "recipe_params",
    # optimisation
    "alpha_at", "centre_like", "clip_gradients", "forward_loss", "half_sse", "he_init", "lr_at",
    "make_optimizer", "param_groups", "recursive_supervision_loss", "scale_output_conv",
    # the loop
    "PatchSampler", "find_or_train", "load_val_pairs", "train", "validate",
    # execution
    "cpu_has_native_bf16", "cpu_threads", "idle_cores", "resolve_execution",
]
