"""A Metropolis-Hastings sampler over one period's network, on the same change-statistic kernels as
the MPLE design (kernels.dispatch.change).

The chain's state is a `Network` (kernels/network.py) whose arrays are updated in place on each
accepted toggle: adjacency, degrees, the two-step count matrices (A @ A, A @ A.T, A.T @ A: O(degree)
per toggle) and the sorted CSR neighbour lists. The lists are kept in arrays with room for every dyad
(`sampler_state`), so inserting or removing a neighbour is a shift of the entries after it -- O(ties)
per *accepted* toggle, and keeps every kernel (gwesp and esp walk the lists) unchanged. A proposal
then costs one dyad's change statistics. Models whose terms are all among edges, mutual, triangle,
gwesp, gwdegree, gwidegree and gwodegree (the study's, ergm's usual ones) run instead on the fast
path of kernels/sampler_fast.py (same proposal, same random stream, ~15x faster); `run_tnt_chain`
chooses.

Proposal: ergm's TNT ("tie / no tie", src/MHproposals.c): with probability 1/2 a random free dyad,
otherwise a random existing tie among the free dyads; the Hastings ratio of kernels/tnt.py, which
both chains share, corrects for it (derived there for a general dyad probability `p`; for p = 1/2 it
is ergm's). Only the `dyads` passed in are ever toggled (composition: the nodes of the period;
missing dyads stay fixed).

Covariate and temporal terms (edgecov, nodematch, memory, ...) do not depend on the sampled network:
they enter as a fixed per-dyad column block `cov_X` with coefficients `cov_theta`.

Random numbers: numba's own generator, seeded at the start of every chain from the caller's
SeedSequence-derived integer, so a chain's draws depend on its seed alone (not on the thread or
worker it runs on).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dyadflow.kernels.cache import stamp_with_kernel_sources
from dyadflow.kernels.dispatch import CODES, change
from dyadflow.kernels.network import Network, network_state
from dyadflow.kernels.sampler_fast import fast_terms, run_fast_chain
from dyadflow.kernels.tnt import accept, covariate_eta, free_ties, propose, record_draw, sorted_draws, toggled


def sampler_state(adj: np.ndarray, directed: bool) -> Network:
    """A `Network` for `adj` that the sampler may update in place: its own copies of every array,
    neighbour lists with room for all n(n-1) entries, separate degree arrays."""
    base = network_state(np.array(adj, dtype=np.uint8, copy=True), directed)
    n = base.adj.shape[0]
    capacity = max(n * (n - 1), 1)

    def roomy(nbr):
        out = np.zeros(capacity, np.int64)
        out[: len(nbr)] = nbr
        return out

    out_ptr = base.out_ptr.copy()
    out_nbr = roomy(base.out_nbr)
    if directed:
        in_ptr, in_nbr = base.in_ptr.copy(), roomy(base.in_nbr)
        paths, out_shared, in_shared = base.paths.copy(), base.out_shared.copy(), base.in_shared.copy()
    else:
        in_ptr, in_nbr = out_ptr, out_nbr  # one list per node, as network_state gives
        paths = base.paths.copy()
        out_shared = in_shared = paths
    return Network(
        base.adj,
        bool(directed),
        base.outdeg.copy(),
        base.indeg.copy(),
        paths,
        out_shared,
        in_shared,
        out_ptr,
        out_nbr,
        in_ptr,
        in_nbr,
    )


@njit(cache=True)
def _list_insert(ptr, nbr, a, b):
    n = ptr.shape[0] - 1
    pos = ptr[a]
    while pos < ptr[a + 1] and nbr[pos] < b:
        pos += 1
    for s in range(ptr[n], pos, -1):
        nbr[s] = nbr[s - 1]
    nbr[pos] = b
    for v in range(a + 1, n + 1):
        ptr[v] += 1


@njit(cache=True)
def _list_remove(ptr, nbr, a, b):
    n = ptr.shape[0] - 1
    pos = ptr[a]
    while nbr[pos] != b:
        pos += 1
    for s in range(pos, ptr[n] - 1):
        nbr[s] = nbr[s + 1]
    for v in range(a + 1, n + 1):
        ptr[v] -= 1


@njit(cache=True, inline="always")
def toggle(net, i, j):
    """Toggle the tie i -> j (undirected: {i, j}) and update every array of `net` in place.

    The count matrices change only along the rows and columns of i and j, at the neighbours of i
    and j, so the update walks the (old) neighbour lists: O(degree), not O(n), per toggle.
    Directed, A[i, j] += d: A @ A gains d * A[j, :] in row i and d * A[:, i] in column j; A @ A.T
    gains d * A[:, j] in row and column i (+ d on its diagonal); A.T @ A gains d * A[i, :] in row
    and column j (+ d). Undirected, A += d (e_i e_j' + e_j e_i'): A @ A gains d * a_j in row and
    column i, d * a_i in row and column j, and 1 = d * d on both diagonal entries.
    """
    adj = net.adj
    d = 1 - 2 * int(adj[i, j])
    op, on, ip, inn = net.out_ptr, net.out_nbr, net.in_ptr, net.in_nbr
    if net.directed:
        paths, out_shared, in_shared = net.paths, net.out_shared, net.in_shared
        for s in range(op[j], op[j + 1]):
            paths[i, on[s]] += d
        for s in range(ip[i], ip[i + 1]):
            paths[inn[s], j] += d
        for s in range(ip[j], ip[j + 1]):
            b = inn[s]
            if b != i:
                out_shared[i, b] += d
                out_shared[b, i] += d
        out_shared[i, i] += d
        for s in range(op[i], op[i + 1]):
            b = on[s]
            if b != j:
                in_shared[j, b] += d
                in_shared[b, j] += d
        in_shared[j, j] += d
        adj[i, j] = np.uint8(adj[i, j] + d)
        net.outdeg[i] += d
        net.indeg[j] += d
        if d > 0:
            _list_insert(op, on, i, j)
            _list_insert(ip, inn, j, i)
        else:
            _list_remove(op, on, i, j)
            _list_remove(ip, inn, j, i)
    else:
        paths = net.paths
        for s in range(op[j], op[j + 1]):
            k = on[s]
            paths[i, k] += d
            paths[k, i] += d
        for s in range(op[i], op[i + 1]):
            k = on[s]
            paths[j, k] += d
            paths[k, j] += d
        paths[i, i] += 1
        paths[j, j] += 1
        adj[i, j] = np.uint8(adj[i, j] + d)
        adj[j, i] = np.uint8(adj[j, i] + d)
        net.outdeg[i] += d
        net.outdeg[j] += d
        net.indeg[i] += d
        net.indeg[j] += d
        if d > 0:
            _list_insert(op, on, i, j)
            _list_insert(op, on, j, i)
        else:
            _list_remove(op, on, i, j)
            _list_remove(op, on, j, i)


# inline="always": a call that receives the `Network` tuple costs ~1.2 us (measured), more than the
# change statistics of most terms.
@njit(cache=True, inline="always")
def _dyad_change(codes, par_offsets, params, col_offsets, net, i, j, delta):
    for c in range(delta.shape[0]):
        delta[c] = 0.0
    for t in range(codes.shape[0]):
        change(codes[t], net, i, j, params[par_offsets[t] : par_offsets[t + 1]], delta, col_offsets[t])


@njit(cache=True, nogil=True)
def run_chain(
    codes, par_offsets, params, col_offsets, net, dyads, theta, cov_X, cov_theta, burnin, interval, nsim, seed, p_dyad
):
    """Run one TNT chain on `net` (modified in place) over the free `dyads` (m, 2).

    theta: coefficients of the kernel columns (col_offsets order); cov_X (m, q), cov_theta (q,): the
    fixed covariate block. Draw k is taken after burnin + (k + 1) * interval proposals.

    Returns (structural (nsim, K) and covariate (nsim, q) statistics of each draw relative to the
    start network, tie_ptr (nsim + 1,) and tie_dyads (indices into `dyads` of each draw's ties, in
    no order within a draw: kernels.tnt.sorted_draws), accepted proposals, total proposals).
    """
    np.random.seed(seed)
    m = dyads.shape[0]
    K = col_offsets[-1]
    q = cov_X.shape[1]
    cov_eta = covariate_eta(cov_X, cov_theta)
    tie_list, tie_pos, n_edges = free_ties(net.adj, dyads)
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
            i = dyads[d, 0]
            j = dyads[d, 1]
            present = net.adj[i, j] == 1
            _dyad_change(codes, par_offsets, params, col_offsets, net, i, j, delta)
            eta = cov_eta[d]
            for c in range(K):
                eta += theta[c] * delta[c]
            if accept(eta, present, n_edges, inv_m, p_dyad):
                toggle(net, i, j)
                accepted += 1
                n_edges = toggled(d, present, delta, stats, cov_X, cov_stats, tie_list, tie_pos, n_edges)
        if step == next_draw:
            ties = record_draw(k, stats, cov_stats, out_stats, out_cov, tie_ptr, ties, tie_list, n_edges)
            k += 1
            next_draw += interval
    return out_stats, out_cov, tie_ptr, ties[: tie_ptr[nsim]].copy(), accepted, total


def run_tnt_chain(
    codes,
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
    *,
    generic=False,
):
    """One TNT chain from the network `adj` (copied): run_chain's results, on the fast path
    (kernels/sampler_fast.py) when every term has one and `generic` is False, else on the kernels."""
    adj = np.array(adj, dtype=np.uint8, copy=True)
    kinds = None if generic else fast_terms(codes, par_offsets, params, directed, CODES)
    shared = (dyads, theta, cov_X, cov_theta, burnin, interval, nsim, seed, p_dyad)
    if kinds is not None:
        chain = run_fast_chain(kinds, par_offsets, params, col_offsets, adj, bool(directed), *shared)
    else:
        chain = run_chain(codes, par_offsets, params, col_offsets, sampler_state(adj, directed), *shared)
    stats, cov_stats, tie_ptr, ties, accepted, total = chain
    return stats, cov_stats, tie_ptr, sorted_draws(tie_ptr, ties), accepted, total


stamp_with_kernel_sources(run_chain, _dyad_change, toggle)
