"""``bench inference``: CPU forward time per method, eager vs the chosen path, against the
fp32 peak of a large matmul measured in the same rounds (see :mod:`benchmark.bench`).

The peak: the best of three dense fp32 kernels timed in the same rounds (:func:`_peak_cases`;
the fastest of :data:`PEAK_REPEATS` timings per round, the median over rounds):
an ``n x n`` by ``n x n`` product through oneDNN (an inner product on oneDNN tensors) and
through ``torch.matmul`` (MKL's sgemm), and oneDNN's implicit GEMM (a 256-channel 3 x 3
convolution). On AMD processors MKL takes its AVX2 code path, under half of oneDNN's AVX-512
rate; and on a Zen 5 (2 cores, measured 2026-12-02) oneDNN's convolution kernels sustain
~430 GFLOP/s where its inner product reaches ~350-383, so a peak from the matmuls alone
reported the 3 x 3-conv networks at 109-132% of it. A hand-written AVX-512 FMA loop (12-24
independent accumulators) reached 432-450 GFLOP/s on the same 2 cores: the conv case is
within a few per cent of the FMA rate, the matmuls are not.
"""

from __future__ import annotations

import copy
import statistics
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from benchmark import harness, inference, modelinfo, registry
from benchmark.bench import interleave, load_average, load_text

CPU = torch.device("cpu")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
CONVENTION = (f"{modelinfo.CONVENTION}; GFLOP/s = 2 x MACs / forward time; fraction = GFLOP/s "
              "/ the peak matmul GFLOP/s of the same rounds and thread count")
#: The memory table's input when no Urban100 is at hand (``--quick``).
QUICK_MEMORY_SIZE = (64, 64)


@dataclass
class Model:
    """One distinct model: registered names with the same factory and config share it."""

    names: list[str]
    dtype: torch.dtype
    macs_per_pixel: int
    eager: nn.Module
    chosen: nn.Module
    compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
    compile_seconds: dict[int, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.names[0]


def distinct_models(names: list[str]) -> list[Model]:
    """Eager and chosen modules of each distinct model among ``names`` (random He init:
    weights do not change the arithmetic)."""
    models: dict[str, Model] = {}
    for name in names:
        spec = registry.get_method(name)
        key = f"{spec.factory.__module__}.{spec.factory.__qualname__}{sorted(spec.config.items())}"
        if key in models:
            models[key].names.append(name)
            continue
        torch.manual_seed(0)
        eager = registry.create_model(name).to(DTYPES[spec.dtype]).eval()
        chosen = inference.inference_model(copy.deepcopy(eager), CPU)
        macs = int(modelinfo.model_stats(name)["macs_per_pixel"] or 0)
        models[key] = Model([name], DTYPES[spec.dtype], macs, eager, chosen)
    return list(models.values())


def _input(model: Model, side: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(side)
    return torch.rand(1, 1, side, side, generator=gen).to(model.dtype)


def _forward_seconds(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """One timed forward."""
    with torch.inference_mode():
        return harness.timed(lambda: module(x), CPU)[1]


#: Timings per round of each peak kernel, of which the fastest counts: the peak is what the
#: machine can do, and a single ~50 ms timing on a busy 2-core VM came out 15% below the rate
#: DRCN's own convolutions reached in the same sitting.
PEAK_REPEATS = 5


def _fastest(timer: Callable[[], float]) -> Callable[[], float]:
    return lambda: min(timer() for _ in range(PEAK_REPEATS))


def _peak_cases(side: int) -> dict[str, tuple[float, Callable[[], float]]]:
    """FLOPs and a timer (the fastest of :data:`PEAK_REPEATS`) of each dense fp32 kernel the
    peak is the best of: a ``side``^3 matmul through MKL and (when built in) oneDNN, and
    oneDNN's implicit GEMM, a 3 x 3 convolution of 256 channels on a ``side / 16`` square
    map (K = 2304)."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(side, side, generator=gen) for _ in range(2))
    flops = 2.0 * side**3
    cases = {"mkl": (flops, lambda: harness.timed(lambda: torch.matmul(a, b), CPU)[1])}
    if torch.backends.mkldnn.is_available():
        with warnings.catch_warnings():  # its modules are TorchScript, which says it is old
            warnings.simplefilter("ignore", DeprecationWarning)
            import torch.utils.mkldnn as mkldnn

            linear = nn.Linear(side, side, bias=False)
            with torch.no_grad():
                linear.weight.copy_(b.t())
            dense = mkldnn.to_mkldnn(linear)
        a_dnn = a.to_mkldnn()
        cases["onednn"] = (flops, lambda: harness.timed(lambda: dense(a_dnn), CPU)[1])
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).eval().to(
        memory_format=torch.channels_last)
    m = max(side // 16, 8)
    x = torch.randn(1, 256, m, m, generator=gen).to(memory_format=torch.channels_last)
    cases["onednn_conv"] = (2.0 * 256 * 256 * 9 * m * m, lambda: _forward_seconds(conv, x))
    return {name: (flops, _fastest(timer)) for name, (flops, timer) in cases.items()}


def _warm_up(models: list[Model], sizes: list[int], compile: bool) -> dict[tuple[str, int], float]:
    """One untimed forward of every case (oneDNN primitives, allocator, compilation); returns
    the chosen path's :func:`inference.output_difference` from eager per (model, size)."""
    differences = {}
    for m in models:
        if compile and m.compiled is None:
            m.compiled = torch.compile(m.chosen)
        for side in sizes:
            x = _input(m, side)
            with torch.inference_mode():
                differences[m.name, side] = inference.output_difference(m.eager, m.chosen, x)
            if m.compiled is not None:
                m.compile_seconds[side] = _forward_seconds(m.compiled, x)
    return differences


def time_models(models: list[Model], sizes: list[int], rounds: int, *, peak_side: int,
                compile: bool = False, progress: bool = False) -> dict[str, Any]:
    """Every model at every size, eager and chosen (and compiled), interleaved with the
    peak matmul, on the current thread count; one block of the JSON."""
    peak = _peak_cases(peak_side)
    cases: dict[Any, Callable[[], float]] = {("peak", k): v[1] for k, v in peak.items()}
    for m in models:
        for side in sizes:
            x = _input(m, side)
            paths = {"eager": m.eager, "chosen": m.chosen, **({"compiled": None} if compile else {})}
            for path, module in paths.items():
                cases[m.name, side, path] = (lambda m=m, x=x, module=module: _forward_seconds(
                    m.compiled if module is None else module, x))
    for _, case in peak.values():
        case()
    differences = _warm_up(models, sizes, compile)
    if progress:
        print(f"{torch.get_num_threads()} threads: warm-up done, {load_text()}",
              file=sys.stderr, flush=True)
    times, loads = interleave(cases, rounds, progress)
    peak_gflops = {k: flops / statistics.median(times["peak", k]) / 1e9
                   for k, (flops, _) in peak.items()}
    best = max(peak_gflops.values())
    block: dict[str, Any] = {
        "threads": torch.get_num_threads(), "load_average_per_round": loads,
        "peak": {"matmul_side": peak_side, **{f"{k}_gflops": v for k, v in peak_gflops.items()},
                 "gflops": best},
        "methods": {}}
    for m in models:
        row = {"macs_per_pixel": m.macs_per_pixel, "sizes": {
            str(side): _size_row(m, side, times, best, differences[m.name, side])
            for side in sizes}}
        for i, name in enumerate(m.names):
            block["methods"][name] = {**row, "same_model_as": m.name if i else None}
    return block


def _size_row(m: Model, side: int, times: dict[Any, list[float]], peak: float,
              difference: float) -> dict[str, Any]:
    row: dict[str, Any] = {"max_difference": difference}
    flops = 2 * m.macs_per_pixel * side * side
    for path in ("eager", "chosen", "compiled"):
        if (m.name, side, path) not in times:
            continue
        seconds = statistics.median(times[m.name, side, path])
        gflops = flops / seconds / 1e9 if flops else None
        row[f"{path}_ms"] = 1000 * seconds
        row[f"{path}_gflops"] = gflops
        row[f"{path}_fraction_of_peak"] = gflops / peak if gflops is not None else None
    row["speedup"] = row["eager_ms"] / row["chosen_ms"]
    if m.compile_seconds:
        row["compile_first_call_s"] = m.compile_seconds[side]
    return row


def print_block(block: dict[str, Any]) -> None:
    """The table of one thread count."""
    peak, loads = block["peak"], block["load_average_per_round"]
    ones = [load[0] for load in loads]
    print(f"\n{block['threads']} thread(s); peak {peak['gflops']:.1f} GFLOP/s ("
          + ", ".join(f"{k[:-7]} {v:.1f}" for k, v in peak.items() if k.endswith("_gflops")
                      and k != "gflops")
          + f"; {peak['matmul_side']}^3 fp32 matmul, 256-channel 3x3 conv); "
          "1-min load average over the rounds "
          f"{min(ones):.2f}-{max(ones):.2f}")
    header = (f"{'method':<12} {'size':>4} {'eager ms':>10} {'chosen ms':>10} {'x':>5} "
              f"{'eager GF/s':>10} {'chosen GF/s':>11} {'eager %pk':>9} {'chosen %pk':>10}")
    print(header)
    print("-" * len(header))
    for name, row in block["methods"].items():
        if row["same_model_as"]:
            print(f"{name:<12} (the same model as {row['same_model_as']})")
            continue
        for side, cell in row["sizes"].items():
            print(f"{name:<12} {side:>4} {cell['eager_ms']:10.1f} {cell['chosen_ms']:10.1f} "
                  f"{cell['speedup']:5.2f} {_fmt(cell['eager_gflops'], 10)} "
                  f"{_fmt(cell['chosen_gflops'], 11)} "
                  f"{_fmt(cell['eager_fraction_of_peak'], 9, 100)} "
                  f"{_fmt(cell['chosen_fraction_of_peak'], 10, 100)}"
                  + (f"  compiled {cell['compiled_ms']:.1f} ms (first call "
                     f"{cell['compile_first_call_s']:.0f} s)" if "compiled_ms" in cell else ""))


def _fmt(value: float | None, width: int, factor: float = 1.0) -> str:
    return f"{'-':>{width}}" if value is None else f"{value * factor:{width}.1f}"


def largest_ilr(root: Path, dataset: str = "urban100", scale: int = 2) -> tuple[str, tuple[int, int]]:
    """The image of ``dataset`` with the largest ILR at ``scale`` (its modcropped size)."""
    from PIL import Image

    from benchmark import data

    best: tuple[int, str, tuple[int, int]] | None = None
    for ref in data.list_images(dataset, root, offline=True, progress=False):
        with Image.open(ref.path) as image:  # the header only
            w, h = image.size
        size = (h - h % scale, w - w % scale)
        if best is None or size[0] * size[1] > best[0]:
            best = (size[0] * size[1], ref.name, size)
    if best is None:
        raise ValueError(f"{dataset} has no images under {root}")
    return best[1], best[2]


def memory_table(models: list[Model], root: Path | None, progress: bool = False) -> dict[str, Any]:
    """Peak memory of one forward per model, eager and chosen, at the largest Urban100 x2 ILR
    (``root`` None: :data:`QUICK_MEMORY_SIZE`)."""
    if root is None:
        image, size = "quick", QUICK_MEMORY_SIZE
    else:
        try:
            image, size = largest_ilr(root)
        except (OSError, ValueError) as exc:
            return {"skipped": f"no Urban100 under {root}: {exc}"}
    rows: dict[str, Any] = {}
    for m in models:
        eager = modelinfo.peak_forward_bytes(m.name, size, CPU)
        chosen = modelinfo.peak_forward_bytes(m.name, size, CPU, inference=True)
        rows[m.name] = {"eager_mib": eager / 2**20, "chosen_mib": chosen / 2**20,
                        "load_average": load_average()}
        for name in m.names[1:]:
            rows[name] = {**rows[m.name], "same_model_as": m.name}
        if progress:
            print(f"  memory {m.name}: {eager / 2**20:.0f} -> {chosen / 2**20:.0f} MiB, "
                  f"{load_text()}", file=sys.stderr, flush=True)
    return {"image": image, "size": list(size), "methods": rows}


def print_memory(memory: dict[str, Any]) -> None:
    if "skipped" in memory:
        print(f"\npeak memory: skipped ({memory['skipped']})")
        return
    h, w = memory["size"]
    print(f"\npeak memory of one forward at {h}x{w} (Urban100 x2 {memory['image']}), MiB")
    for name, row in memory["methods"].items():
        print(f"  {name:<12} eager {row['eager_mib']:9.1f}  chosen {row['chosen_mib']:9.1f}  "
              f"{load_text(row['load_average'])}")
