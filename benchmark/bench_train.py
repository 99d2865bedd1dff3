"""``bench train``: CPU training patches/s of the ``quick`` drrn_b1u9 recipe and the SRCNN
9-1-5 recipe under torch threads, channels_last, torch.compile and batch size, side by side.

Every variant is built (and compiled) once, then all are timed in interleaved rounds
(A B C ... A B C ...) and the median round is reported, so that the load of a shared machine
falls on every variant alike. Ratios are against the plain eager fp32 loop on one thread
(``plain 1t``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmark.bench import interleave, load_text
from benchmark.speed import TrainStep, make_train_step, time_steps
from benchmark.trainer import plan_training, resolve_execution

CPU = torch.device("cpu")
#: method -> recipe overrides of the two trainings measured.
RECIPES: dict[str, dict[str, Any]] = {
    "drrn_b1u9": {},  # the quick recipe as it is: width 32, batch 16, 31x31
    "srcnn_915": {},  # its own quick recipe: 33x33, batch 128, 'valid' training convs
}


@dataclass
class Variant:
    label: str
    threads: int
    channels_last: bool
    compile: bool
    batch: int | None = None  # None: the recipe's batch
    overrides: dict[str, Any] = field(default_factory=dict)


#: SRCNN before its training network became the paper's 'valid' one: 'same' replicate convs
#: on the whole 33x33 patch (what the SRCNN recipe trained before).
SAME_CONV = {"srcnn_915": [
    Variant("same-conv plain 1t (before)", 1, False, False, overrides={"train_config": {}}),
    Variant("same-conv plain 2t (before)", 2, False, False, overrides={"train_config": {}}),
]}


def variants(method: str, quick: bool = False) -> list[Variant]:
    """The plain loop, the quick recipe's execution options, and the candidates (``quick``:
    the first two only)."""
    base = plan_training(method, "quick", RECIPES[method])
    today = resolve_execution(base.execution, CPU)
    batch = base.params["batch_size"]
    found = [
        Variant("plain 1t", 1, False, False),
        Variant("today (1t)", 1, today["channels_last"], today["compile"]),
        Variant("plain 2t", 2, False, False),
        Variant("channels_last 2t", 2, True, False),
        Variant("compile 1t", 1, False, True),
        Variant(f"plain 1t batch {4 * batch}", 1, False, False, 4 * batch),
        *SAME_CONV.get(method, []),
    ]
    return found[:2] if quick else found


def build(method: str, v: Variant) -> TrainStep:
    """The training step of ``v``, run once (compilation, allocator)."""
    overrides = {**RECIPES[method], **v.overrides, **({"batch_size": v.batch} if v.batch else {})}
    plan = plan_training(method, "quick", overrides)
    torch.set_num_threads(v.threads)
    step = make_train_step(method, plan.config, plan.params, CPU, bf16=False,
                           channels_last=v.channels_last, compile=v.compile)
    step.run()
    return step


def measure(method: str, rounds: int, steps: int, quick: bool = False) -> dict[str, Any]:
    """Patches/s of every variant of ``method`` (median of ``rounds``), printed and returned."""
    vs = variants(method, quick)
    built = [build(method, v) for v in vs]

    def case(v: Variant, step: TrainStep) -> float:
        torch.set_num_threads(v.threads)
        step.run()  # one untimed step after the thread switch
        return 1.0 / time_steps(step, steps, CPU)  # seconds per patch, for interleave

    rates, loads = interleave({v.label: (lambda v=v, s=s: case(v, s)) for v, s in zip(vs, built)},
                              rounds)
    medians = {label: 1.0 / statistics.median(r) for label, r in rates.items()}
    base = medians["plain 1t"]
    print(f"\n{method} (quick recipe); {load_text(loads[-1])}")
    print(f"{'variant':32} {'patches/s':>10} {'x plain 1t':>10}")
    rows = {}
    for v, step in zip(vs, built):
        label = v.label + (" (compile failed: eager)" if v.compile and not step.compiled else "")
        rows[v.label] = {"patches_per_s": medians[v.label], "ratio": medians[v.label] / base,
                         "threads": v.threads, "channels_last": v.channels_last,
                         "compile": step.compiled, "batch": step.batch}
        print(f"{label:32} {medians[v.label]:10.1f} {medians[v.label] / base:10.2f}")
    return {"variants": rows, "load_average_per_round": loads}
