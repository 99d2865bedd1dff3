"""The HTML report: tables equal the result tables, links are local and exist, names escaped.

Real runs are made with ``python -m benchmark run`` (bicubic on the embedded ``sample`` set,
and on Set5 when ``SRBENCH_DATA`` is set); synthetic runs written with
:func:`benchmark.results.write_run` cover what a bicubic run cannot: superseded runs, another
protocol, a reduced recipe, seeds, saved SR images, a training log and hostile names.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark import PROTOCOL, data, imaging, registry
from benchmark.cli import main
from benchmark.registry import resolve_config
from benchmark.report import build_report, refresh_report, slug
from benchmark.results import config_text, format_summary, write_run

HOSTILE = "<script>alert(1)</script>"
HOSTILE_DATASET = "<img src=x onerror=alert(2)>"
OTHER_PROTOCOL = "matlab-float-y-v1"


# ------------------------------------------------------------------------------- helpers
class _Links(HTMLParser):
    """Collects src/href attributes, data-* cells and script tags of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.cells: list[dict[str, str]] = []
        self.scripts = 0
        self.table: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for key in ("src", "href"):
            if key in values:
                self.links.append(values[key])
        if tag == "script":
            self.scripts += 1
        if tag == "table":
            self.table = values
        if tag == "td" and "data-psnr" in values:
            self.cells.append({**values, "_table": self.table.get("data-table", ""),
                               "_protocol": self.table.get("data-protocol", "")})


def table2_cells(index: Path, label: str) -> dict[tuple[str, str], dict[str, str]]:
    """Table 2 cells of the default protocol of the column ``label``, by (dataset, scale)."""
    return {(c["data-dataset"], c["data-scale"]): c for c in parse_page(index).cells
            if c["_table"] == "table2" and c["_protocol"] == PROTOCOL
            and c.get("data-label") == label}


def parse_page(index: Path) -> _Links:
    parser = _Links()
    parser.feed(index.read_text(encoding="utf-8"))
    return parser


def check_links(index: Path) -> list[str]:
    """Every src/href is relative and exists; no remote URL anywhere in src/href/url()."""
    text = index.read_text(encoding="utf-8")
    page = parse_page(index)
    assert page.links, "the page links nothing"
    for link in page.links:
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", link, re.I), f"non-relative link {link}"
        if link.startswith("#"):
            continue
        target = index.parent / link.split("#")[0]
        assert target.is_file(), f"{link} does not exist"
        assert index.parent.resolve() in target.resolve().parents
    for url in re.findall(r"url\(([^)]*)\)", text):
        assert not re.search(r"https?:|//", url), url
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    return page.links


def sample_refs() -> list[data.ImageRef]:
    return data.list_images("sample", offline=True, progress=False)


def synthetic_rows(method: str, dataset: str, scale: int, images: list[str], psnr: list[float],
                   *, config: str = "-", recipe: str = "-", weights: str = "-",
                   protocol: str = PROTOCOL, seed: int | None = None,
                   status: list[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for i, (image, value) in enumerate(zip(images, psnr)):
        row = {
            "method": method, "config": config, "weights": weights, "recipe": recipe,
            "dataset": dataset, "scale": scale, "image": image, "psnr": value,
            "ssim": 0.8 + value / 1000.0, "ifc": 3.0 + value / 100.0, "seconds": 0.01,
            "status": (status or ["ok"] * len(images))[i], "device": "cpu",
            "dtype": "float32", "threads": 1, "protocol": protocol,
        }
        if seed is not None:
            row["seed"] = seed
        rows.append(row)
    return rows


def write_synthetic_run(results: Path, name: str, stamp: str, rows: list[dict[str, Any]],
                        **meta: Any) -> Path:
    run_dir = results / name
    run_dir.mkdir(parents=True)
    for row in rows:
        row.update(run_id=name, timestamp=stamp, version="test")
    write_run(run_dir, rows, {"run_id": name, "command": ["pytest", name],
                              "protocol": PROTOCOL, **meta})
    return run_dir


def config_of(method: str, **overrides: Any) -> str:
    """The ``config`` cell the harness writes for ``method`` with ``overrides``."""
    return config_text(resolve_config(method, **overrides))


def legacy_config_of(method: str, **overrides: Any) -> str:
    """The ``k=v,k=v`` cell rows had before JSON (committed results still hold it)."""
    return ",".join(f"{k}={v}" for k, v in sorted(resolve_config(method, **overrides).items()))


def make_synthetic_results(results: Path, weights: Path) -> dict[str, Any]:
    """Synthetic runs beside the real ones in ``results``; returns what the tests expect."""
    names = [ref.name for ref in sample_refs()]
    # An old run of bicubic on sample x3, superseded by the real run made before it in time.
    write_synthetic_run(results, "20000101T000000Z-run-old000", "2000-01-01T00:00:00+0000",
                        synthetic_rows("bicubic", "sample", 3, names, [99.0] * len(names)))
    # A reduced recipe (quick), with saved SR images; a hostile method; another protocol.
    quick = config_of("vdsr", channels=32)
    rows = synthetic_rows("vdsr", "sample", 3, names, [30.0 + i for i in range(len(names))],
                          config=quick, recipe="quick",
                          weights="weights/vdsr-quick-abc.safetensors")
    rows += synthetic_rows("vdsr", "set5", 3, ["a", "b"], [33.0, 34.0], config=quick,
                           recipe="quick")
    rows += synthetic_rows(HOSTILE, "sample", 3, names, [20.0] * len(names), config=HOSTILE,
                           recipe=HOSTILE)
    rows += synthetic_rows(HOSTILE, HOSTILE_DATASET, 3, ["x"], [21.0])
    rows += synthetic_rows("bicubic", "sample", 3, names, [50.0] * len(names),
                           protocol=OTHER_PROTOCOL)
    run = write_synthetic_run(results, "20990101T000000Z-run-synth1", "2099-01-01T00:00:00+0000",
                              rows, data_root="/nonexistent")
    gt = imaging.modcrop(sample_refs()[0].load(), 3)
    for method in ("vdsr", HOSTILE):
        folder = run / "images" / method / "sample" / "x3"
        folder.mkdir(parents=True)
        imaging.write_image(folder / f"{names[0]}.png", np.ascontiguousarray(gt[:, ::-1]))
    # Seeds: DRRN_NS B3U4 on Set5 x3, two seeds (per-seed means 33.5 and 34.0), one failure.
    # Seed 0 has the config cell of rows written before JSON: still the same variant.
    ns = config_of("drrn_ns")
    rows = synthetic_rows("drrn_ns", "set5", 3, ["a", "b", "c"], [33.0, 34.0, math.nan],
                          config=legacy_config_of("drrn_ns"), recipe="paper", seed=0,
                          status=["ok", "ok", "nonfinite"])
    rows += synthetic_rows("drrn_ns", "set5", 3, ["a", "b", "c"], [33.5, 34.5, 34.0],
                           config=ns, recipe="paper", seed=1)
    write_synthetic_run(results, "20990102T000000Z-run-seeds1", "2099-01-02T00:00:00+0000", rows)
    # A training log beside its (absent) checkpoint.
    weights.mkdir(parents=True, exist_ok=True)
    log = pd.DataFrame({"iteration": [50, 100, 150], "epoch": [0, 0, 1],
                        "loss": [0.02, 0.01, 0.008], "lr": [1e-3, 9e-4, 5e-4],
                        "grad_norm": [1.0, 0.5, 0.4], "val_psnr": [None, None, 30.5],
                        "patches_per_s": [100.0, 110.0, 105.0], "elapsed_s": [1, 2, 3]})
    log.to_csv(weights / "vdsr-quick-0123456789ab.csv", index=False)
    (weights / "not-a-log.csv").write_text("a,b\n1,2\n")
    return {"names": names, "quick": quick, "ns": ns}


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real bicubic run on ``sample`` x2/x3 plus the synthetic runs, and their report."""
    root = tmp_path_factory.mktemp("sample")
    results, weights = root / "results", root / "weights"
    code = main(["run", "--methods", "bicubic", "--datasets", "sample", "--scales", "2,3",
                 "--offline", "--results-dir", str(results), "--cache-dir", str(root / "cache"),
                 "--quiet", "--jobs", "1"])
    assert code == 0
    real = next(results.iterdir())
    expected = make_synthetic_results(results, weights)
    index = build_report(results, root / "report", weights_dirs=[weights])
    return {"root": root, "results": results, "real": real, "index": index, **expected}


# --------------------------------------------------------------------------------- tests
def test_tables_equal_the_result_tables(sample_report: dict[str, Any]) -> None:
    index = sample_report["index"]
    summary = pd.read_csv(sample_report["real"] / "summary.csv")
    table = pd.read_csv(index.parent / "tables" / "results.csv")
    table2 = pd.read_csv(index.parent / "tables" / "table2.csv")
    cells = table2_cells(index, "Bicubic")
    for row in summary.itertuples(index=False):
        mine = table[(table["method"] == "bicubic") & (table["dataset"] == row.dataset)
                     & (table["scale"] == row.scale)]
        assert len(mine) == 1
        for column in ("psnr", "ssim", "ifc"):
            assert mine[column].iloc[0] == pytest.approx(getattr(row, column), rel=1e-9)
        assert mine["n_images"].iloc[0] == row.n_images
        t2 = table2[(table2["method"] == "bicubic") & (table2["dataset"] == row.dataset)
                    & (table2["scale"] == row.scale)]
        assert t2["psnr"].iloc[0] == pytest.approx(row.psnr, rel=1e-9)
        assert math.isnan(t2["paper_psnr"].iloc[0])  # the sample set is not in the paper
        cell = cells[(row.dataset, str(row.scale))]
        assert float(cell["data-psnr"]) == pytest.approx(row.psnr, rel=1e-9)
        assert float(cell["data-ssim"]) == pytest.approx(row.ssim, rel=1e-9)
    # Missing values are written n/a in the CSV and shown n/a on the page.
    assert "n/a" in (index.parent / "tables" / "table2.csv").read_text()
    assert "ours n/a" in index.read_text() and "paper n/a" in index.read_text()


def test_links_are_local_and_exist(sample_report: dict[str, Any]) -> None:
    index = sample_report["index"]
    links = check_links(index)
    folder = index.parent
    for stem in ("figure1", "figure6", "figure8", "figure9"):
        assert f"figures/{stem}.png" in links and f"figures/{stem}.svg" in links
    for stem in ("table2", "table3", "table4", "results"):
        assert f"tables/{stem}.csv" in links and f"tables/{stem}.tex" in links
        tex = (folder / "tables" / f"{stem}.tex").read_text()
        assert r"\toprule" in tex and r"\bottomrule" in tex and r"\midrule" in tex
    assert (folder / "tables" / f"table2-{OTHER_PROTOCOL}.csv").is_file()
    # No stylesheet, script or font is fetched from elsewhere.
    text = index.read_text()
    assert "<link" not in text and "@import" not in text and "<script src" not in text


def test_hostile_names_are_escaped_and_sanitised(sample_report: dict[str, Any]) -> None:
    index = sample_report["index"]
    text = index.read_text()
    assert HOSTILE not in text and HOSTILE_DATASET not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert parse_page(index).scripts == 1  # the report's own inline script only
    for path in index.parent.rglob("*"):
        assert re.fullmatch(r"[A-Za-z0-9._-]+", path.name), path
    # The hostile method saved an SR image: its crop is there under a sanitised name.
    crops = list((index.parent / "browser").rglob(f"m-{slug(HOSTILE, 24)}-*.png"))
    assert len(crops) == 1
    tex = (index.parent / "tables" / "results.tex").read_text()
    assert HOSTILE not in tex and r"\textless{}script\textgreater{}" in tex


def test_newest_run_wins_and_protocols_are_not_mixed(sample_report: dict[str, Any]) -> None:
    folder = sample_report["index"].parent
    summary = pd.read_csv(sample_report["real"] / "summary.csv")
    table = pd.read_csv(folder / "tables" / "results.csv")
    bicubic = table[(table["method"] == "bicubic") & (table["dataset"] == "sample")]
    x3 = summary[summary["scale"] == 3]["psnr"].iloc[0]
    # The old run's 99 dB is superseded by the real run; the other protocol's 50 dB is apart.
    assert bicubic[bicubic["scale"] == 3]["psnr"].iloc[0] == pytest.approx(x3, rel=1e-9)
    other = pd.read_csv(folder / "tables" / f"results-{OTHER_PROTOCOL}.csv")
    assert set(other["method"]) == {"bicubic"} and other["psnr"].iloc[0] == 50.0
    text = sample_report["index"].read_text()
    assert "20000101T000000Z-run-old000" in text and "superseded" in text
    assert f"Protocol {OTHER_PROTOCOL}" in text


def test_reduced_recipe_marked_and_seeds_averaged(sample_report: dict[str, Any]) -> None:
    folder = sample_report["index"].parent
    table2 = pd.read_csv(folder / "tables" / "table2.csv")
    quick = table2[(table2["method"] == "vdsr") & (table2["dataset"] == "set5")
                   & (table2["scale"] == 3)]
    assert quick["recipe"].iloc[0] == "quick" and not quick["comparable"].iloc[0]
    assert quick["paper_psnr"].iloc[0] == 33.66  # the paper's cell, shown all the same
    assert quick["psnr"].iloc[0] == pytest.approx(33.5)
    text = sample_report["index"].read_text()
    assert "not comparable" in text and "VDSR [channels=32] (quick)" in text
    table4 = pd.read_csv(folder / "tables" / "table4.csv")
    ns = table4[table4["model"] == "DRRN_NS"].iloc[0]
    assert ns["paper_psnr"] == 33.97
    assert ns["psnr"] == pytest.approx((33.5 + 34.0) / 2)  # per-seed means, then over seeds
    assert ns["n_seeds"] == 2
    assert ns["psnr_std"] == pytest.approx(np.std([33.5, 34.0], ddof=1))
    others = table4[table4["model"] != "DRRN_NS"]
    assert others["psnr"].isna().all()  # never invented
    assert list(others["paper_psnr"]) == [33.92, 33.95, 33.99]


def test_image_browser_and_training_curves(sample_report: dict[str, Any]) -> None:
    folder = sample_report["index"].parent
    first = sample_report["names"][0]
    crops = folder / "browser" / "sample-x3" / first
    names = sorted(p.name for p in crops.iterdir())
    assert {"gt.png", "bicubic.png", "thumb.png"} <= set(names)
    assert any(n.startswith("m-vdsr-") for n in names)
    for name in sample_report["names"]:
        assert (folder / "browser" / "sample-x3" / name / "gt.png").is_file()
    gt = imaging.read_image(crops / "gt.png")
    assert gt.shape == (80, 80, 3)
    text = sample_report["index"].read_text()
    assert "training/vdsr-quick-0123456789ab.png" in text
    assert (folder / "training" / "vdsr-quick-0123456789ab.png").is_file()
    assert "not-a-log" not in text


def test_refresh_report(tmp_path: Path, sample_report: dict[str, Any]) -> None:
    assert refresh_report(tmp_path / "missing") is None
    (tmp_path / "empty").mkdir()
    assert refresh_report(tmp_path / "empty") is None
    assert not (tmp_path / "reports").exists()
    # A folder that is not a report is never replaced.
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "keep.txt").write_text("mine")
    run = tmp_path / "empty" / sample_report["real"].name
    run.mkdir()
    (run / "per_image.csv").write_bytes((sample_report["real"] / "per_image.csv").read_bytes())
    assert refresh_report(tmp_path / "empty") is None
    assert (tmp_path / "reports" / "keep.txt").read_text() == "mine"
    # The repository's reports/ holds only its README.md: built into, and the README kept.
    (tmp_path / "reports" / "keep.txt").unlink()
    (tmp_path / "reports" / "README.md").write_text("about reports")
    for _ in range(2):  # the first build and a rebuild
        assert refresh_report(tmp_path / "empty") == (tmp_path / "reports" / "index.html").resolve()
        assert (tmp_path / "reports" / "README.md").read_text() == "about reports"


@pytest.fixture(scope="module")
def set5_results(tmp_path_factory: pytest.TempPathFactory, datasets_root: Path) -> Path:
    root = tmp_path_factory.mktemp("set5")
    code = main(["run", "--methods", "bicubic", "--datasets", "set5", "--scales", "2,3",
                 "--data-root", str(datasets_root), "--results-dir", str(root / "results"),
                 "--cache-dir", str(root / "cache"), "--quiet", "--jobs", "1"])
    assert code == 0
    return root / "results"


def test_cli_report_on_a_real_set5_run(set5_results: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", "--results-dir", str(set5_results), "--out", str(out)]) == 0
    index = out / "index.html"
    check_links(index)
    summary = pd.read_csv(next(set5_results.iterdir()) / "summary.csv")
    table2 = pd.read_csv(out / "tables" / "table2.csv")
    cells = table2_cells(index, "Bicubic")
    for row in summary.itertuples(index=False):
        mine = table2[(table2["method"] == "bicubic") & (table2["dataset"] == row.dataset)
                      & (table2["scale"] == row.scale)].iloc[0]
        assert mine["psnr"] == pytest.approx(row.psnr, rel=1e-9)
        assert mine["paper_psnr"] == pytest.approx(row.paper_psnr)
        # the CSVs hold 10 significant digits: the difference agrees to ~1e-8 dB
        assert mine["diff_psnr"] == pytest.approx(row.diff_psnr, abs=1e-7)
        assert float(cells[("Set5", str(row.scale))]["data-psnr"]) == pytest.approx(
            row.psnr, rel=1e-9)
    # The browser shows Set5 at x3, GT and bicubic crops of every image, with per-image PSNR.
    per_image = pd.read_csv(next(set5_results.iterdir()) / "per_image.csv")
    text = index.read_text()
    for row in per_image[per_image["scale"] == 3].itertuples(index=False):
        assert (out / "browser" / "set5-x3" / row.image / "bicubic.png").is_file()
        assert f"PSNR {row.psnr:.2f} dB" in text
    # A second build replaces the report; an unrelated folder is refused.
    assert main(["report", "--results-dir", str(set5_results), "--out", str(out)]) == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    assert main(["report", "--results-dir", str(set5_results), "--out",
                 str(tmp_path / "other")]) == 2


# ------------------------------------------------------- sewar metrics and self-ensembles
def _with(rows: list[dict[str, Any]], **columns: list[Any]) -> list[dict[str, Any]]:
    """``rows`` with extra per-row columns (``ensemble``, ``msssim``, ...)."""
    for i, row in enumerate(rows):
        row.update({name: values[i] for name, values in columns.items()})
    return rows


@pytest.fixture(scope="module")
def ensemble_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One synthetic run of VDSR plain and x8 on BSD100 x2 with an msssim column, and its
    report (BSD100 is not browsed: no ground truth is read)."""
    root = tmp_path_factory.mktemp("ensemble")
    vdsr = config_of("vdsr")
    rows = _with(synthetic_rows("vdsr", "bsd100", 2, ["a", "b"], [30.0, 31.0], config=vdsr,
                                recipe="published"), ensemble=["", ""], msssim=[0.95, 0.96])
    rows += _with(synthetic_rows("vdsr", "bsd100", 2, ["a", "b"], [30.2, 31.2], config=vdsr,
                                 recipe="published"), ensemble=["x8", "x8"],
                  msssim=[0.951, 0.961])
    run = write_synthetic_run(root / "results", "20990103T000000Z-run-ens001",
                              "2099-01-03T00:00:00+0000", rows)
    index = build_report(root / "results", root / "report", weights_dirs=[])
    return {"run": run, "index": index, "tables": index.parent / "tables"}


def test_sewar_metric_is_a_labelled_column(ensemble_report: dict[str, Any]) -> None:
    from importlib.metadata import version

    from benchmark import extmetrics

    label = f"sewar {version('sewar')}, not part of the MATLAB protocol"
    assert extmetrics.LABEL == label
    table = pd.read_csv(ensemble_report["tables"] / "results.csv").set_index("method")
    assert table.loc["vdsr", "msssim"] == pytest.approx(0.955)
    assert table.loc["vdsr+", "msssim"] == pytest.approx(0.956)
    text = ensemble_report["index"].read_text()
    header = re.search(r'<th class="num ext" title="([^"]*)">msssim<sup>', text)
    assert header and label in header.group(1)  # the tooltip ...
    assert re.search(r'<p class="note footnote">&dagger; msssim \(' + re.escape(label), text)
    assert label in (ensemble_report["tables"] / "results.tex").read_text()  # ... and a footnote
    meta = json.loads((ensemble_report["run"] / "run.json").read_text())
    assert meta["metric_labels"] == {"msssim": extmetrics.label("msssim")}
    printed = format_summary(pd.read_csv(ensemble_report["run"] / "summary.csv"))
    line = next(l for l in printed.splitlines() if l.startswith("msssim ("))
    assert label in line and "vdsr+ bsd100 x2 0.9560" in line and "vdsr bsd100 x2 0.9550" in line


def test_no_sewar_label_without_sewar_metrics(sample_report: dict[str, Any]) -> None:
    text = sample_report["index"].read_text()
    assert "not part of the MATLAB protocol" not in text and 'class="num ext"' not in text


def test_self_ensemble_costs_eight_times_and_stays_apart(ensemble_report: dict[str, Any]) -> None:
    from benchmark.modelinfo import cost_table

    plain_macs = cost_table("vdsr")["macs_per_pixel"]
    compute = pd.read_csv(ensemble_report["tables"] / "compute.csv",
                          keep_default_na=False).set_index("method")
    assert int(compute.loc["vdsr", "macs_per_pixel"]) == plain_macs == 664_704
    x8 = compute.loc["vdsr+"]
    assert int(x8["macs_per_pixel"]) == 8 * int(compute.loc["vdsr", "macs_per_pixel"])
    assert (x8["model"], x8["ensemble"], x8["note"]) == ("vdsr", "x8", "x8 self-ensemble")
    assert x8["params"] == compute.loc["vdsr", "params"]
    assert float(x8["gflops_1280x720"]) == pytest.approx(8 * float(
        compute.loc["vdsr", "gflops_1280x720"]))
    text = ensemble_report["index"].read_text()
    assert f"{8 * plain_macs:,} = 8 x {plain_macs:,} (x8 self-ensemble)" in text
    # Never mixed: own rows in every table, and no paper value beside the ensemble.
    table2 = pd.read_csv(ensemble_report["tables"] / "table2.csv")
    cell = table2[(table2["dataset"] == "bsd100") & (table2["scale"] == 2)].set_index("method")
    assert cell.loc["vdsr", "psnr"] == pytest.approx(30.5)
    assert cell.loc["vdsr+", "psnr"] == pytest.approx(30.7)
    assert cell.loc["vdsr", "paper_psnr"] == 31.90 and math.isnan(cell.loc["vdsr+", "paper_psnr"])
    assert cell.loc["vdsr+", "label"] == "VDSR+"


# ------------------------------------------------------------------------ plugin methods
def test_plugin_method_appears_with_its_own_label(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A method registered by a user gets a Table 2 column under its label (its own, else its
    name title-cased), like a built-in one."""
    registry.load_plugins()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_method("report_plugin_net", family="report_plugin", trainable=False,
                              label="My Net 1x1")
    @registry.register_method("report_plugin_plain", family="report_plugin", trainable=False)
    def plugin() -> torch.nn.Module:
        return torch.nn.Identity()

    rows = synthetic_rows("report_plugin_net", "bsd100", 2, ["a", "b"], [30.0, 31.0],
                          config=config_text({}))
    rows += synthetic_rows("report_plugin_plain", "bsd100", 2, ["a", "b"], [29.0, 30.0])
    write_synthetic_run(tmp_path / "results", "20990104T000000Z-run-plug01",
                        "2099-01-04T00:00:00+0000", rows)
    index = build_report(tmp_path / "results", tmp_path / "report", weights_dirs=[])
    table2 = pd.read_csv(index.parent / "tables" / "table2.csv")
    labels = dict(zip(table2["method"], table2["label"]))
    assert labels["report_plugin_net"] == "My Net 1x1"
    assert labels["report_plugin_plain"] == "Report Plugin Plain"
    assert float(table2_cells(index, "My Net 1x1")[("BSD100", "2")]["data-psnr"]) == 30.5
