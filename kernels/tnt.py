"""ergm's TNT ("tie / no tie") proposal and a chain's bookkeeping, shared by both chains: the generic
one on every kernel (kernels/sampler.py) and the fast one (kernels/sampler_fast.py). A chain's loop
differs between them only in how it computes a dyad's change statistics and toggles it.

Proposal (ergm's src/MHproposals.c): with probability `p_dyad` (1/2 in ergm) a random free dyad,
otherwise a random existing tie among the free dyads. The current ties are kept in `tie_list` (their
dyad indices, in no order) with `tie_pos[d]`, the position of dyad d in it (-1: no tie), so picking,
adding and removing a tie are O(1).

Draws are recorded unsorted (a draw's ties in tie-list order); `sorted_draws` orders each draw's ties
afterwards, in numpy.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def covariate_eta(cov_X, cov_theta):
    """Each free dyad's fixed covariate contribution cov_X[d] @ cov_theta (summed in column order)."""
    m, q = cov_X.shape
    eta = np.zeros(m)
    for d in range(m):
        s = 0.0
        for c in range(q):
            s += cov_X[d, c] * cov_theta[c]
        eta[d] = s
    return eta


@njit(cache=True)
def free_ties(adj, dyads):
    """(tie_list, tie_pos, n_edges) of the ties of `adj` among the free `dyads`."""
    m = dyads.shape[0]
    tie_list = np.empty(m, np.int32)  # 32-bit: the loop reads them at random, a smaller cache footprint
    tie_pos = np.full(m, -1, np.int32)
    n_edges = 0
    for d in range(m):
        if adj[dyads[d, 0], dyads[d, 1]]:
            tie_list[n_edges] = d
            tie_pos[d] = n_edges
            n_edges += 1
    return tie_list, tie_pos, n_edges


@njit(cache=True, inline="always")
def propose(tie_list, n_edges, m, p_dyad):
    """The dyad TNT proposes to toggle (m > 0 free dyads)."""
    if n_edges == 0 or np.random.random() < p_dyad:
        return np.int64(np.random.randint(0, m))
    return np.int64(tie_list[np.random.randint(0, n_edges)])


@njit(cache=True, inline="always")
def accept(eta, present, n_edges, inv_m, p_dyad):
    """Metropolis-Hastings acceptance of toggling a dyad whose tie log-odds given the rest is `eta`:
    with probability min(1, exp(+-eta) q(y' -> y) / q(y -> y')), q TNT's proposal probability (n_edges
    ties among 1 / inv_m free dyads now). One random number, drawn only when the ratio is below 1."""
    if present:  # removal; the reverse move adds it back from n_edges - 1 ties
        forward = p_dyad * inv_m + (1.0 - p_dyad) / n_edges
        reverse = inv_m if n_edges == 1 else p_dyad * inv_m
        eta = -eta
    else:
        forward = inv_m if n_edges == 0 else p_dyad * inv_m
        reverse = p_dyad * inv_m + (1.0 - p_dyad) / (n_edges + 1)
    ratio = math.exp(min(eta, 700.0)) * (reverse / forward)
    return ratio >= 1.0 or np.random.random() < ratio


@njit(cache=True, inline="always")
def toggled(d, present, delta, stats, cov_X, cov_stats, tie_list, tie_pos, n_edges):
    """Book an accepted toggle of dyad d (change statistics `delta`): the running statistics and the
    tie list. Returns the new number of ties."""
    sign = -1.0 if present else 1.0
    for c in range(stats.shape[0]):
        stats[c] += sign * delta[c]
    for c in range(cov_stats.shape[0]):
        cov_stats[c] += sign * cov_X[d, c]
    if present:  # swap-remove d
        last = tie_list[n_edges - 1]
        tie_list[tie_pos[d]] = last
        tie_pos[last] = tie_pos[d]
        tie_pos[d] = -1
        return n_edges - 1
    tie_list[n_edges] = d
    tie_pos[d] = n_edges
    return n_edges + 1


@njit(cache=True)
def record_draw(k, stats, cov_stats, out_stats, out_cov, tie_ptr, ties, tie_list, n_edges):
    """Store draw k: its statistics and its ties (appended to `ties`, grown when full; the array is
    returned)."""
    for c in range(stats.shape[0]):
        out_stats[k, c] = stats[c]
    for c in range(cov_stats.shape[0]):
        out_cov[k, c] = cov_stats[c]
    start = tie_ptr[k]
    need = start + n_edges
    if need > ties.shape[0]:
        grown = np.empty(max(2 * ties.shape[0], need), np.int64)
        for s in range(start):
            grown[s] = ties[s]
        ties = grown
    for s in range(n_edges):
        ties[start + s] = tie_list[s]
    tie_ptr[k + 1] = need
    return ties


def sorted_draws(tie_ptr: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """`ties` with each draw's ties (tie_ptr segments) in ascending order."""
    draw = np.repeat(np.arange(len(tie_ptr) - 1), np.diff(tie_ptr))
    return ties[np.lexsort((ties, draw))]
