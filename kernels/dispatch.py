"""Entry points for every structural change statistic, by kernel code: `change(code, ...)` routes a code
to its per-dyad kernel (summary statistics and the MCMC sampler, kernels/sampler.py, call kernels
this way); `dyad_change_matrix` fills the MPLE design with each code's own parallel driver, which
runs the kernel's per-tail pass or its per-dyad kernel. Routing is by integer code, fixed at compile
time, so numba can cache everything (jitted functions passed as arguments defeat numba's cache).

Codes, the `change` chain and the per-code drivers are generated from the kernel registry
(kernels/registry.py) into kernels/_generated.py, rewritten here on import whenever the registry has
changed. Adding a term:
write its kernel with an @kernel registration in a family module, and register the term (arguments,
coefficient names) in tergm/terms.py.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

import numpy as np

from dyadflow.kernels import registry
from dyadflow.kernels.cache import needs_compiling, stamp_with_kernel_sources
from dyadflow.kernels.network import network_state_dispatchers

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
# Per code, the parallel driver that adds the kernel's change statistics of every dyad into one
# column block of the design: compiled (or loaded from numba's cache) the first time a formula uses it.
_COLUMNS = _generated.COLUMNS


def dyad_change_matrix(codes, par_offsets, params, col_offsets, net) -> np.ndarray:
    """Change statistics of several terms for every dyad of `net`, one row per dyad.

    Rows are in ergm's order: tail-major over i != j (directed) or i < j (undirected).
    Term t has code codes[t], parameters params[par_offsets[t]:par_offsets[t+1]] and writes
    columns col_offsets[t]:col_offsets[t+1]. Terms write disjoint columns, so each fills its own
    columns on its own (one parallel pass over the tails per term); every value is the kernel's,
    whatever the other terms.
    """
    codes = np.asarray(codes, dtype=np.int64)
    par_offsets = np.asarray(par_offsets, dtype=np.int64)
    col_offsets = np.asarray(col_offsets, dtype=np.int64)
    # One array type for every call (C-contiguous float64, writable): one compilation per driver.
    params = np.array(params, dtype=np.float64, order="C", copy=True)
    n = net.adj.shape[0]
    m = n * (n - 1) if net.directed else n * (n - 1) // 2
    out = np.zeros((m, int(col_offsets[-1])))
    for t, code in enumerate(codes.tolist()):
        if not 0 <= code < len(_COLUMNS):
            raise ValueError(f"unknown change-statistic code {code}")
        _COLUMNS[code](net, params[par_offsets[t] : par_offsets[t + 1]], out, int(col_offsets[t]))
    return out


def design_needs_compiling(codes) -> bool:
    """Whether the first design of these kernel codes (dyad_change_matrix and the network state it
    reads) will compile numba code rather than load it from the disk cache: minutes on a first run,
    which a progress display should say."""
    dispatchers = network_state_dispatchers() + [_COLUMNS[code] for code in sorted(set(np.asarray(codes).tolist()))]
    return needs_compiling(*dispatchers)


# All of these compile the kernels of every family into themselves: their disk cache must follow those files.
stamp_with_kernel_sources(change, _generated.tail_slice, *_generated.ROWS, *_COLUMNS)


def dyad_index(n: int, directed: bool) -> np.ndarray:
    """(m, 2) tail/head indices of the rows `dyad_change_matrix` returns."""
    tails, heads = np.nonzero(~np.eye(n, dtype=bool)) if directed else np.triu_indices(n, 1)
    return np.column_stack([tails, heads]).astype(np.int64)
