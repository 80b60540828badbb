"""Progress bars for long stages. Off unless the command line turns them on (tests and library calls
stay silent); stages only ever call `stage_progress(...)` and the returned `advance(n)`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

_console_progress = None  # a rich.progress.Progress while the CLI shows bars

# What a stage's bar says until its first item is done when that item compiles numba's kernels (a
# first run, or the first after an upgrade): minutes with the bar at 0 that would otherwise look hung.
COMPILING_NOTE = "compiling kernels (first run only)"


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[None]:
    global _console_progress
    if not enabled:
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    ) as progress:
        _console_progress = progress
        try:
            yield
        finally:
            _console_progress = None


def stage_label(description: str, compiling: bool) -> str:
    """The bar's text: the stage, and while its first item compiles kernels, that it does."""
    return f"{description}: {COMPILING_NOTE}" if compiling else description


@contextlib.contextmanager
def stage_progress(description: str, total: int, *, compiling: bool = False) -> Iterator[Callable[[int], None]]:
    """advance(n) moves the bar of this stage by n items; a no-op without bars.

    compiling=True (the stage's first item will compile numba code: kernels.cache.needs_compiling)
    shows COMPILING_NOTE next to the stage's name until the first advance."""
    progress = _console_progress
    if progress is None:
        yield lambda n: None
        return
    task = progress.add_task(stage_label(description, compiling), total=total)
    lock = threading.Lock()
    pending_note = [compiling]

    def advance(n: int) -> None:
        with lock:
            if pending_note[0]:
                pending_note[0] = False
                progress.update(task, description=description)
        progress.advance(task, n)

    try:
        yield advance
    finally:
        if pending_note[0]:
            progress.update(task, description=description)
        progress.update(task, completed=total)
