"""Training and inference speed per method: the optimised path against plain eager fp32.

For each method, on one device and in one process, :func:`speed` measures

* training throughput (patches/s) of the trainer's step (forward, loss, backward, optimiser)
  on a synthetic batch, once with the recipe's execution options (bf16 autocast,
  channels_last, ``torch.compile``; ``"auto"`` = on for CUDA) and once eager fp32;
* inference time (ms per image) of one ``image_size`` x ``image_size`` ILR, the same two ways;

and reports both and their ratio. Timings synchronise the GPU around the timed region and
follow warm-up steps (compilation, cudnn autotuning). The ``python -m benchmark speed``
command prints these rows.
"""

from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn

from benchmark import harness
from benchmark.inference import inference_model
from benchmark.registry import create_model
from benchmark.trainer import alpha_at, forward_loss, make_optimizer, plan_training, resolve_execution


def _build(method: str, config: Mapping[str, Any], device: torch.device, channels_last: bool,
           seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = create_model(method, **config).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def try_compile(
    fn: Callable, enabled: bool, probe: Callable[[Callable], Any]
) -> tuple[Callable, bool]:
    """``torch.compile(fn)`` if it works on ``probe``, else ``fn`` (with a warning); and
    whether the compiled one is returned."""
    if not enabled:
        return fn, False
    compiled = torch.compile(fn)
    try:
        probe(compiled)
        return compiled, True
    except Exception as exc:  # noqa: BLE001 - any compiler failure
        warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); using eager")
        return fn, False


@dataclass
class TrainStep:
    """One training step of the trainer (forward, loss, backward, optimiser) on a fixed
    synthetic batch: ``run()`` performs it and returns the loss; compiled and warmed once."""

    run: Callable[[], torch.Tensor]
    batch: int
    compiled: bool


def make_train_step(
    method: str, config: Mapping[str, Any], params: Mapping[str, Any], device: torch.device, *,
    bf16: bool, channels_last: bool, compile: bool, seed: int = 0,
) -> TrainStep:
    """A :class:`TrainStep` with the given execution options (``params``: a plan's params;
    its ``train_config``, e.g. SRCNN's 'valid' convolutions, builds the training network)."""
    config = {**config, **params.get("train_config", {})}
    model = _build(method, config, device, channels_last, seed).train()
    optimizer = make_optimizer(model, params, device)
    needs_all = params["loss"] == "recursive_supervision"
    size, batch = params["patch_size"], params["batch_size"]
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.rand(batch, 1, size, size, generator=gen, device=device)
    y = (x + 0.01 * torch.randn(x.shape, generator=gen, device=device)).clamp_(0, 1)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def step(fn: Callable) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = forward_loss(fn, x, y, needs_all=needs_all, alpha=alpha_at(0, params), bf16=bf16,
                            device=device)
        loss.backward()
        optimizer.step()
        return loss.detach()

    fn, used = try_compile(model.forward_all if needs_all else model, compile, step)
    return TrainStep(lambda: step(fn), batch, used)


def time_steps(step: TrainStep, steps: int, device: torch.device) -> float:
    """Patches per second of ``steps`` consecutive steps (one synchronised timed region)."""
    _, seconds = harness.timed(lambda: [step.run() for _ in range(steps)], device)
    return steps * step.batch / seconds


def train_throughput(
    method: str, config: Mapping[str, Any], params: Mapping[str, Any], device: torch.device, *,
    bf16: bool, channels_last: bool, compile: bool, steps: int, warmup: int, seed: int = 0,
) -> tuple[float, bool]:
    """Patches per second of the training step, and whether compilation was used."""
    step = make_train_step(method, config, params, device, bf16=bf16,
                           channels_last=channels_last, compile=compile, seed=seed)
    for _ in range(warmup):
        step.run()
    return time_steps(step, steps, device), step.compiled


def inference_fn(
    model: nn.Module, device: torch.device, *, bf16: bool, channels_last: bool, compile: bool,
    example: torch.Tensor,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], bool]:
    """The inference that :func:`inference_ms` times, as ``x -> output``, and whether it is
    compiled: with every option off, ``model`` itself in eval mode on ``device`` (the plain
    eager loop); with bf16 or channels_last, the one inference path
    (:func:`benchmark.inference.inference_model`); with ``compile``, ``torch.compile`` of the
    eval model itself (inductor cannot trace the prepared module's oneDNN calls), tried on
    ``example``."""
    model = model.to(device).eval()
    if (bf16 or channels_last) and not compile:  # inductor cannot trace the prepared graph
        model = inference_model(model, device)
    if channels_last:  # the CPU path already is; on CUDA inference_model leaves the layout
        model = model.to(memory_format=torch.channels_last)

    def call(fn: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                 enabled=bf16):
                return fn(x)
        return run

    fn, used = try_compile(model, compile, lambda f: call(f)(example))
    return call(fn), used


def inference_ms(
    method: str, config: Mapping[str, Any], device: torch.device, *, bf16: bool,
    channels_last: bool, compile: bool, image_size: int, reps: int, warmup: int, seed: int = 0,
) -> tuple[float, bool]:
    """Median milliseconds of one forward pass on an ``image_size`` square ILR."""
    model = _build(method, config, device, False, seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.rand(1, 1, image_size, image_size, generator=gen, device=device)
    fn, used = inference_fn(model, device, bf16=bf16, channels_last=channels_last,
                            compile=compile, example=x)
    for _ in range(warmup):
        fn(x)
    times = [harness.timed(lambda: fn(x), device)[1] for _ in range(reps)]
    return 1000 * statistics.median(times), used


def speed(
    methods: Sequence[str],
    device: str | torch.device = "auto",
    *,
    recipe: str = "fast",
    overrides: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    image_size: int = 288,
    steps: int = 20,
    reps: int = 10,
    warmup: int = 3,
) -> list[dict[str, Any]]:
    """One row per method: optimised vs eager fp32 training patches/s and inference ms/image.

    Parameters
    ----------
    methods : sequence of str
        Registered trainable methods.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    recipe : str
        Recipe whose model width, batch, patch size, optimiser and execution options are used
        (default ``fast``: full width, batch 128, bf16 + channels_last + compile on CUDA).
    overrides, config : mapping, optional
        Recipe keys (e.g. ``{"batch_size": 64, "compile": False}``) and model config.
    image_size : int
        Side of the square inference input (288: the DRRN paper's timing example).
    steps, reps, warmup : int
        Timed training steps, timed inference repetitions, untimed warm-up runs of each.

    Returns
    -------
    list of dict
        ``method, device, threads, batch, patch, train_pps_optimised, train_pps_eager,
        train_speedup, infer_ms_optimised, infer_ms_eager, infer_speedup, bf16,
        channels_last, compile, image_size``.
    """
    dev = harness.resolve_device(str(device))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rows = []
    for method in methods:
        plan = plan_training(method, recipe, overrides, config=config)
        ex = resolve_execution(plan.execution, dev)
        opts = {k: ex[k] for k in ("bf16", "channels_last", "compile")}
        plain = {"bf16": False, "channels_last": False, "compile": False}
        pps_opt, compiled_train = train_throughput(method, plan.config, plan.params, dev,
                                                   steps=steps, warmup=warmup, **opts)
        pps_eager, _ = train_throughput(method, plan.config, plan.params, dev, steps=steps,
                                        warmup=warmup, **plain)
        ms_opt, compiled_infer = inference_ms(method, plan.config, dev, image_size=image_size,
                                              reps=reps, warmup=warmup, **opts)
        ms_eager, _ = inference_ms(method, plan.config, dev, image_size=image_size, reps=reps,
                                   warmup=warmup, **plain)
        rows.append({
            "method": method, "recipe": recipe, "config": plan.config,
            "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
            "threads": torch.get_num_threads(), "batch": plan.params["batch_size"],
            "patch": plan.params["patch_size"],
            "train_pps_optimised": pps_opt, "train_pps_eager": pps_eager,
            "train_speedup": pps_opt / pps_eager,
            "infer_ms_optimised": ms_opt, "infer_ms_eager": ms_eager,
            "infer_speedup": ms_eager / ms_opt, "image_size": image_size,
            "bf16": opts["bf16"], "channels_last": opts["channels_last"],
            "compile": compiled_train and compiled_infer,
        })
    return rows
