"""The TNT chain of kernels/sampler.py for the terms that dominate real models, without the generic
kernel dispatch: edges, mutual, triangle (undirected), gwesp (undirected, or directed OTP, ergm's
default), gwdegree, gwidegree, gwodegree. `run_chain` uses it whenever every structural term of a
model is one of these.

Why a second path: the generic chain calls each term through `kernels.dispatch.change` on the full
`Network` state and keeps sorted CSR neighbour lists (the MPLE's layout). Measured on a 230-node,
3,000-tie period: a non-inlined call that receives the `Network` tuple costs ~1.2 us, gwesp's call
chain another ~1.4 us, and an accepted toggle ~5.6 us (shifting every list entry after the insertion
point) -- 0.3 M proposals/s. Here the state is plain arrays passed separately, every step is inlined
into one loop, the neighbours are bit sets (a toggle flips one bit; n / 64 words a row), gwesp visits
only the shared partners (the AND of two rows: ~20 ns at 230 nodes where walking the shorter of two
neighbour lists took ~165 ns), and every pow(1 - e^-decay, k) / e^decay (1 - r^k) is read from a table
computed once per chain by the same expressions as the kernels (so each term's change statistic is
the kernel's number; a sum over partners may differ from it in the last bits because the partners
are visited in another order). tests/test_simulation.py checks both paths against exact enumeration
and this one's change statistics against the kernels.

Definitions (ergm 4.6, as kernels/degree.py and kernels/triadic.py):
* gwesp, toggling t -> h with e = y_th: undirected, each common neighbour k adds r^(sp(t,k) - e) +
  r^(sp(h,k) - e); directed OTP, each k with t->k, h->k adds r^(sp(t,k) - e) (edge t->k gains the
  two-path t->h->k) and each k with k->t, k->h adds r^(sp(k,h) - e) (k->h gains k->t->h); plus the
  focal edge's e^decay (1 - r^sp(t,h)). sp = A @ A (two-paths; undirected: shared partners).
* gwdegree: r^(deg(i) - e) + r^(deg(j) - e) (directed: in + out degree); gwidegree r^(indeg(j) - e);
  gwodegree r^(outdeg(i) - e); triangle sp(i, j) (undirected); mutual y_ji; edges 1.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dyadflow.kernels.cache import stamp_with_kernel_sources
from dyadflow.kernels.tnt import accept, covariate_eta, free_ties, propose, record_draw, toggled

FAST_EDGES = 0
FAST_MUTUAL = 1
FAST_TRIANGLE = 2
FAST_GWESP = 3
FAST_GWDEGREE = 4
FAST_GWIDEGREE = 5
FAST_GWODEGREE = 6

_SP_OTP = 0  # kernels.triadic.SP_OTP


def fast_terms(
    codes: np.ndarray, par_offsets: np.ndarray, params: np.ndarray, directed: bool, code_of: dict[str, int]
) -> np.ndarray | None:
    """The fast kind of each term (codes as kernels.dispatch.CODES), or None when any term needs the
    generic path."""
    kinds = {
        code_of["edges"]: FAST_EDGES,
        code_of["mutual"]: FAST_MUTUAL,
        code_of["gwesp"]: FAST_GWESP,
        code_of["gwdegree"]: FAST_GWDEGREE,
        code_of["gwidegree"]: FAST_GWIDEGREE,
        code_of["gwodegree"]: FAST_GWODEGREE,
    }
    if not directed:
        kinds[code_of["triangle"]] = FAST_TRIANGLE
    out = np.empty(len(codes), np.int64)
    for t, code in enumerate(codes):
        kind = kinds.get(int(code))
        if kind is None:
            return None
        if kind == FAST_GWESP and directed and int(params[par_offsets[t] + 1]) != _SP_OTP:
            return None
        out[t] = kind
    return out


@njit(cache=True)
def _tables(kinds, par_offsets, params, n):
    """Per term: its table offset into `tables` (length n+1 rows of pow(r, k), then for gwesp n+1 rows
    of the focal edge's e^a (1 - r^k)); the expressions are the kernels'."""
    T = kinds.shape[0]
    offsets = np.zeros(T + 1, np.int64)
    for t in range(T):
        size = 0
        if kinds[t] == FAST_GWESP:
            size = 2 * (n + 1)
        elif kinds[t] == FAST_GWDEGREE or kinds[t] == FAST_GWIDEGREE or kinds[t] == FAST_GWODEGREE:
            size = 2 * n + 1  # directed total degree stays below 2n
        offsets[t + 1] = offsets[t] + size
    tables = np.zeros(max(offsets[T], 1))
    for t in range(T):
        o = offsets[t]
        if kinds[t] == FAST_GWESP:
            alpha = params[par_offsets[t]]
            r = 1.0 - math.exp(-alpha)
            for k in range(n + 1):
                tables[o + k] = math.pow(r, float(k))  # kernels.triadic._path
            for k in range(n + 1):  # kernels.triadic._focus
                if k == 0:
                    focal = 0.0
                elif alpha < 100.0:
                    focal = math.exp(alpha) * (1.0 - math.pow(r, float(k)))
                else:
                    focal = float(k)
                tables[o + n + 1 + k] = focal
        elif offsets[t + 1] > o:
            one_minus_r = 1.0 - math.exp(-params[par_offsets[t]])
            for k in range(2 * n + 1):
                tables[o + k] = math.pow(one_minus_r, float(k))  # kernels.degree._gw_weight
    return tables, offsets


@njit(cache=True)
def _two_paths(adj):
    n = adj.shape[0]
    sp = np.zeros((n, n), np.int32)
    for i in range(n):
        for k in range(n):
            if adj[i, k]:
                for j in range(n):
                    sp[i, j] += adj[k, j]
    return sp


# Lowest set bit's index by de Bruijn multiplication: (x & -x) * _DE_BRUIJN >> 58 is distinct for each
# of the 64 single-bit words, and _BIT_INDEX maps it back.
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.zeros(64, np.int64)
for _b in range(64):
    _BIT_INDEX[(((1 << _b) * int(_DE_BRUIJN)) % 2**64) >> 58] = _b


@njit(cache=True)
def _bits(adj, transpose):
    """Neighbour bit sets: bit k of word w of row i is set when i -> 64 w + k (k -> i when transposed)."""
    n = adj.shape[0]
    bits = np.zeros((n, max((n + 63) // 64, 1)), np.uint64)
    for i in range(n):
        for j in range(n):
            if adj[j, i] if transpose else adj[i, j]:
                bits[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    return bits


@njit(cache=True, inline="always")
def _flip(bits, i, j):
    bits[i, j >> 6] ^= np.uint64(1) << np.uint64(j & 63)


@njit(cache=True, inline="always")
def _lowest(x):
    """Index of the lowest set bit of x != 0."""
    return _BIT_INDEX[((x & (np.uint64(0) - x)) * _DE_BRUIJN) >> np.uint64(58)]


@njit(cache=True, inline="always")
def _add_along(sp, bits, source, fixed, d, row, column):
    """For every k with bit k set in bits[source]: sp[fixed, k] += d (row) and sp[k, fixed] += d (column)."""
    for w in range(bits.shape[1]):
        x = bits[source, w]
        while x:
            k = w * 64 + _lowest(x)
            if row:
                sp[fixed, k] += d
            if column:
                sp[k, fixed] += d
            x &= x - np.uint64(1)


@njit(cache=True, inline="always")
def _toggle(adj, directed, outdeg, indeg, sp, need_sp, obits, ibits, i, j):
    """Toggle i -> j ({i, j} undirected), updating degrees, bit sets and (when `need_sp`) two-paths
    (see kernels.sampler.toggle for the two-path algebra), these from the neighbours before the toggle."""
    d = 1 - 2 * int(adj[i, j])
    if need_sp:
        if directed:
            _add_along(sp, obits, j, i, d, True, False)  # row i gains d * A[j, :]
            _add_along(sp, ibits, i, j, d, False, True)  # column j gains d * A[:, i]
        else:
            _add_along(sp, obits, j, i, d, True, True)
            _add_along(sp, obits, i, j, d, True, True)
            sp[i, i] += 1
            sp[j, j] += 1
    _flip(obits, i, j)
    _flip(ibits, j, i)  # undirected: ibits is obits, and this is the other direction of the tie
    adj[i, j] = np.uint8(adj[i, j] + d)
    outdeg[i] += d
    indeg[j] += d
    if not directed:
        adj[j, i] = np.uint8(adj[j, i] + d)
        outdeg[j] += d
        indeg[i] += d


@njit(cache=True, inline="always")
def _gwesp_change(directed, sp, obits, ibits, t, h, e, tables, o, n):
    """Over the common neighbours only: the AND of two bit-set rows, n / 64 words, then one step per
    shared partner (instead of a walk along a whole neighbour row, one branch per neighbour)."""
    acc = 0.0
    for w in range(obits.shape[1]):
        # directed, edges t->k with h->k; undirected, common neighbours (neither t nor h: no loops)
        x = obits[t, w] & obits[h, w]
        while x:
            k = w * 64 + _lowest(x)
            if directed:
                acc += tables[o + sp[t, k] - e]
            else:
                acc += tables[o + sp[t, k] - e] + tables[o + sp[h, k] - e]
            x &= x - np.uint64(1)
        if directed:  # edges k->h with k->t
            x = ibits[t, w] & ibits[h, w]
            while x:
                k = w * 64 + _lowest(x)
                acc += tables[o + sp[k, h] - e]
                x &= x - np.uint64(1)
    return acc + tables[o + n + 1 + sp[t, h]]


@njit(cache=True, inline="always")
def _change(kinds, cols, tables, toff, adj, directed, outdeg, indeg, sp, obits, ibits, i, j, delta, n):
    e = int(adj[i, j])
    for t in range(kinds.shape[0]):
        kind = kinds[t]
        o = toff[t]
        if kind == FAST_EDGES:
            v = 1.0
        elif kind == FAST_MUTUAL:
            v = float(adj[j, i])
        elif kind == FAST_TRIANGLE:
            v = float(sp[i, j])
        elif kind == FAST_GWESP:
            v = _gwesp_change(directed, sp, obits, ibits, i, j, e, tables, o, n)
        elif kind == FAST_GWDEGREE:
            if directed:
                v = tables[o + outdeg[i] + indeg[i] - e] + tables[o + outdeg[j] + indeg[j] - e]
            else:
                v = tables[o + outdeg[i] - e] + tables[o + outdeg[j] - e]
        elif kind == FAST_GWIDEGREE:
            v = tables[o + indeg[j] - e]
        else:  # FAST_GWODEGREE
            v = tables[o + outdeg[i] - e]
        delta[cols[t]] = v


@njit(cache=True)
def _state(kinds, par_offsets, params, col_offsets, adj, directed):
    """A fast chain's state for the network `adj`: the terms' tables and columns, degrees, two-paths
    (only for gwesp / triangle: an edges + degree model keeps degrees alone; need_sp says which) and
    the neighbour bit sets (out, and in when directed; undirected, one array serves as both)."""
    n = adj.shape[0]
    tables, toff = _tables(kinds, par_offsets, params, n)
    cols = col_offsets[:-1].copy()
    outdeg = np.zeros(n, np.int64)
    indeg = np.zeros(n, np.int64)
    for i in range(n):
        for j in range(n):
            outdeg[i] += adj[i, j]
            indeg[j] += adj[i, j]
    need_sp = False
    for t in range(kinds.shape[0]):
        need_sp = need_sp or kinds[t] == FAST_GWESP or kinds[t] == FAST_TRIANGLE
    sp = _two_paths(adj) if need_sp else np.zeros((1, 1), np.int32)
    obits = _bits(adj, False)
    ibits = _bits(adj, True) if directed else obits
    return tables, toff, cols, outdeg, indeg, sp, need_sp, obits, ibits


@njit(cache=True, nogil=True)
def run_fast_chain(
    kinds,
    par_offsets,
    params,
    col_offsets,
    adj,
    directed,
    dyads,
    theta,
    cov_X,
    cov_theta,
    burnin,
    interval,
    nsim,
    seed,
    p_dyad,
):
    """kernels.sampler.run_chain for models whose terms all have a fast kind (`kinds`, from
    fast_terms); same arguments (the network as its adjacency matrix `adj`, modified in place), same
    results and the same proposals and acceptance (kernels/tnt.py)."""
    np.random.seed(seed)
    n = adj.shape[0]
    m = dyads.shape[0]
    K = col_offsets[-1]
    q = cov_X.shape[1]
    tables, toff, cols, outdeg, indeg, sp, need_sp, obits, ibits = _state(
        kinds, par_offsets, params, col_offsets, adj, directed
    )
    cov_eta = covariate_eta(cov_X, cov_theta)
    # 32-bit copies of the per-dyad arrays the loop reads at random: a smaller cache footprint
    pairs = dyads.astype(np.int32)
    tie_list, tie_pos, n_edges = free_ties(adj, dyads)
    stats = np.zeros(K)
    cov_stats = np.zeros(q)
    out_stats = np.zeros((nsim, K))
    out_cov = np.zeros((nsim, q))
    tie_ptr = np.zeros(nsim + 1, np.int64)
    ties = np.empty(16, np.int64)
    delta = np.zeros(K)
    accepted = 0
    total = burnin + nsim * interval
    k = 0
    next_draw = burnin + interval
    inv_m = 1.0 / m if m > 0 else 0.0
    for step in range(1, total + 1):
        if m > 0:
            d = propose(tie_list, n_edges, m, p_dyad)
            i = np.int64(pairs[d, 0])
            j = np.int64(pairs[d, 1])
            present = adj[i, j] == 1
            _change(kinds, cols, tables, toff, adj, directed, outdeg, indeg, sp, obits, ibits, i, j, delta, n)
            eta = cov_eta[d]
            for c in range(K):
                eta += theta[c] * delta[c]
            if accept(eta, present, n_edges, inv_m, p_dyad):
                _toggle(adj, directed, outdeg, indeg, sp, need_sp, obits, ibits, i, j)
                accepted += 1
                n_edges = toggled(d, present, delta, stats, cov_X, cov_stats, tie_list, tie_pos, n_edges)
        if step == next_draw:
            ties = record_draw(k, stats, cov_stats, out_stats, out_cov, tie_ptr, ties, tie_list, n_edges)
            k += 1
            next_draw += interval
    return out_stats, out_cov, tie_ptr, ties[: tie_ptr[nsim]].copy(), accepted, total


@njit(cache=True)
def fast_change_statistics(kinds, par_offsets, params, col_offsets, adj, directed, dyads):
    """(m, K) change statistics of `dyads` on `adj` as the fast chain computes them (for tests against
    the kernels)."""
    n = adj.shape[0]
    tables, toff, cols, outdeg, indeg, sp, _, obits, ibits = _state(
        kinds, par_offsets, params, col_offsets, adj, directed
    )
    out = np.zeros((dyads.shape[0], col_offsets[-1]))
    for d in range(dyads.shape[0]):
        _change(
            kinds,
            cols,
            tables,
            toff,
            adj,
            directed,
            outdeg,
            indeg,
            sp,
            obits,
            ibits,
            dyads[d, 0],
            dyads[d, 1],
            out[d],
            n,
        )
    return out


# They inline kernels/tnt.py: their disk cache must follow it (and every other kernel module).
stamp_with_kernel_sources(run_fast_chain, fast_change_statistics)
