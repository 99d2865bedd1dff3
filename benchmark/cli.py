"""Command line: ``python -m benchmark <command> --help``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmark import PROTOCOL, __version__, data, harness, registry, results

EXIT_SKIPPED = 3  # the run finished, but some images could not be evaluated
STANDARD_SETS = ("set5", "set14", "bsd100", "urban100")


class UsageError(ValueError):
    """A bad command line, reported in one line before any work starts."""


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_scales(text: str) -> list[int]:
    """``"2,3,4"`` -> ``[2, 3, 4]``; each scale an integer >= 2, no duplicates."""
    scales: list[int] = []
    for item in _csv_list(text):
        try:
            scale = int(item)
        except ValueError:
            raise UsageError(f"--scales: {item!r} is not an integer (use e.g. --scales 2,3,4)") from None
        if scale < 2 or scale > 8:
            raise UsageError(f"--scales: {scale} is outside the supported range 2..8")
        if scale in scales:
            raise UsageError(f"--scales: {scale} is listed twice")
        scales.append(scale)
    if not scales:
        raise UsageError("--scales: no scale given")
    return scales


def parse_methods(text: str) -> list[registry.MethodSpec]:
    names = _csv_list(text)
    if not names:
        raise UsageError("--methods: no method given")
    if len(set(names)) != len(names):
        raise UsageError(f"--methods: a method is listed twice in {text!r}")
    try:
        return [registry.get_method(name) for name in names]
    except registry.UnknownMethodError as exc:
        raise UsageError(f"--methods: {exc}") from None


def parse_datasets(text: str) -> list[str]:
    names: list[str] = []
    for item in _csv_list(text):
        try:
            name = data.get_dataset(item).name
        except data.UnknownDatasetError as exc:
            raise UsageError(f"--datasets: {exc}") from None
        if name in names:
            raise UsageError(f"--datasets: {name!r} is listed twice")
        names.append(name)
    if not names:
        raise UsageError("--datasets: no dataset given")
    return names


def parse_metrics(text: str) -> tuple[str, ...]:
    names = _csv_list(text)
    for name in names:
        if name not in harness.METRICS:
            raise UsageError(
                f"--metrics: unknown metric {name!r}{registry.suggest(name, list(harness.METRICS))};"
                f" known: {', '.join(harness.METRICS)}"
            )
    return tuple(names)


# ----------------------------------------------------------------------------------- run
def refresh_report(args: argparse.Namespace) -> None:
    """Rebuild the HTML report beside ``--results-dir`` unless ``--no-report`` was given."""
    if args.no_report:
        return
    from benchmark import report

    index = report.refresh_report(args.results_dir)
    if index is not None:
        print(f"report: {index}")


def load_images(
    names: list[str] | None, root: Path, *, offline: bool, progress: bool
) -> dict[str, list[data.ImageRef]]:
    """Verified image lists per dataset (downloading what is missing unless ``offline``).

    ``names=None`` is the default job: the paper's four test sets, or the embedded
    ``sample`` set when they are absent and cannot be downloaded (an offline machine).
    """
    if names is not None:
        return {name: data.list_images(name, root, offline=offline, progress=progress)
                for name in names}
    try:
        return {name: data.list_images(name, root, offline=offline, progress=progress)
                for name in STANDARD_SETS}
    except data.DatasetError as exc:
        print(f"note: the standard test sets are not available ({exc}); "
              "evaluating the embedded 'sample' set instead", file=sys.stderr)
        return {"sample": data.list_images("sample", root, offline=True, progress=progress)}


def cmd_run(args: argparse.Namespace) -> int:
    specs = parse_methods(args.methods)
    scales = parse_scales(args.scales)
    metric_names = parse_metrics(args.metrics)
    dataset_names = parse_datasets(args.datasets) if args.datasets else None
    jobs = args.jobs or (os.cpu_count() or 1)
    device = harness.resolve_device(args.device)
    root = data.resolve_data_root(args.data_root)
    cache_dir = Path(args.cache_dir) if args.cache_dir else data.cache_dir()
    times = harness.StageTimes()
    wall_start = time.perf_counter()

    images = load_images(dataset_names, root, offline=args.offline, progress=not args.quiet)
    dataset_names = list(images)
    runs = [harness.MethodRun(spec, registry.resolve_config(spec.name), spec.factory(
        **registry.resolve_config(spec.name))) for spec in specs]
    pairs = harness.prepare_pairs(
        images, scales, cache_dir=cache_dir, jobs=jobs, times=times, progress=not args.quiet
    )
    run_id, run_dir = results.new_run_dir(Path(args.results_dir))
    rows = harness.evaluate(
        runs, pairs, metric_names=metric_names, device=device, jobs=jobs, times=times,
        progress=not args.quiet,
        on_output=harness.image_saver(run_dir) if args.save_images else None,
    )
    wall = time.perf_counter() - wall_start
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    version = results.code_version()
    for row in rows:
        row.update(run_id=run_id, timestamp=stamp, version=version)
    meta: dict[str, Any] = {
        "run_id": run_id, "command": sys.argv, "protocol": PROTOCOL, "version": version,
        "data_root": str(root), "datasets": dataset_names, "scales": scales,
        "methods": [r.spec.name for r in runs], "device": str(device), "jobs": jobs,
        "wall_seconds": wall, "stage_seconds": dict(times.seconds), "evaluations": len(rows),
    }
    summary = results.write_run(run_dir, rows, meta)
    print(results.format_summary(summary))
    print(f"\n{len(rows)} evaluations in {wall:.1f} s; results in {run_dir}")
    refresh_report(args)
    skipped = [r for r in rows if r["status"] != "ok"]
    for row in skipped:
        print(f"skipped: {row['method']} {row['dataset']} x{row['scale']} {row['image']}: "
              f"{row['status']}", file=sys.stderr)
    return EXIT_SKIPPED if skipped else 0


# ------------------------------------------------------------------------------ datasets
def cmd_datasets(args: argparse.Namespace) -> int:
    root = data.resolve_data_root(args.data_root)
    names = parse_datasets(args.names) if args.names else [d.name for d in data.list_datasets()]
    if args.action == "list":
        for row in data.datasets_table(root):
            print("  ".join(f"{k}={v}" for k, v in row.items()))
        return 0
    if args.action == "download":
        for name in names:
            data.download_dataset(name, root)
    status = 0
    for name in names:
        report = data.verify_dataset(name, root)
        bad = [(f, s) for f, s in report if s != "ok"]
        print(f"{name}: {len(report) - len(bad)}/{len(report)} files ok under {root}")
        for file, state in bad:
            print(f"  {state}: {file}")
        status = status or (1 if bad else 0)
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
    from benchmark import imaging
    from benchmark import protocol as protocols
    from benchmark import score

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
    name = args.name.strip()
    if not name or "," in name:
        raise UsageError(f"--name: {args.name!r} is not a usable method name")
    jobs = args.jobs or (os.cpu_count() or 1)
    root = data.resolve_data_root(args.data_root)
    sr_dir = Path(args.sr).expanduser().resolve()
    wall_start = time.perf_counter()

    refs = data.list_images(datasets[0], root, offline=args.offline, progress=False)
    try:
        matches, unmatched = score.match_files(refs, score.list_sr_files(sr_dir), scale, name)
        score.check_sizes(matches, scale)
        rows = score.score_folder(
            matches, scale, method=name, weights=str(sr_dir), protocol=proto,
            names=metric_names, jobs=jobs,
        )
    except (score.ScoreError, imaging.ImageReadError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    if unmatched:
        shown = ", ".join(p.name for p in unmatched[:5])
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        print(f"note: {len(unmatched)} file(s) in {sr_dir} fit no {datasets[0]} image at "
              f"x{scale} and were not scored: {shown}{more}", file=sys.stderr)

    run_id, run_dir = results.new_run_dir(Path(args.results_dir), label="score")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    version = results.code_version()
    for row in rows:
        row.update(run_id=run_id, timestamp=stamp, version=version)
    wall = time.perf_counter() - wall_start
    meta: dict[str, Any] = {
        "run_id": run_id, "command": sys.argv, "protocol": proto.name, "version": version,
        "data_root": str(root), "datasets": datasets, "scales": [scale], "methods": [name],
        "sr_dir": str(sr_dir), "pairs": {m.gt.name: m.sr.name for m in matches},
        "unmatched": [p.name for p in unmatched], "jobs": jobs, "wall_seconds": wall,
        "evaluations": len(rows),
    }
    summary = results.write_run(run_dir, rows, meta)
    print(f"protocol: {proto.name}")
    print(results.format_summary(summary))
    print(f"\n{len(rows)} images scored in {wall:.1f} s; results in {run_dir}")
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
        index = report.build_report(results_dir, out, data_root=args.data_root)
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


# ----------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="srbench: single-image super-resolution benchmark under the exact "
        f"MATLAB protocol ({PROTOCOL}).",
    )
    parser.add_argument("--version", action="version", version=f"srbench {__version__}")
    parser.add_argument("--plugin", action="append", dest="plugins", default=None, metavar="FILE",
                        help="Python file that registers methods with "
                        "benchmark.register_method (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="evaluate methods on test sets (trains missing weights)",
                         description="Evaluate methods under the protocol and write tidy tables.")
    run.add_argument("--methods", default="bicubic",
                     help="comma-separated registered methods (see `methods`); default: bicubic")
    run.add_argument("--scales", default="2,3,4", help="comma-separated scales; default 2,3,4")
    run.add_argument("--datasets",
                     help="comma-separated datasets (see `datasets list`); default: "
                     "set5,set14,bsd100,urban100, or the embedded 'sample' set when those are "
                     "absent and cannot be downloaded")
    run.add_argument("--metrics", default="psnr,ssim,ifc", help="subset of psnr,ssim,ifc")
    run.add_argument("--data-root", help="dataset folder (default $SRBENCH_DATA, else ./datasets)")
    run.add_argument("--results-dir", default="results", help="where run folders go")
    run.add_argument("--cache-dir", help="GT/ILR cache (default $SRBENCH_CACHE or ~/.cache/srbench)")
    run.add_argument("--jobs", type=int, default=0, help="parallel workers (default: all cores)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    run.add_argument("--offline", action="store_true", help="never download missing data")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--save-images", action="store_true",
                     help="write colour SR images (SR Y + bicubic CbCr) under <run>/images/")
    run.add_argument("--no-report", action="store_true",
                     help="do not refresh the HTML report (reports/ beside --results-dir)")
    run.add_argument("--plugin", action="append", dest="run_plugins", default=None, metavar="FILE",
                     help="Python file that registers methods (repeatable; same as the global "
                     "--plugin)")
    run.set_defaults(func=cmd_run)

    ds = sub.add_parser("datasets", help="list, verify or download datasets",
                        description="List, verify (sha256) or download the registered datasets.")
    ds.add_argument("action", choices=["list", "verify", "download"])
    ds.add_argument("names", nargs="?", help="comma-separated datasets (default: all)")
    ds.add_argument("--data-root", help="dataset folder (default $SRBENCH_DATA, else ./datasets)")
    ds.set_defaults(func=cmd_datasets)

    sc = sub.add_parser(
        "score", help="score SR images made elsewhere against a test set",
        description="Pair the SR images of a folder with a test set's GT images by name, "
        "compute the metrics under a protocol and write the same tables as `run`.")
    sc.add_argument("--sr", required=True, metavar="DIR", help="folder of SR images")
    sc.add_argument("--dataset", required=True, help="test set, e.g. set5 (see `datasets list`)")
    sc.add_argument("--scale", required=True, help="SR factor of the images, e.g. 2")
    sc.add_argument("--name", required=True, help="method name recorded in the results")
    sc.add_argument("--protocol", default=PROTOCOL,
                    help=f"{PROTOCOL} (default: uint8 Y, as the DRRN code) or matlab-float-y-v1 "
                    "(EDSR/RCAN Evaluate_PSNR_SSIM.m: float Y)")
    sc.add_argument("--metrics", default="psnr,ssim,ifc", help="subset of psnr,ssim,ifc")
    sc.add_argument("--data-root", help="dataset folder (default $SRBENCH_DATA, else ./datasets)")
    sc.add_argument("--results-dir", default="results", help="where run folders go")
    sc.add_argument("--jobs", type=int, default=0, help="parallel workers (default: all cores)")
    sc.add_argument("--no-report", action="store_true", help="do not refresh the HTML report")
    sc.add_argument("--offline", action="store_true", help="never download missing data")
    sc.set_defaults(func=cmd_score)

    rp = sub.add_parser(
        "report", help="build the HTML report (tables, figures, image browser) from results",
        description="Build a self-contained HTML report (works from file://, no network) of "
        "every run under --results-dir: Tables 2-4 with the paper's values, Figures 1/6/8/9, "
        "an image browser, training curves and run metadata; tables also as CSV and LaTeX.")
    rp.add_argument("--results-dir", default="results", help="folder of run folders")
    rp.add_argument("--out", metavar="DIR",
                    help="report folder (default: reports/ next to --results-dir); replaced "
                    "only if it is an earlier report or empty")
    rp.add_argument("--data-root", help="datasets folder for the image browser's ground truth "
                    "(default: each run's data root, then $SRBENCH_DATA, else ./datasets)")
    rp.add_argument("--open", action="store_true", help="open index.html in a web browser")
    rp.add_argument("--serve", action="store_true",
                    help="serve the report on http://127.0.0.1:PORT/ until Ctrl-C")
    rp.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    rp.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        load_plugin_files(args)
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted; results already written are intact", file=sys.stderr)
        return 130
    except (UsageError, data.DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
