"""A Metropolis-Hastings sampler over one period's network, on the same change-statistic kernels as
the MPLE design (kernels.dispatch.change).

The chain's state is a `Network` (kernels/network.py) whose arrays are updated in place on each
accepted toggle: adjacency, degrees, the two-step count matrices (A @ A, A @ A.T, A.T @ A: O(degree)
per toggle) and the sorted CSR neighbour lists. The lists are kept in arrays with room for every dyad
(`sampler_state`), so inserting or removing a neighbour is a shift of the entries after it -- O(ties)
per *accepted* toggle, and keeps every kernel (gwesp and esp walk the lists) unchanged. A proposal
then costs one dyad's change statistics. Models whose terms are all among edges, mutual, triangle,
gwesp, gwdegree, gwidegree and gwodegree (the study's, ergm's usual ones) run instead on the fast
path of kernels/sampler_fast.py (same proposal, same random stream, ~10x faster); `run_tnt_chain`
chooses.

Proposal: ergm's TNT ("tie / no tie", src/MHproposals.c): with probability 1/2 a random free dyad,
otherwise a random existing tie among the free dyads; the Hastings ratio below corrects for it
(derived here for a general dyad probability `p`; for p = 1/2 it is ergm's). Only the `dyads` passed
in are ever toggled (composition: the nodes of the period; missing dyads stay fixed).

Covariate and temporal terms (edgecov, nodematch, memory, ...) do not depend on the sampled network:
they enter as a fixed per-dyad column block `cov_X` with coefficients `cov_theta`.

Random numbers: numba's own generator, seeded at the start of every chain from the caller's
SeedSequence-derived integer, so a chain's draws depend on its seed alone (not on the thread or
worker it runs on).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dyadflow.kernels.cache import stamp_with_kernel_sources
from dyadflow.kernels.dispatch import CODES, change
from dyadflow.kernels.network import Network, network_state
from dyadflow.kernels.sampler_fast import fast_terms, run_fast_chain


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


@njit(cache=True)
def _log_proposal_ratio(present, n_edges, m, p_dyad):
    """log q(y' -> y) / q(y -> y') of TNT for toggling a dyad of y (n_edges ties among m free dyads)."""
    if present:  # removal; the reverse move adds it back from n_edges - 1 ties
        forward = p_dyad / m + (1.0 - p_dyad) / n_edges
        reverse = 1.0 / m if n_edges == 1 else p_dyad / m
    else:
        forward = 1.0 / m if n_edges == 0 else p_dyad / m
        reverse = p_dyad / m + (1.0 - p_dyad) / (n_edges + 1)
    return math.log(reverse / forward)


@njit(cache=True, nogil=True)
def run_chain(
    codes, par_offsets, params, col_offsets, net, dyads, theta, cov_X, cov_theta, burnin, interval, nsim, seed, p_dyad
):
    """Run one TNT chain on `net` (modified in place) over the free `dyads` (m, 2).

    theta: coefficients of the kernel columns (col_offsets order); cov_X (m, q), cov_theta (q,): the
    fixed covariate block. Draw k is taken after burnin + (k + 1) * interval proposals.

    Returns (structural (nsim, K) and covariate (nsim, q) statistics of each draw relative to the
    start network, tie_ptr (nsim + 1,) and tie_dyads (indices into `dyads` of each draw's ties),
    accepted proposals, total proposals).
    """
    np.random.seed(seed)
    m = dyads.shape[0]
    K = col_offsets[-1]
    q = cov_X.shape[1]
    cov_eta = np.zeros(m)
    for d in range(m):
        s = 0.0
        for c in range(q):
            s += cov_X[d, c] * cov_theta[c]
        cov_eta[d] = s
    # current ties among the free dyads, with the position of each in the list (-1: no tie)
    tie_list = np.empty(m, np.int64)
    tie_pos = np.full(m, -1, np.int64)
    n_edges = 0
    for d in range(m):
        if net.adj[dyads[d, 0], dyads[d, 1]]:
            tie_list[n_edges] = d
            tie_pos[d] = n_edges
            n_edges += 1
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
    for step in range(1, total + 1):
        if m > 0:
            if n_edges == 0 or np.random.random() < p_dyad:
                d = np.random.randint(0, m)
            else:
                d = tie_list[np.random.randint(0, n_edges)]
            i = dyads[d, 0]
            j = dyads[d, 1]
            present = net.adj[i, j] == 1
            _dyad_change(codes, par_offsets, params, col_offsets, net, i, j, delta)
            eta = cov_eta[d]
            for c in range(K):
                eta += theta[c] * delta[c]
            sign = -1.0 if present else 1.0
            log_ratio = sign * eta + _log_proposal_ratio(present, n_edges, m, p_dyad)
            if log_ratio >= 0.0 or math.log(np.random.random()) < log_ratio:
                toggle(net, i, j)
                accepted += 1
                for c in range(K):
                    stats[c] += sign * delta[c]
                for c in range(q):
                    cov_stats[c] += sign * cov_X[d, c]
                if present:  # swap-remove d from the tie list
                    last = tie_list[n_edges - 1]
                    tie_list[tie_pos[d]] = last
                    tie_pos[last] = tie_pos[d]
                    tie_pos[d] = -1
                    n_edges -= 1
                else:
                    tie_list[n_edges] = d
                    tie_pos[d] = n_edges
                    n_edges += 1
        if step == next_draw:
            out_stats[k] = stats
            out_cov[k] = cov_stats
            need = tie_ptr[k] + n_edges
            if need > ties.shape[0]:
                grown = np.empty(max(2 * ties.shape[0], need), np.int64)
                grown[: tie_ptr[k]] = ties[: tie_ptr[k]]
                ties = grown
            ties[tie_ptr[k] : need] = np.sort(tie_list[:n_edges])
            tie_ptr[k + 1] = need
            k += 1
            next_draw += interval
    return out_stats, out_cov, tie_ptr, ties[: tie_ptr[nsim]].copy(), accepted, total


@njit(cache=True)
def statistics_from_empty(codes, par_offsets, params, col_offsets, net, tails, heads):
    """g(y) - g(empty) of the kernel terms for the ties (tails[k], heads[k]), found as ergm's summary
    does: add the ties one at a time to an empty network (`net`, which must be empty and is left
    holding the ties), summing their change statistics."""
    K = col_offsets[-1]
    total = np.zeros(K)
    delta = np.zeros(K)
    for e in range(tails.shape[0]):
        _dyad_change(codes, par_offsets, params, col_offsets, net, tails[e], heads[e], delta)
        for c in range(K):
            total[c] += delta[c]
        toggle(net, tails[e], heads[e])
    return total


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
    if kinds is not None:
        return run_fast_chain(
            kinds,
            par_offsets,
            params,
            col_offsets,
            adj,
            bool(directed),
            dyads,
            theta,
            cov_X,
            cov_theta,
            burnin,
            interval,
            nsim,
            seed,
            p_dyad,
        )
    return run_chain(
        codes,
        par_offsets,
        params,
        col_offsets,
        sampler_state(adj, directed),
        dyads,
        theta,
        cov_X,
        cov_theta,
        burnin,
        interval,
        nsim,
        seed,
        p_dyad,
    )


stamp_with_kernel_sources(run_chain, statistics_from_empty, _dyad_change, toggle)
