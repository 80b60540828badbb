"""One entry point for every structural change statistic: `change(code, ...)` routes a kernel code to
its kernel, so the MPLE design builder, summary statistics and the MCMC sampler (kernels/sampler.py)
call kernels the same way and numba can cache everything (jitted functions passed as arguments defeat numba's cache).

Codes and the if/elif chains over them are generated from the kernel registry (kernels/registry.py)
into kernels/_generated.py, rewritten here on import whenever the registry has changed. Adding a term:
write its kernel with an @kernel registration in a family module, and register the term (arguments,
coefficient names) in tergm/terms.py.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

import numpy as np
from numba import njit, prange

from dyadflow.kernels import registry
from dyadflow.kernels.cache import stamp_with_kernel_sources

_GENERATED = Path(__file__).with_name("_generated.py")


def _write_generated_dispatch() -> None:
    """Keep kernels/_generated.py equal to what the registry generates (atomic replace, so several
    processes importing at once never read a half-written file)."""
    source = registry.dispatch_source()
    try:
        if _GENERATED.read_text(encoding="utf-8") == source:
            return
    except FileNotFoundError:
        pass
    try:
        handle, temporary = tempfile.mkstemp(dir=_GENERATED.parent, prefix="._generated.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(source)
        os.replace(temporary, _GENERATED)
    except OSError as error:
        raise ImportError(
            f"{_GENERATED} is out of date with the kernel registry and cannot be rewritten ({error}); "
            "reinstall dyadflow, or import it once from a writable checkout"
        ) from error


_write_generated_dispatch()
_generated = importlib.import_module("dyadflow.kernels._generated")
# change(code, net, i, j, par, out, col): add stat(y with i->j) - stat(y without i->j) of kernel `code`
# (parameters `par`, float64) into out[col:...], the rest of y as in `net`, whether or not i->j is
# present -- ergm's change statistic, for the MPLE design, summary statistics and an MCMC sampler.
change = _generated.change
CODES: dict[str, int] = dict(_generated.CODES)
_tail_rows_of_code = _generated.tail_rows


@njit(cache=True)
def _tail_rows(codes, par_offsets, params, col_offsets, net, i, out):
    """Rows of every dyad with tail i: heads j != i (directed) or j > i (undirected), ascending."""
    n = net.adj.shape[0]
    if net.directed:
        r = i * (n - 1)
        first = 0
    else:
        r = i * n - i * (i + 1) // 2
        first = i + 1
    rows = out[r : r + n - first - (1 if first <= i else 0)]
    # Terms write disjoint columns, so they fill the rows one term at a time: one call per tail and
    # term (a per-tail pass where the kernel registers one, else its per-dyad kernel in a loop).
    for t in range(codes.shape[0]):
        _tail_rows_of_code(codes[t], net, i, params[par_offsets[t] : par_offsets[t + 1]], rows, col_offsets[t])


@njit(parallel=True, cache=True)
def dyad_change_matrix(codes, par_offsets, params, col_offsets, net):
    """Change statistics of several terms for every dyad of `net`, one row per dyad.

    Rows are in ergm's order: tail-major over i != j (directed) or i < j (undirected).
    Term t has code codes[t], parameters params[par_offsets[t]:par_offsets[t+1]] and writes
    columns col_offsets[t]:col_offsets[t+1].
    """
    n = net.adj.shape[0]
    m = n * (n - 1) if net.directed else n * (n - 1) // 2
    out = np.zeros((m, col_offsets[-1]))
    if net.directed:
        for i in prange(n):
            _tail_rows(codes, par_offsets, params, col_offsets, net, i, out)
    else:
        # Tail i has n - 1 - i rows: pairing tails i and n - 1 - i gives every parallel task n - 1
        # rows, so numba's static split of the tasks over threads stays balanced.
        for task in prange((n + 1) // 2):
            _tail_rows(codes, par_offsets, params, col_offsets, net, task, out)
            if n - 1 - task != task:
                _tail_rows(codes, par_offsets, params, col_offsets, net, n - 1 - task, out)
    return out


# All of these compile the kernels of every family into themselves: their disk cache must follow those files.
stamp_with_kernel_sources(change, _tail_rows_of_code, _tail_rows, dyad_change_matrix)


def dyad_index(n: int, directed: bool) -> np.ndarray:
    """(m, 2) tail/head indices of the rows `dyad_change_matrix` returns."""
    tails, heads = np.nonzero(~np.eye(n, dtype=bool)) if directed else np.triu_indices(n, 1)
    return np.column_stack([tails, heads]).astype(np.int64)
