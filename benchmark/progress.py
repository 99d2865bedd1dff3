"""Progress bars: shown on a terminal only, never in a log file, a pipe or CI output."""

from __future__ import annotations

import sys
from typing import Any, Iterable


def progress_bar(iterable: Iterable[Any] | None = None, *, show: bool = True,
                 **options: Any) -> Any:
    """A ``tqdm`` bar over ``iterable`` (``tqdm(iterable, **options)``), disabled unless
    ``show`` (a command's ``--quiet`` turns it off) and standard error is a terminal.

    tqdm draws on standard error; redrawn bars would fill a redirected stream with lines.
    """
    from tqdm import tqdm  # a tenth of a second; only commands with bars pay it

    return tqdm(iterable, disable=not (show and sys.stderr.isatty()), **options)
