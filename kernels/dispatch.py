"""One entry point for every structural change statistic: `change(code, ...)` routes a term code to
its kernel, so the MPLE design builder and the (future) MCMC sampler call kernels the same way and
numba can cache everything (jitted functions passed as arguments defeat numba's cache).

Codes 0-99 belong to kernels/degree.py (dyad, star and degree terms), 100-199 to
kernels/triadic.py (triangle and shared-partner terms). Adding a term: write its kernel in the
family module, give it a code and a branch in that module's `change_<family>`, register it in
tergm/terms.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dyadflow.kernels.cache import stamp_with_kernel_sources
from dyadflow.kernels.degree import change_degree, degree_tail_rows
from dyadflow.kernels.network import Network
from dyadflow.kernels.triadic import change_triadic, triadic_tail_rows


# inline="always": compiled into the driver loop with the degree kernels (see kernels/degree.py).
@njit(cache=True, inline="always")
def change(code, net, i, j, par, out, col):
    """Add the change statistics of term `code` for dyad (i, j) into out[col:...].

    The change is stat(y with i->j) - stat(y without i->j), the rest of y as in `net`
    (whether or not i->j is currently present), exactly as ergm's MPLE defines it.
    `par` is the term's parameter vector (float64).
    """
    if code < 100:
        change_degree(code, net, i, j, par, out, col)
    else:
        change_triadic(code, net, i, j, par, out, col)


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
    # Terms write disjoint columns, so they may fill the rows one term at a time: edges and the
    # gw-degree terms, and the triangle/shared-partner terms, get one call per tail
    # (kernels.degree.degree_tail_rows, kernels.triadic.triadic_tail_rows); the other degree
    # kernels are inlined here per dyad.
    for t in range(codes.shape[0]):
        par = params[par_offsets[t] : par_offsets[t + 1]]
        if codes[t] < 100:
            if degree_tail_rows(codes[t], net, i, par, rows, col_offsets[t]):
                continue
            k = 0
            for j in range(first, n):
                if j == i:
                    continue
                change_degree(codes[t], net, i, j, par, rows[k], col_offsets[t])
                k += 1
        else:
            triadic_tail_rows(codes[t], net, i, par, rows, col_offsets[t])


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


# All three compile the kernels of every family into themselves: their disk cache must follow those files.
stamp_with_kernel_sources(change, _tail_rows, dyad_change_matrix)


def dyad_index(n: int, directed: bool) -> np.ndarray:
    """(m, 2) tail/head indices of the rows `dyad_change_matrix` returns."""
    tails, heads = np.nonzero(~np.eye(n, dtype=bool)) if directed else np.triu_indices(n, 1)
    return np.column_stack([tails, heads]).astype(np.int64)
