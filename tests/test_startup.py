"""Start-up is fast: `--help` and argument errors import none of the heavy libraries; every
command takes --quiet; progress bars are drawn on a terminal only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import progress
from benchmark.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
#: Seconds to import each, at least (torch and cv2 the most); none is needed to parse options.
HEAVY = ("torch", "pandas", "scipy", "cv2", "matplotlib", "skimage", "sewar", "joblib", "tqdm")
#: Runs ``python -m benchmark ARGV...`` in-process and prints the heavy modules it loaded.
PROBE = f"""
import json, runpy, sys
sys.argv = ["benchmark", *sys.argv[1:]]
try:
    runpy.run_module("benchmark", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.__stderr__)
"""


def _heavy_modules(*argv: str) -> list[str]:
    # This checkout first, as the cwd is for ``python -m benchmark``.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["run", "--help"], ["train", "--help"], ["datasets", "--help"],
    ["run", "--no-such-option"], ["frobnicate"], ["score", "--sr", "x"], ["bench", "--help"],
], ids=lambda a: " ".join(a))
def test_help_and_argument_errors_import_nothing_heavy(argv: list[str]) -> None:
    assert _heavy_modules(*argv) == []


def test_every_command_takes_quiet() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]  # argparse has no public API
    for name, command in sub.choices.items():
        assert "--quiet" in command.format_help(), name


def test_progress_bars_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert progress.progress_bar(range(2)).disable
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert not progress.progress_bar(range(2)).disable
    assert progress.progress_bar(range(2), show=False).disable
