"""Benchmark: CPU training patches/s of the `quick` drrn_b1u9 recipe and an SRCNN recipe
under torch threads, channels_last, torch.compile and batch size, side by side.

Every variant is built (and compiled) once, then all are timed in interleaved rounds
(A B C ... A B C ...) and the median round is reported, so that the load of a shared machine
falls on every variant alike. Ratios are against the plain eager fp32 loop on one thread
(``plain 1t``). The load average is printed before and after.

Usage::

    nice python scripts/bench_train.py [--rounds 5] [--steps 4] [--only drrn_b1u9,srcnn_915]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's benchmark

from benchmark.speed import TrainStep, make_train_step, time_steps
from benchmark.trainer import plan_training, resolve_execution

CPU = torch.device("cpu")
#: (method, recipe overrides) of the two trainings measured.
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


def variants(method: str) -> list[Variant]:
    """The plain loop, today's quick execution options, and the candidates."""
    base = plan_training(method, "quick", RECIPES[method])
    today = resolve_execution(base.execution, CPU)
    batch = base.params["batch_size"]
    return [
        Variant("plain 1t", 1, False, False),
        Variant("plain 2t", 2, False, False),
        Variant("today (1t)", 1, today["channels_last"], today["compile"]),
        Variant("channels_last 2t", 2, True, False),
        Variant("compile 1t", 1, False, True),
        Variant(f"plain 1t batch {4 * batch}", 1, False, False, 4 * batch),
        *SAME_CONV.get(method, []),
    ]


#: SRCNN before its training network became the paper's 'valid' one: 'same' replicate convs
#: on the whole 33x33 patch (what the SRCNN recipe trained before).
SAME_CONV = {"srcnn_915": [
    Variant("same-conv plain 1t (before)", 1, False, False, overrides={"train_config": {}}),
    Variant("same-conv plain 2t (before)", 2, False, False, overrides={"train_config": {}}),
]}


def build(method: str, v: Variant) -> TrainStep:
    overrides = {**RECIPES[method], **v.overrides, **({"batch_size": v.batch} if v.batch else {})}
    plan = plan_training(method, "quick", overrides)
    torch.set_num_threads(v.threads)
    step = make_train_step(method, plan.config, plan.params, CPU, bf16=False,
                           channels_last=v.channels_last, compile=v.compile)
    step.run()
    return step


def measure(method: str, rounds: int, steps: int) -> None:
    vs = variants(method)
    built = [build(method, v) for v in vs]
    rates: list[list[float]] = [[] for _ in vs]
    for _ in range(rounds):
        for v, step, out in zip(vs, built, rates):
            torch.set_num_threads(v.threads)
            step.run()  # one untimed step after the thread switch
            out.append(time_steps(step, steps, CPU))
    base = statistics.median(rates[0])
    print(f"\n{method} (quick recipe{', ' + str(RECIPES[method]) if RECIPES[method] else ''})"
          f"  load average {os.getloadavg()}")
    print(f"{'variant':28} {'patches/s':>10} {'min':>8} {'max':>8} {'x plain 1t':>10}")
    for v, step, r in zip(vs, built, rates):
        med = statistics.median(r)
        label = v.label + (" (compile failed: eager)" if v.compile and not step.compiled else "")
        print(f"{label:28} {med:10.1f} {min(r):8.1f} {max(r):8.1f} {med / base:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--only", default=",".join(RECIPES))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    for method in args.only.split(","):
        measure(method, args.rounds, args.steps)


if __name__ == "__main__":
    main()
