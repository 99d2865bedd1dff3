"""The report in a real browser: headless Chromium loads it from file:// with the network off.

The page's own inline script records images that failed to load (``naturalWidth == 0``) in
``<body data-broken-images=N data-images-checked=M>``; ``--dump-dom`` returns the DOM after
the load event, and Chromium's log (``--enable-logging=stderr``) carries every console
message as a ``CONSOLE`` line. Needs ``/usr/bin/chromium`` (Debian package ``chromium``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.report import build_report

CHROMIUM = Path("/usr/bin/chromium")


def chromium() -> str:
    if CHROMIUM.is_file():
        return str(CHROMIUM)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("headless Chromium is not installed (/usr/bin/chromium; Debian: "
                    "apt-get install -y --no-install-recommends chromium)")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bicubic run on ``sample`` plus the synthetic runs of ``test_report``."""
    from test_report import make_synthetic_results  # tests/ is on sys.path under pytest

    root = tmp_path_factory.mktemp("browser")
    results, weights = root / "results", root / "weights"
    assert main(["run", "--methods", "bicubic", "--datasets", "sample", "--scales", "3",
                 "--offline", "--results-dir", str(results), "--cache-dir", str(root / "cache"),
                 "--quiet", "--jobs", "1"]) == 0
    make_synthetic_results(results, weights)
    return build_report(results, root / "report", weights_dirs=[weights])


def load(binary: str, index: Path, profile: Path) -> tuple[str, str]:
    """The DOM after load and Chromium's log, with every host name unresolvable (no network)."""
    command = [
        binary, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
        "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr",
        "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000",
        "--window-size=1400,2400", "--dump-dom", index.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def test_report_loads_in_chromium_without_errors(report: Path, tmp_path: Path) -> None:
    binary = chromium()
    dom, log = load(binary, report, tmp_path / "profile")
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    n_images = len(re.findall(r"<img\b", report.read_text(encoding="utf-8")))
    assert n_images > 20
    assert attrs.get("data-images-checked") == str(n_images), "the page's check did not run"
    assert attrs.get("data-broken-images") == "0", attrs.get("data-broken-list")
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    assert not console, "\n".join(console)
    assert "Uncaught" not in log
    # The hostile method name is shown as text, never run: no alert, no injected element.
    assert "<script>alert" not in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
