"""Where srbench keeps things, which depends on whether it runs from its own source checkout.

From a checkout, the datasets folder and trained checkpoints live in the checkout
(``datasets/``, ``weights/``) and results carry its git commit. An installed package has no
such folder: it must never write into ``site-packages``, and must never take the commit of
whatever repository the working directory or the virtual environment happens to sit in.

- cache: ``$SRBENCH_CACHE``, else ``~/.cache/srbench`` (either way);
- data root: ``<checkout>/datasets``, else ``./datasets`` of the working directory;
- trained checkpoints: ``<checkout>/weights``, else ``<cache>/trained``;
- the ``version`` of results: ``<version>+<git sha>`` from a git checkout, else ``<version>``.

(``--data-root`` / ``$SRBENCH_DATA`` and ``--weights-dir`` override the defaults.)
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

_NAME = re.compile(r'^name\s*=\s*["\']srbench["\']\s*$', re.MULTILINE)


@functools.cache
def source_root() -> Path | None:
    """The source tree this package was imported from, or None for an installed package.

    A source tree is the folder above ``benchmark/`` when it holds srbench's own
    ``pyproject.toml`` (a wheel installs no pyproject, so ``site-packages`` never qualifies).
    """
    root = Path(__file__).resolve().parent.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if _NAME.search(text) else None


def git_commit() -> str | None:
    """``<sha12>`` (``<sha12>.dirty`` with uncommitted changes to tracked files) of the source
    tree when it is the top level of a git repository, else None.

    The top-level check keeps out a foreign repository that merely contains the source tree.
    """
    root = source_root()
    if root is None:
        return None
    try:
        top, sha = _git(root, "rev-parse", "--show-toplevel", "--short=12", "HEAD").splitlines()
        if Path(top).resolve() != root:
            return None
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no").strip()
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return f"{sha}.dirty" if dirty else sha


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          timeout=5, check=True).stdout


def cache_dir() -> Path:
    """``$SRBENCH_CACHE``, else ``~/.cache/srbench``: caches, downloads, installed checkpoints."""
    env = os.environ.get("SRBENCH_CACHE", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "srbench"


def default_data_root() -> Path:
    """``<checkout>/datasets`` from a checkout, else ``./datasets`` (of the working directory)."""
    root = source_root()
    return root / "datasets" if root is not None else Path.cwd() / "datasets"


def default_weights_dir() -> Path:
    """Trained checkpoints: ``<checkout>/weights`` from a checkout, else ``<cache>/trained``."""
    root = source_root()
    return root / "weights" if root is not None else cache_dir() / "trained"
