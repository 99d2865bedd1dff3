"""Command line: ``python -m benchmark <command> --help``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmark import PROTOCOL, __version__, registry

# The modules that need torch, pandas or OpenCV are imported by the functions that use them,
# so that `--help` and a mistyped option answer at once (tests/test_startup.py).

EXIT_SKIPPED = 3  # the run finished, but some images could not be evaluated
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports it
INTERRUPTED = "interrupted; results already written are intact"
#: Every command takes --quiet; bars are drawn on a terminal only anyway (benchmark.progress).
QUIET_HELP = "no progress bars"
#: benchmark.locations.default_weights_dir, in words.
WEIGHTS_DIR_HELP = ("default: weights/ of the srbench checkout when run from one, else "
                    "$SRBENCH_CACHE/trained, by default ~/.cache/srbench/trained")


class UsageError(ValueError):
    """A bad command line, reported in one line before any work starts."""


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _checked(option: str, check: Callable[[Any], Any], value: Any) -> Any:
    """``check(value)`` with its :class:`api.RequestError` as a one-line ``--option:`` error."""
    from benchmark import api

    try:
        return check(value)
    except api.RequestError as exc:
        raise UsageError(f"{option}: {exc}") from None


def parse_scales(text: str) -> list[int]:
    """``"2,3,4"`` -> ``[2, 3, 4]``; each scale an integer in 2..8, no duplicates."""
    from benchmark import api

    return _checked("--scales", api.check_scales, _csv_list(text))


def parse_methods(text: str) -> list[Any]:
    """``"drrn,vdsr"`` -> their registered specs."""
    from benchmark import api

    return _checked("--methods", api.method_specs, _csv_list(text))


def parse_datasets(text: str) -> list[str]:
    from benchmark import api

    return _checked("--datasets", api.check_datasets, _csv_list(text))


def parse_metrics(text: str) -> tuple[str, ...]:
    """The protocol's metrics (psnr, ssim, ifc) and sewar's extended ones (``extmetrics``)."""
    from benchmark import api

    return _checked("--metrics", api.check_metrics, _csv_list(text))


# ----------------------------------------------------------------------------------- run
def refresh_report(args: argparse.Namespace) -> None:
    """Rebuild the HTML report beside ``--results-dir`` unless ``--no-report`` was given."""
    if args.no_report:
        return
    from benchmark import report

    index = report.refresh_report(args.results_dir)
    if index is not None:
        print(f"report: {index}")


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark import api, results, sources

    specs = parse_methods(args.methods)
    scales = parse_scales(args.scales)
    metric_names = parse_metrics(args.metrics)
    dataset_names = parse_datasets(args.datasets) if args.datasets else None
    try:
        weights = sources.parse_weights(args.weights, specs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def announce(text: str) -> None:  # the models block on stdout, notes on stderr
        print(text, file=sys.stdout if text.startswith("models:") else sys.stderr)

    try:
        result = api.run(
            specs, dataset_names, scales, metrics=metric_names, weights=weights,
            recipe=args.recipe, overrides=parse_overrides(args.set), data_root=args.data_root,
            results_dir=args.results_dir, resume=args.resume, device=args.device,
            jobs=args.jobs, offline=args.offline, self_ensemble=args.self_ensemble,
            weights_dir=args.weights_dir, weights_search=args.weights_search or (),
            train_threads=args.train_threads, tile=args.tile, save_images=args.save_images,
            cache_dir=args.cache_dir, progress=not args.quiet, announce=announce,
            command=sys.argv,
        )
    except api.RequestError as exc:
        raise UsageError(f"--resume: {exc}" if args.resume else str(exc)) from None
    meta = result.meta
    print(results.format_summary(result.summary))
    print("models:\n" + "\n".join(f"  {line}" for line in result.models))
    if result.warnings:
        print("\n" + "\n".join(result.warnings))
    kept = meta["resumed_rows"]
    resumed = f" ({kept} rows kept from before)" if kept else ""
    print(f"\n{meta['evaluations']} evaluations in {meta['wall_seconds']:.1f} s{resumed}; "
          f"results in {result.dir}")
    refresh_report(args)
    for _, row in result.skipped.iterrows():
        print(f"skipped: {row['method']} {row['dataset']} x{row['scale']} {row['image']}: "
              f"{row['status']}", file=sys.stderr)
    return EXIT_SKIPPED if len(result.skipped) else 0


# ------------------------------------------------------------------------------ datasets
def cmd_datasets(args: argparse.Namespace) -> int:
    from benchmark import data

    root = data.resolve_data_root(args.data_root)
    if args.fingerprint and args.names:
        raise UsageError("give the NAMES once: `datasets verify --fingerprint NAMES`")
    if args.fingerprint is not None and args.action != "verify":
        raise UsageError("--fingerprint is an option of `datasets verify`")
    args.names = args.names or args.fingerprint
    names = parse_datasets(args.names) if args.names else [d.name for d in data.list_datasets()]
    if args.action == "list":
        for row in data.datasets_table(root):
            print("  ".join(f"{k}={v}" for k, v in row.items()))
        return 0
    if args.action == "download":
        for name in names:
            data.download_dataset(name, root, progress=not args.quiet)
    dirs_only = all(n.startswith("dir:") for n in names)
    if args.like and not (args.fingerprint is not None and dirs_only):
        raise UsageError("--like names the set a dir: folder claims to be; it needs "
                         "--fingerprint and dir: NAMES")
    if args.fingerprint is not None:
        return fingerprint_sets(names if args.names else list(data.STANDARD_SETS), args.like, root)
    status = 0
    for name in names:
        report = data.verify_dataset(name, root, progress=not args.quiet)
        bad = [(f, s) for f, s in report if s != "ok"]
        print(f"{name}: {len(report) - len(bad)}/{len(report)} files ok under {root}")
        for file, state in bad:
            print(f"  {state}: {file}")
        status = status or (1 if bad else 0)
    return status


def fingerprint_sets(names: list[str], like: str | None, root: Path) -> int:
    """``datasets verify --fingerprint``: one line per set; 1 when one fails, else 0."""
    from benchmark import alarms, data

    if like is not None:
        like = parse_datasets(like)[0]
    status = 0
    for name in names:
        claimed = like or name
        refs = data.list_images(name, root, offline=True, progress=False)
        try:
            checks = alarms.fingerprint(refs, claimed, cache_dir=data.cache_dir(),
                                        jobs=os.cpu_count() or 1)
        except ValueError as exc:
            raise UsageError(f"--fingerprint: {exc}") from None
        detail = ", ".join(c.text() for c in checks)
        if all(c.ok for c in checks):
            print(f"{name}: bicubic fingerprint of {claimed} ok: {detail}")
        else:
            status = 1
            print(f"{name}: FAILS the bicubic fingerprint of {claimed} (tolerance "
                  f"{alarms.FINGERPRINT_TOLERANCE} dB): {detail}; these are not the published "
                  f"{claimed} images (resized, recompressed, or HR images that are upscalings?)")
    return status


# ------------------------------------------------------------------------------- plugins
def load_plugin_files(args: argparse.Namespace) -> None:
    """Import the ``--plugin`` files (global and ``run``'s) so their methods are registered.

    Runs before any command validates method names. Built-in methods and the
    ``srbench.methods`` entry points are loaded too (``registry.load_plugins``).
    """
    paths = [*(getattr(args, "plugins", None) or []), *(getattr(args, "run_plugins", None) or [])]
    if not paths:
        return
    try:
        registry.load_plugins(paths)
    except (registry.PluginError, ValueError) as exc:
        raise UsageError(f"--plugin: {exc}") from exc


# --------------------------------------------------------------------------------- score
def cmd_score(args: argparse.Namespace) -> int:
    from benchmark import api, data, imaging, results
    from benchmark import protocol as protocols
    from benchmark import scoring

    try:
        proto = protocols.get_protocol(args.protocol)
    except protocols.UnknownProtocolError as exc:
        raise UsageError(f"--protocol: {exc}") from None
    try:
        scales = parse_scales(args.scale)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--scales:", "--scale:", 1)) from None
    if len(scales) != 1:
        raise UsageError(f"--scale: give one scale, got {args.scale!r}")
    scale = scales[0]
    datasets = parse_datasets(args.dataset)
    if len(datasets) != 1:
        raise UsageError(f"--dataset: give one dataset, got {args.dataset!r}")
    metric_names = parse_metrics(args.metrics)
    if args.name is None and not args.explain:
        raise UsageError("--name is required (the method name recorded in the results)")
    if args.target is not None and not args.explain:
        raise UsageError("--target needs --explain")
    name = (args.name or "explain").strip()
    if not name or "," in name:
        raise UsageError(f"--name: {args.name!r} is not a usable method name")
    jobs = args.jobs or (os.cpu_count() or 1)
    root = data.resolve_data_root(args.data_root)
    sr_dir = Path(args.sr).expanduser().resolve()
    errors = (scoring.ScoreError, imaging.ImageReadError, FileNotFoundError)
    if args.explain:
        refs = data.list_images(datasets[0], root, offline=args.offline, progress=False)
        try:
            matches, _ = scoring.match_files(refs, scoring.list_sr_files(sr_dir), scale, name)
            scoring.check_sizes(matches, scale)
            table = scoring.explain(matches, scale, jobs=jobs)
        except errors as exc:
            raise UsageError(str(exc)) from None
        print(f"{datasets[0]} x{scale}, {len(matches)} images from {sr_dir}:")
        print(scoring.format_explain(table, args.target))
        return 0
    try:
        result = api.score(sr_dir, datasets[0], scale, name=name, protocol=proto.name,
                           metrics=metric_names, data_root=root, results_dir=args.results_dir,
                           offline=args.offline, jobs=jobs, command=sys.argv)
    except errors as exc:
        raise UsageError(str(exc)) from None
    unmatched = result.meta["unmatched"]
    if unmatched:
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        print(f"note: {len(unmatched)} file(s) in {sr_dir} fit no {datasets[0]} image at "
              f"x{scale} and were not scored: {', '.join(unmatched[:5])}{more}",
              file=sys.stderr)
    print(f"protocol: {proto.name}")
    print(results.format_summary(result.summary))
    print(f"\n{result.meta['evaluations']} images scored in {result.meta['wall_seconds']:.1f} s;"
          f" results in {result.dir}")
    refresh_report(args)
    return 0


# ---------------------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from benchmark import report

    results_dir = Path(args.results_dir)
    out = Path(args.out) if args.out else report.default_out_dir(results_dir)
    if not results_dir.is_dir():
        print(f"note: {results_dir} does not exist; the report shows the paper's values only",
              file=sys.stderr)
    try:
        index = report.build_report(results_dir, out, data_root=args.data_root,
                                    browse_limit=args.browse_limit)
    except report.ReportError as exc:
        raise UsageError(str(exc)) from None
    print(f"report: {index}")
    if args.open and not report.open_in_browser(index):
        print(f"note: no web browser available; open {index.resolve().as_uri()}", file=sys.stderr)
    if args.serve:
        try:
            report.serve(index.parent, args.port)
        except OSError as exc:
            raise UsageError(f"--serve: cannot listen on 127.0.0.1:{args.port}: {exc}") from None
    return 0


# ------------------------------------------------------------------------- methods / weights
def cmd_methods(args: argparse.Namespace) -> int:
    from benchmark import harness, modelinfo

    device = harness.resolve_device(args.device) if args.memory else None
    size = (args.memory_size, args.memory_size)
    mem = f" {'peak MiB':>8}" if device else ""
    header = (f"{'method':<14} {'depth':>5} {'params':>10} {'conv w.':>10} {'MACs/px':>10} "
              f"{'FLOPs/px':>10} {'GMACs 288²':>10} {'GFLOPs 720p':>11}{mem} {'Set5 x3':>7}  "
              "description")
    print(header)
    print("-" * len(header))
    for spec in registry.list_methods():
        c = modelinfo.cost_table(spec.name)
        paper = spec.published.get(("set5", 3), (float("nan"),))[0]
        depth = c.get("depth")
        peak = (f" {modelinfo.peak_forward_bytes(spec.name, size, device) / 2**20:>8.1f}"
                if device else "")
        print(f"{spec.name:<14} {depth if depth is not None else '-':>5} {c['params']:>10,} "
              f"{c['conv_weights']:>10,} {c['macs_per_pixel']:>10,} {c['flops_per_pixel']:>10,} "
              f"{c['gmacs_288x288']:>10.2f} {c['gflops_1280x720']:>11.1f}{peak} "
              f"{paper if paper == paper else 'n/a':>7}  {spec.description}")
    print(f"\n{modelinfo.CONVENTION}. params: every distinct learnable parameter (shared convs "
          "once, BN per unit); conv w.: conv kernels only (the papers' count, e.g. DRRN's 297K). "
          "GMACs 288²: a 288x288 output; GFLOPs 720p: a 1280x720 output."
          + (f" peak MiB: one forward pass on {device} at {size[0]}x{size[1]} (measured)."
             if device else ""))
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from benchmark import weights, zoo

    if args.action == "list":
        for entry in zoo.entries():
            state, path = zoo.status(entry, extra_dirs=args.weights_search or [],
                                     data_root=args.data_root)
            print(f"{entry.name:<24} {state:<8} methods={','.join(entry.methods)} "
                  f"scales=x{',x'.join(map(str, entry.scales))} {entry.provenance}"
                  f"{'' if entry.official else ' (unofficial)'}\n"
                  f"  sha256 {entry.sha256}  {entry.size:,} bytes  license: {entry.license}\n"
                  f"  {path or entry.url or '-'}")
        return 0
    if args.action == "download":
        if not args.target:
            raise UsageError("weights download NAME: give a name from `weights list`")
        if args.out:
            print(weights.download_weights(args.target, Path(args.out), progress=not args.quiet))
            return 0
        entry = next((e for e in zoo.entries() if e.name == args.target), None)
        if entry is None:
            names = [e.name for e in zoo.entries()]
            raise UsageError(f"unknown zoo entry {args.target!r}"
                             f"{registry.suggest(args.target, names)}; see `weights list`")
        print(zoo.fetch(entry, extra_dirs=args.weights_search or [], data_root=args.data_root,
                        progress=not args.quiet))
        return 0
    if not (args.target and args.file):
        raise UsageError("weights import METHOD FILE [--out PATH]")
    spec = parse_methods(args.target)[0]
    model, config, meta = weights.build_model(spec.name, args.file)
    overrides = {k: v for k, v in config.items() if spec.config.get(k) != v}
    out = Path(args.out or Path("weights") / f"{spec.name}-{Path(args.file).stem}.safetensors")
    weights.save_checkpoint(out, model, method=spec.name, config=config,
                            meta={**meta, "recipe": "published"})
    print(f"{args.file} -> {out} ({spec.name}, {', '.join(f'{k}={v}' for k, v in overrides.items()) or 'default config'})")
    return 0


# ------------------------------------------------------------------------------ train / speed
def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` recipe overrides; a VALUE that parses as JSON is taken as JSON."""
    import json

    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark import api

    spec = parse_methods(args.method)[0]
    if not spec.trainable:
        raise UsageError(f"{spec.name} has nothing to train")
    execution = {"batch_size": args.batch_size, "lr": args.lr, "bf16": args.bf16,
                 "channels_last": args.channels_last, "compile": args.compile}
    paths = api.train(
        spec, args.recipe, parse_scales(args.scales) if args.scales else None,
        overrides=parse_overrides(args.set),
        config={"channels": args.width} if args.width else None, iterations=args.iterations,
        seed=args.seed, device=args.device, data_root=args.data_root, offline=args.offline,
        weights_dir=args.weights_dir, threads=args.train_threads, resume=args.resume,
        progress=not args.quiet, **{k: v for k, v in execution.items() if v is not None},
    )
    for path in paths:
        print(path)
    return 0


def cmd_speed(args: argparse.Namespace) -> int:
    from benchmark import sources
    from benchmark.speed import speed

    specs = [s for s in parse_methods(args.methods) if s.trainable]
    from benchmark import trainer

    with trainer.cpu_threads(args.train_threads, args.device):
        rows = speed([s.name for s in specs], args.device,
                     recipe=sources.resolve_recipe(args.recipe, args.device),
                     overrides=parse_overrides(args.set))
    for row in rows:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()))
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from benchmark import ablation, api

    overrides = parse_overrides(args.set)
    if args.iterations:
        overrides["iterations"] = args.iterations
    try:
        run_dir, summary, counts = api.ablate(
            _csv_list(args.studies), recipe=args.recipe, seeds=args.seeds, width=args.width,
            shapes=_csv_list(args.shapes) if args.shapes else None, overrides=overrides,
            datasets=parse_datasets(args.datasets), scales=parse_scales(args.scales),
            metrics=parse_metrics(args.metrics), data_root=args.data_root,
            results_dir=args.results_dir, weights_dir=args.weights_dir, device=args.device,
            jobs=args.jobs, cluster=args.cluster, offline=args.offline,
            progress=not args.quiet,
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    print(ablation.format_effects(summary))
    print(f"\n{counts['run']} jobs run, {counts['cached']} cached; results in {run_dir} "
          f"(ablation.csv)")
    refresh_report(args)
    return 0


# ------------------------------------------------------------------------------- compare
def cmd_compare(args: argparse.Namespace) -> int:
    from benchmark import comparison, results

    try:
        table = comparison.compare(args.run_dirs, args.baseline, _csv_list(args.metrics),
                                   resamples=args.resamples)
    except comparison.CompareError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    results.atomic_write_csv(out, table)
    print(comparison.format_comparison(table))
    print(f"\n{len(table)} comparisons written to {out}")
    return 0


# ----------------------------------------------------------------------------------- bench
def add_bench_command(sub: Any) -> None:
    """``bench``: its options and implementation live in :mod:`benchmark.bench` (light to
    import: its modes import torch when they run)."""
    from benchmark import bench

    bench.add_parser(sub)


# ----------------------------------------------------------------------------------- parser
#: Where the documentation is: files of the source tree (not installed with the wheel).
DOCS_EPILOG = ("Documentation (in the srbench source tree): docs/protocol.md, how every number "
               "is measured; docs/methods.md, the methods, their published numbers and weights; "
               "README.md, every command.")
#: The training recipes (benchmark.trainer.RECIPES, not imported: it would import torch) and
#: ``auto``: fast on a CUDA device, quick on a CPU.
RECIPE_CHOICES = ["auto", "quick", "fast", "paper"]
#: The options that several commands take, each spelled once: flag -> ``add_argument``
#: keywords. A command states only what it changes (its own help or default); options that
#: share no more than a name (``--out``, ``--resume``) are their command's own.
SHARED_OPTIONS: dict[str, dict[str, Any]] = {
    "--quiet": {"action": "store_true", "help": QUIET_HELP},
    "--plugin": {"action": "append", "default": None, "metavar": "FILE",
                 "help": "Python file that registers methods with benchmark.register_method "
                 "(repeatable)"},
    "--methods": {},
    "--datasets": {},
    "--scales": {},
    "--metrics": {"default": "psnr,ssim,ifc",
                  "help": "subset of psnr,ssim,ifc, plus sewar's msssim,vifp,scc"},
    "--data-root": {"help": "dataset folder (default $SRBENCH_DATA, else ./datasets)"},
    "--offline": {"action": "store_true", "help": "never download missing data"},
    "--device": {"default": "auto", "help": "auto, cpu or cuda[:N]"},
    "--jobs": {"type": int, "default": 0, "help": "parallel workers (default: all cores)"},
    "--results-dir": {"default": "results", "help": "where run folders go"},
    "--no-report": {"action": "store_true", "help": "do not refresh the HTML report"},
    "--recipe": {"default": "auto", "choices": RECIPE_CHOICES,
                 "help": "default auto: fast on a CUDA device, quick on a CPU"},
    "--set": {"action": "append", "metavar": "KEY=VALUE",
              "help": "recipe override (JSON value), e.g. --set train_set=set5; repeatable"},
    "--iterations": {"type": int},
    "--width": {"type": int, "help": "channels (budget runs)"},
    "--train-threads": {"type": int, "default": None, "metavar": "N",
                        "help": "torch threads for CPU training (default: the cores the load "
                        "average leaves idle; measured in trainer.cpu_threads)"},
    "--weights-dir": {"help": f"checkpoint folder ({WEIGHTS_DIR_HELP})"},
    "--weights-search": {"action": "append", "metavar": "DIR",
                         "help": "folder searched recursively for zoo files, matched by sha256 "
                         "(repeatable; $SRBENCH_WEIGHTS too)"},
}


def _add_option(parser: argparse.ArgumentParser, flag: str, **changes: Any) -> None:
    """Add the shared option ``flag`` (:data:`SHARED_OPTIONS`) with this command's changes."""
    parser.add_argument(flag, **{**SHARED_OPTIONS[flag], **changes})


def _add_run_parser(sub: Any) -> argparse.ArgumentParser:
    run = sub.add_parser("run", help="evaluate methods on test sets (trains missing weights)",
                         description="Evaluate methods under the protocol and write tidy tables.",
                         epilog=DOCS_EPILOG)
    _add_option(run, "--methods", default="bicubic",
                help="comma-separated registered methods (see `methods`); default: bicubic")
    _add_option(run, "--scales", default="2,3,4", help="comma-separated scales; default 2,3,4")
    _add_option(run, "--datasets",
                help="comma-separated datasets (see `datasets list`); default: "
                "set5,set14,bsd100,urban100, or the embedded 'sample' set when those are "
                "absent and cannot be downloaded")
    _add_option(run, "--metrics", help="subset of psnr,ssim,ifc, plus sewar's msssim,vifp,scc "
                "(not part of the MATLAB protocol)")
    _add_option(run, "--data-root")
    _add_option(run, "--results-dir")
    run.add_argument("--cache-dir",
                     help="GT/LR cache (default $SRBENCH_CACHE or ~/.cache/srbench)")
    _add_option(run, "--jobs")
    _add_option(run, "--device")
    _add_option(run, "--offline")
    run.add_argument("--weights", metavar="published | FILE | METHOD=FILE|published,...",
                     help="weights for learned methods: 'published' (the zoo, see `weights "
                     "list`), srbench checkpoints or published files (VDSR/SRCNN .mat, MXNet "
                     "DRRN .params). Default: a method the zoo has uses its published model; "
                     "any other is trained with --recipe (or a finished training is reused)")
    _add_option(run, "--weights-search")
    _add_option(run, "--recipe", default=None,
                help="train learned methods without --weights with this recipe, even those the "
                "zoo has (auto: fast on a CUDA device, quick on a CPU; default: zoo first, else "
                "auto)")
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="write into RUN_DIR, evaluating only the (method, dataset, scale, "
                     "image) rows it lacks; a missing RUN_DIR starts a run there")
    _add_option(run, "--set", help="training recipe override (JSON value) for methods trained "
                "by this run, e.g. --set iterations=6000; repeatable")
    _add_option(run, "--train-threads")
    _add_option(run, "--weights-dir", help=f"trained checkpoints ({WEIGHTS_DIR_HELP})")
    run.add_argument("--tile", type=int, default=None, metavar="N",
                     help="memory-bounded tiled inference with N x N tiles (same output)")
    run.add_argument("--self-ensemble", action="store_true",
                     help="evaluate learned methods as the x8 geometric self-ensemble (8 "
                     "flips/rotations, averaged before quantisation); rows say ensemble=x8")
    run.add_argument("--save-images", action="store_true",
                     help="write colour SR images (SR Y + bicubic CbCr) under <run>/images/")
    _add_option(run, "--no-report",
                help="do not refresh the HTML report (reports/ beside --results-dir)")
    _add_option(run, "--plugin", dest="run_plugins", help="Python file that registers methods "
                "(repeatable; same as the global --plugin)")
    run.set_defaults(func=cmd_run)
    return run


def _add_datasets_parser(sub: Any) -> argparse.ArgumentParser:
    ds = sub.add_parser("datasets", help="list, verify or download datasets",
                        description="List, verify (sha256) or download the registered datasets.")
    ds.add_argument("action", choices=["list", "verify", "download"])
    ds.add_argument("names", nargs="?", help="comma-separated datasets (default: all)")
    _add_option(ds, "--data-root")
    ds.add_argument("--fingerprint", nargs="?", const="", default=None, metavar="NAMES",
                    help="verify: the bicubic PSNR at x2/x3/x4 must reproduce the published "
                    "bicubic row within 0.01 dB (default NAMES: set5,set14,bsd100,urban100)")
    ds.add_argument("--like", metavar="SET",
                    help="with --fingerprint and dir:PATH names: the standard set the folder "
                    "claims to be, e.g. set14")
    ds.set_defaults(func=cmd_datasets)
    return ds


def _add_score_parser(sub: Any) -> argparse.ArgumentParser:
    sc = sub.add_parser(
        "score", help="score SR images made elsewhere against a test set",
        description="Pair the SR images of a folder with a test set's GT images by name, "
        "compute the metrics under a protocol and write the same tables as `run`.",
        epilog="The protocols and their variants are described step by step in "
        "docs/protocol.md of the srbench source tree.")
    sc.add_argument("--sr", required=True, metavar="DIR", help="folder of SR images")
    sc.add_argument("--dataset", required=True, help="test set, e.g. set5 (see `datasets list`)")
    sc.add_argument("--scale", required=True, help="SR factor of the images, e.g. 2")
    sc.add_argument("--name", help="method name recorded in the results (required unless "
                    "--explain)")
    sc.add_argument("--explain", action="store_true",
                    help="rescore under every protocol variant and print a table of means; "
                    "writes no run folder")
    sc.add_argument("--target", type=float, metavar="PSNR",
                    help="with --explain: list the variants within 0.005 dB of this figure")
    sc.add_argument("--protocol", default=PROTOCOL,
                    help=f"{PROTOCOL} (default: uint8 Y, as the DRRN code), matlab-float-y-v1 "
                    "(EDSR/RCAN Evaluate_PSNR_SSIM.m: float Y) or one of the variants that "
                    "--explain lists (docs/protocol.md)")
    _add_option(sc, "--metrics")
    _add_option(sc, "--data-root")
    _add_option(sc, "--results-dir")
    _add_option(sc, "--jobs")
    _add_option(sc, "--no-report")
    _add_option(sc, "--offline")
    sc.set_defaults(func=cmd_score)
    return sc


def _add_report_parser(sub: Any) -> argparse.ArgumentParser:
    rp = sub.add_parser(
        "report", help="build the HTML report (tables, figures, image browser) from results",
        description="Build a self-contained HTML report (works from file://, no network) of "
        "every run under --results-dir: Tables 2-4 with the paper's values, Figures 1/6/8/9, "
        "an image browser, training curves and run metadata; tables also as CSV and LaTeX.")
    _add_option(rp, "--results-dir", help="folder of run folders")
    rp.add_argument("--out", metavar="DIR",
                    help="report folder (default: reports/ next to --results-dir); replaced "
                    "only if it is an earlier report or empty")
    _add_option(rp, "--data-root", help="datasets folder for the image browser's ground truth "
                "(default: each run's data root, then $SRBENCH_DATA, else ./datasets)")
    rp.add_argument("--browse-limit", type=int, default=40, metavar="N",
                    help="most images in the image browser (default 40)")
    rp.add_argument("--open", action="store_true", help="open index.html in a web browser")
    rp.add_argument("--serve", action="store_true",
                    help="serve the report on http://127.0.0.1:PORT/ until Ctrl-C")
    rp.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    rp.set_defaults(func=cmd_report)
    return rp


def _add_methods_parser(sub: Any) -> argparse.ArgumentParser:
    me = sub.add_parser("methods", help="table of registered methods",
                        description="Every registered method with depth, parameters, "
                        "multiply-adds per output pixel and its published Set5 x3 PSNR.",
                        epilog="Papers, architectures, published numbers and their sources: "
                        "docs/methods.md of the srbench source tree.")
    me.add_argument("--memory", action="store_true",
                    help="also measure the peak memory of one forward pass on --device")
    me.add_argument("--memory-size", type=int, default=288, metavar="N",
                    help="input side for --memory (default 288, the paper's size)")
    _add_option(me, "--device", help="auto, cpu or cuda[:N] (for --memory)")
    me.set_defaults(func=cmd_methods)
    return me


def _add_weights_parser(sub: Any) -> argparse.ArgumentParser:
    we = sub.add_parser("weights", help="list, download or import published weights",
                        description="Published weights: list the manifest, download one "
                        "(sha256-verified), or import a published file (VDSR/SRCNN .mat, "
                        "MXNet DRRN .params) into an srbench checkpoint.",
                        epilog="Provenance and terms of every zoo entry: docs/methods.md "
                        "(Model zoo) of the srbench source tree.")
    we.add_argument("action", choices=["list", "download", "import"])
    we.add_argument("target", nargs="?", help="download: weights name; import: METHOD")
    we.add_argument("file", nargs="?", help="import: the published file")
    we.add_argument("--out", help="output file or folder (download default: the cache, "
                    "$SRBENCH_CACHE/weights; import default: ./weights/)")
    _add_option(we, "--weights-search", help="folder searched recursively for zoo files by "
                "sha256 (repeatable; $SRBENCH_WEIGHTS too)")
    _add_option(we, "--data-root", help="dataset folder; reference weights sit in ../reference")
    we.set_defaults(func=cmd_weights)
    return we


def _add_train_parser(sub: Any) -> argparse.ArgumentParser:
    tr = sub.add_parser("train", help="train one method with a named recipe",
                        description="Train METHOD with the shared training backbone; resumable.")
    tr.add_argument("method")
    _add_option(tr, "--recipe")
    _add_option(tr, "--scales", default=None, metavar="S,...",
                help="scales to train on (default: the recipe's); a method with one model per "
                "scale (srcnn) trains one checkpoint per scale")
    _add_option(tr, "--iterations")
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--lr", type=float)
    _add_option(tr, "--width")
    tr.add_argument("--seed", type=int, default=0)
    _add_option(tr, "--set")
    _add_option(tr, "--device", help=None)
    tr.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    tr.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    tr.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    tr.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                    help="continue a partial run of the same plan (default)")
    _add_option(tr, "--data-root", help=None)
    _add_option(tr, "--train-threads")
    _add_option(tr, "--weights-dir")
    _add_option(tr, "--offline")
    tr.set_defaults(func=cmd_train)
    return tr


def _add_speed_parser(sub: Any) -> argparse.ArgumentParser:
    sp = sub.add_parser("speed", help="training and inference speed, optimised vs eager",
                        description="Per method on the current device: training patches/s "
                        "and inference ms/image for the optimised path and a plain eager fp32 "
                        "loop, with their ratio.")
    _add_option(sp, "--methods", default="srcnn,vdsr,drcn,drrn_b1u9,drrn_b1u25")
    _add_option(sp, "--device", help=None)
    _add_option(sp, "--recipe", default="fast",
                help="recipe whose width, batch, patch and execution options are timed "
                "(default fast; auto: fast on CUDA, quick on a CPU)")
    _add_option(sp, "--set", help="recipe override (JSON value), e.g. --set batch_size=64; "
                "repeatable")
    _add_option(sp, "--train-threads",
                help="torch threads on a CPU (default: the idle cores, as `train`)")
    sp.set_defaults(func=cmd_speed)
    return sp


def _add_compare_parser(sub: Any) -> argparse.ArgumentParser:
    co = sub.add_parser(
        "compare", help="paired significance of each method against a baseline",
        description="Per dataset, scale and metric: the paired per-image difference of every "
        "method against --baseline, a bootstrap 95%% CI, Wilcoxon signed-rank and paired t "
        "p-values and the number of pairs; written to comparison.csv.")
    co.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (per_image.csv)")
    co.add_argument("--baseline", required=True, metavar="METHOD",
                    help="baseline method label, e.g. bicubic (a method present in several "
                    "runs is METHOD@RUN_ID after its first run)")
    _add_option(co, "--metrics", default="psnr,ssim",
                help="per-image columns (default psnr,ssim)")
    co.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples")
    co.add_argument("--out", default="comparison.csv", help="CSV file (default ./comparison.csv)")
    co.set_defaults(func=cmd_compare)
    return co


def _add_ablate_parser(sub: Any) -> argparse.ArgumentParser:
    ab = sub.add_parser("ablate", help="ablation studies (Table 4, Figures 6/8) with seeds and CIs",
                        description="Train and evaluate the variants of the named studies "
                        "(lrl, recursion, multipath, table4, grid; or all) once per seed, "
                        "reusing finished checkpoints and evaluations, and state each effect "
                        "with a 95%% CI over seeds and a paired test over seeds x images.")
    ab.add_argument("studies",
                    help="comma-separated studies: lrl,recursion,multipath,table4,grid,all")
    _add_option(ab, "--recipe")
    ab.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    _add_option(ab, "--width", help="channels (default: 128, capped by the recipe)")
    ab.add_argument("--shapes", help="replace every study's B/U shapes, e.g. B1U1,B1U2")
    _add_option(ab, "--iterations",
                help="training iterations per job (default: the recipe's; 1,500 for quick)")
    _add_option(ab, "--set")
    _add_option(ab, "--datasets", default="set5", help="evaluation sets (default set5)")
    _add_option(ab, "--scales", default="3", help="evaluation scales (default 3)")
    _add_option(ab, "--metrics", default="psnr,ssim", help="subset of psnr,ssim,ifc")
    _add_option(ab, "--jobs", default=None,
                help="local worker processes (default: one per core on a CPU, each on one "
                "thread; one on a GPU)")
    ab.add_argument("--cluster", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786")
    _add_option(ab, "--data-root")
    _add_option(ab, "--results-dir")
    _add_option(ab, "--weights-dir")
    _add_option(ab, "--device")
    _add_option(ab, "--offline")
    _add_option(ab, "--no-report")
    ab.set_defaults(func=cmd_ablate)
    return ab


#: The commands in the order ``--help`` lists them.
COMMAND_PARSERS = (_add_run_parser, _add_datasets_parser, _add_score_parser, _add_report_parser,
                   _add_methods_parser, _add_weights_parser, _add_train_parser,
                   _add_speed_parser, _add_compare_parser, _add_ablate_parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="srbench: single-image super-resolution benchmark under the exact "
        f"MATLAB protocol ({PROTOCOL}).",
        epilog=DOCS_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"srbench {__version__}")
    _add_option(parser, "--plugin", dest="plugins")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in COMMAND_PARSERS:
        _add_option(add_command(sub), "--quiet")  # every command takes it, listed last
    add_bench_command(sub)
    return parser


def _reported_errors() -> tuple[type[Exception], ...]:
    """The errors ``main`` reports in one line: usage, dataset and weights errors.

    The last two are taken only from modules already imported: an error whose module never
    loaded cannot have been raised, and importing it here would cost the start-up time.
    """
    errors: list[type[Exception]] = [UsageError]
    for module, name in (("benchmark.data", "DatasetError"), ("benchmark.weights", "WeightsError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        load_plugin_files(args)
        return handler(args)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except _reported_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemError as exc:
        # A Ctrl-C inside a C extension (cv2) can surface as "returned a result with an
        # exception set", caused by the KeyboardInterrupt: still an interrupt.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            print(INTERRUPTED, file=sys.stderr)
            return EXIT_INTERRUPTED
        raise
