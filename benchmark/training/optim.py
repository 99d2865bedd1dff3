"""Optimisation: parameter groups, the optimiser, the learning-rate schedule, gradient
clipping, initialisation and the losses, each set by the resolved recipe parameters
(:attr:`benchmark.training.recipes.TrainPlan.params`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn


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
