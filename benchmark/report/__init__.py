"""The HTML report: the paper's tables and figures rebuilt from every result table present.

``build_report(results_dir, out_dir)`` reads every run folder's ``per_image.csv`` (and
``run.json``) under ``results_dir`` and writes a self-contained folder (works from
``file://``, no network, relative links only):

``index.html``        overview, Tables 2-4, all results (with any sewar metrics, labelled),
                      compute accounting, Figures 1/6/8/9, image browser, training curves,
                      run metadata
``tables/``           every table as CSV (missing values written ``n/a``) and LaTeX (booktabs)
``figures/``          Figures 1, 6, 8, 9 as PNG and SVG
``browser/``          GT / bicubic / method crops (PNG) and GT thumbnails
``training/``         training curves (PNG) of the trainer's logs ``<weights>/<stem>.csv``

Selection rules (also stated in the report):

- rows of different protocols are never mixed: every table is built per protocol, the
  default protocol (``drrn-matlab-v1``) first; figures and the image browser use it only;
- when several runs hold rows of the same (protocol, method, config, weights, recipe, seed,
  dataset, scale), only the newest run's rows are used (newest = latest ``timestamp``, then
  run folder name);
- dataset figures are means of per-image values over rows with status ``ok``; with a
  ``seed`` column the mean is taken per seed, then averaged over seeds (std shown);
- paper values come from the method registry (``MethodSpec.published``) when the row's
  model config is the registered one (the width cap of a reduced recipe aside), and from
  the paper's figure values listed in ``docs/methods.md`` (the ``*_PAPER`` constants below)
  in the figures; a missing value is ``n/a``, never invented;
- a recipe other than the paper's (``quick``, ``fast``, ...) is marked "not comparable".

``refresh_report(results_dir)`` is the never-raising variant meant for the end of ``run``:
it builds into :func:`default_out_dir` (``<results_dir>/../reports``) and returns the path of
``index.html``, or ``None`` when there is nothing to report or the build failed.

The package, one concept per module:

``text``      slugs and number formatting
``variants``  a (method, config, weights, recipe): label, comparability, paper values
``load``      run folders into frames: newest-run selection, summaries, training logs
``tables``    Tables 2-4, all results, compute (CSV and LaTeX)
``figures``   Figures 1, 6, 8, 9 and the training curves (plots: :mod:`benchmark.figures`)
``browser``   the image browser
``build``     the report folder, the template, ``serve`` and ``open_in_browser``
"""

from __future__ import annotations

from benchmark.report.text import (
    DATASET_DISPLAY, exact, fmt, fmt_count, slug,
)
from benchmark.report.variants import (
    COMPARABLE_RECIPES, describe_variant, ENSEMBLE_SUFFIX, is_comparable, paper_cell,
    VARIANT, Variant,
)
from benchmark.report.load import (
    find_training_logs, load_results, Results, RunInfo, SELECT_KEY, select_newest,
    summarize_variants,
)
from benchmark.report.tables import (
    all_results, compute_table, COST_COLUMNS, extended_in, extended_note, STANDARD_SETS,
    Table, table2, TABLE2_ROWS, table3, TABLE3_ROWS, table4, to_latex,
)
from benchmark.report.figures import (
    make_figures, MAX_TRAINING_LOGS, training_section,
)
from benchmark.report.browser import (
    BROWSE_DATASETS, BROWSE_SCALE, CROP, image_browser, THUMB_WIDTH,
)
from benchmark.report.build import (
    build_report, default_out_dir, default_weights_dirs, KEPT_FILES, MARKER,
    open_in_browser, refresh_report, ReportError, serve,
)

__all__ = [
    # the module's API
    "ReportError",
    "build_report",
    "default_out_dir",
    "load_results",
    "refresh_report",
    "select_newest",
    "serve",
    "slug",
    "summarize_variants",
    # the rest of what benchmark/report.py defined, for code that used it
    "all_results", "BROWSE_DATASETS", "BROWSE_SCALE", "COMPARABLE_RECIPES", "compute_table",
    "COST_COLUMNS", "CROP", "DATASET_DISPLAY", "default_weights_dirs", "describe_variant",
    "ENSEMBLE_SUFFIX", "exact", "extended_in", "extended_note", "find_training_logs", "fmt",
    "fmt_count", "image_browser", "is_comparable", "KEPT_FILES", "make_figures", "MARKER",
    "MAX_TRAINING_LOGS", "open_in_browser", "paper_cell", "Results", "RunInfo",
    "SELECT_KEY", "STANDARD_SETS", "Table", "table2", "TABLE2_ROWS", "table3",
    "TABLE3_ROWS", "table4", "THUMB_WIDTH", "to_latex", "training_section", "VARIANT",
    "Variant",
]
