"""Progress bars for long stages. Off unless the command line turns them on (tests and library calls
stay silent); stages only ever call `stage_progress(...)` and the returned `advance(n)`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

_console_progress = None  # a rich.progress.Progress while the CLI shows bars


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


@contextlib.contextmanager
def stage_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """advance(n) moves the bar of this stage by n items; a no-op without bars."""
    progress = _console_progress
    if progress is None:
        yield lambda n: None
        return
    task = progress.add_task(description, total=total)
    try:
        yield lambda n: progress.advance(task, n)
    finally:
        progress.update(task, completed=total)
