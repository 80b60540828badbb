"""A first run's background compile: `python -m dyadflow.tergm.warmup` (see tergm/warmup.py) runs
beside the command while its driver starts Prefect and builds the change statistics, so that the
kernels of the later stages compile on the other core; the fit stage waits for it (its progress bar
says "compiling kernels (first run only)") and every later stage loads them from numba's cache.

It starts only when a kernel it compiles is not in the cache yet, and is stopped when the command
ends, however it ends (flows.serve.start_child: SIGTERM when the driver dies). With [gof], it compiles the fast chain (kernels/sampler_fast.py: edges,
mutual, triangle, gwesp, gwdegree, gwidegree, gwodegree and any covariate terms); a model that needs
the generic chain compiles it in the gof stage, as without the warm-up.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

_running: subprocess.Popen | None = None


def _needed(gof: bool) -> bool:
    from dyadflow.kernels.cache import needs_compiling
    from dyadflow.kernels.sampler_fast import run_fast_chain
    from dyadflow.tergm.estimate import fit_needs_compiling
    from dyadflow.tergm.gof import _draw_counts

    return fit_needs_compiling() or (gof and needs_compiling(run_fast_chain, _draw_counts))


def _command(gof: bool) -> list[str]:
    return [sys.executable, "-m", "dyadflow.tergm.warmup", *(["--chain", "fast"] if gof else [])]


@contextlib.contextmanager
def kernel_warmup(gof: bool) -> Iterator[None]:
    """Run the warm-up process for the duration of the block when something needs compiling."""
    global _running
    if not _needed(gof):
        yield
        return
    from dyadflow.flows.serve import start_child, stop_child

    # Its output would interleave with the progress bars; a failure only means the stages compile.
    # As a Prefect server, it dies with this process, even when that is killed.
    quiet = subprocess.DEVNULL
    process = start_child(_command(gof), stdin=quiet, stdout=quiet, stderr=quiet)
    _running = process
    try:
        yield
    finally:
        _running = None
        stop_child(process, timeout=10.0)


def warmup_running() -> bool:
    return _running is not None and _running.poll() is None


def wait_for_warmup() -> None:
    """Block until the warm-up (if one is running) has finished compiling."""
    if _running is not None:
        _running.wait()
