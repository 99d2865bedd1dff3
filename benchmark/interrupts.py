"""Ctrl-C held over the steps that must not be split: a set of result files, a training step.

A KeyboardInterrupt between two writes of one set (``per_image.csv`` renamed, ``summary.csv``
not yet) leaves a run folder that no reader can trust; one between ``optimizer.step()`` and
the iteration count saves a state that resumes one step off. :func:`held` takes the press
for the length of such a step and hands it on when the step is over.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator


@contextmanager
def held() -> Iterator[Callable[[], bool]]:
    """Hold SIGINT for the block; a press is delivered again when the block ends normally.

    Yields "has it been pressed?", for a block (the training loop) that stops at a point of
    its own choosing. On a normal exit a press is re-raised to the handler that was in place
    before (Python's: KeyboardInterrupt; an ignored SIGINT stays ignored); when the block
    itself raises, that exception goes on and the press is dropped (it is the same stop).
    Outside the main thread signals cannot be caught: the block runs unguarded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    presses: list[int] = []

    def record(signum: int, frame: Any) -> None:
        presses.append(signum)

    previous = signal.signal(signal.SIGINT, record)
    if previous is None:  # a handler set outside Python (an embedding host): Python's own
        previous = signal.default_int_handler
    try:
        yield lambda: bool(presses)
    finally:
        signal.signal(signal.SIGINT, previous)
    if presses:
        signal.raise_signal(signal.SIGINT)
