"""The network state every change-statistic kernel reads.

Kernels are plain numba functions of this state, so the same code builds the MPLE design (every dyad
of an observed network) and, later, drives an MCMC sampler (which will update the state after each
accepted toggle).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from dyadflow.storage.panel import is_binary, is_valid_network, valid_network_kernel


class Network(NamedTuple):
    adj: np.ndarray  # (n, n) uint8; row = tail (sender), column = head (receiver)
    directed: bool
    outdeg: np.ndarray  # (n,) int64 row sums (undirected: the degree)
    indeg: np.ndarray  # (n,) int64 column sums (undirected: the degree)
    paths: np.ndarray  # (n, n) int64 A @ A: #k with i->k->j (undirected: shared partners of i, j)
    out_shared: np.ndarray  # (n, n) int64 A @ A.T: #k with i->k and j->k
    in_shared: np.ndarray  # (n, n) int64 A.T @ A: #k with k->i and k->j
    # Neighbour lists (CSR, ascending node id): out-neighbours of i are out_nbr[out_ptr[i]:out_ptr[i+1]],
    # in-neighbours in_nbr[in_ptr[i]:in_ptr[i+1]] (undirected: the same arrays). Shared-partner
    # kernels walk these instead of scanning all n nodes (and instead of strided column scans).
    out_ptr: np.ndarray  # (n+1,) int64
    out_nbr: np.ndarray  # (edges,) int64
    in_ptr: np.ndarray  # (n+1,) int64
    in_nbr: np.ndarray  # (edges,) int64


def network_state(adj: np.ndarray, directed: bool, *, counts: np.ndarray | None = None) -> Network:
    """Build the state of a 0/1 adjacency matrix: square, binary, zero diagonal, symmetric when
    undirected (checked here too: a kernel fed anything else returns silently wrong numbers).

    counts: int64 scratch of at least n * n entries (3 n * n directed) that the path counts are written
    into, the state holding views of it (valid until it is written again): for a caller that builds the
    states of many periods one after another, since a fresh 0.4 MB matrix per 230-node period costs an
    mmap and its page faults where malloc's thresholds are fixed, as on Dask workers. Default: new."""
    adj = np.asarray(adj)
    if not is_valid_network(adj, directed):  # else the checks that say what is wrong
        if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
            raise ValueError(f"adjacency matrix must be square, got shape {adj.shape}")
        if not is_binary(adj):
            raise ValueError("adjacency matrix must contain only 0 and 1")
        adj = np.ascontiguousarray(adj, dtype=np.uint8)
        if not adj.flags.writeable:  # a read-only array is another numba type: every kernel would compile twice
            adj = adj.copy()
        if np.diagonal(adj).any():
            raise ValueError("adjacency matrix must have a zero diagonal (no self-loops)")
        if not directed and not np.array_equal(adj, adj.T):
            raise ValueError("adjacency matrix of an undirected network must be symmetric")
    n, matrices = adj.shape[0], 3 if directed else 1
    if counts is None:
        counts = np.empty(matrices * n * n, np.int64)
    elif counts.dtype != np.int64 or counts.ndim != 1 or counts.size < matrices * n * n or not counts.flags.writeable:
        raise ValueError(f"counts must be writable 1-d int64 scratch of at least {matrices * n * n} entries")
    out = counts[: matrices * n * n].reshape(matrices, n, n)
    out_ptr, out_nbr = _neighbour_lists(adj)
    in_ptr, in_nbr = _neighbour_lists(np.ascontiguousarray(adj.T)) if directed else (out_ptr, out_nbr)
    paths, out_shared, in_shared = _two_step_counts(out_ptr, out_nbr, in_ptr, in_nbr, bool(directed), out)
    return Network(
        adj,
        bool(directed),
        np.diff(out_ptr),  # the degrees are the lists' lengths (a uint8 sum to int64 costs 4x more)
        np.diff(in_ptr),
        paths,
        out_shared,
        in_shared,
        out_ptr,
        out_nbr,
        in_ptr,
        in_nbr,
    )


def network_state_dispatchers() -> list:
    """The numba functions `network_state` runs (see kernels.cache.needs_compiling)."""
    return [valid_network_kernel, _two_step_counts, _neighbour_lists]


@njit(cache=True)
def _neighbour_lists(adj):
    """CSR lists of each row's nonzero columns, ascending."""
    n = adj.shape[0]
    ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        count = 0
        for j in range(n):
            count += adj[i, j]
        ptr[i + 1] = ptr[i] + count
    nbr = np.empty(ptr[n], np.int64)
    for i in range(n):
        k = ptr[i]
        for j in range(n):
            if adj[i, j]:
                nbr[k] = j
                k += 1
    return ptr, nbr


@njit(cache=True)
def _pairs_through(first_ptr, first_nbr, second_ptr, second_nbr, counts):
    """counts[i, j] += 1 for every node k, i in k's first list and j in its second list."""
    for k in range(first_ptr.shape[0] - 1):
        for s in range(first_ptr[k], first_ptr[k + 1]):
            row = counts[first_nbr[s]]
            for u in range(second_ptr[k], second_ptr[k + 1]):
                row[second_nbr[u]] += 1


@njit(cache=True)
def _two_step_counts(out_ptr, out_nbr, in_ptr, in_nbr, directed, out):
    """A @ A, A @ A.T and A.T @ A as int64 into out[0], out[1], out[2] (undirected: out[0] only, all
    three being A @ A), from the neighbour lists: every two-step path i - k - j counted at its middle
    node k, O(sum of squared degrees) and exact, with no BLAS threads competing with numba's or
    Dask's (measured on 230-node periods of mean degree 14: dense BLAS products 2-6 ms on a busy 2-core
    machine, adding 0/1 rows 0.14 ms, these lists 0.07 ms)."""
    out[:] = 0
    paths = out[0]
    _pairs_through(in_ptr, in_nbr, out_ptr, out_nbr, paths)  # i -> k -> j
    if not directed:
        return paths, paths, paths
    out_shared = out[1]
    in_shared = out[2]
    _pairs_through(in_ptr, in_nbr, in_ptr, in_nbr, out_shared)  # i -> k <- j
    _pairs_through(out_ptr, out_nbr, out_ptr, out_nbr, in_shared)  # i <- k -> j
    return paths, out_shared, in_shared


@njit(cache=True)
def dyad_values(adj, tails, heads, out):
    """out[r] = adj[tails[r], heads[r]] (a design's response): no temporary index arrays, which where
    malloc's thresholds are fixed, as on Dask workers, cost an mmap and page faults per 230-node period."""
    for r in range(tails.shape[0]):
        out[r] = adj[tails[r], heads[r]]


@njit(cache=True)
def toggled_nodes(before, after):
    """Per node, whether any of its ties (as tail or head) differs between two (n, n) networks: one
    pass, not a difference matrix and two reductions (a rewiring refit asks it of every period)."""
    n = before.shape[0]
    touched = np.zeros(n, np.bool_)
    for i in range(n):
        for j in range(n):
            if before[i, j] != after[i, j]:
                touched[i] = True
                touched[j] = True
    return touched


@njit(cache=True)
def dyad_ties(adj, directed):
    """(positions, dyads): the positions of the ties among the dyads that count -- i != j when directed,
    i < j when not, numbered row-major as adj[mask] numbers them -- ascending, and how many dyads count."""
    n = adj.shape[0]
    count = 0
    for i in range(n):
        for j in range(0 if directed else i + 1, n):
            count += adj[i, j] if i != j else 0
    ties = np.empty(count, np.int64)
    position = 0
    found = 0
    for i in range(n):
        for j in range(0 if directed else i + 1, n):
            if i == j:
                continue
            if adj[i, j]:
                ties[found] = position
                found += 1
            position += 1
    return ties, position


@njit(cache=True)
def rewired_network(n, directed, ties, removed, added_ranks):
    """The (n, n) uint8 network whose dyads (numbered as dyad_ties numbers them) are tied at `ties`
    but not at `removed` (some of them), and tied at the non-ties of ranks `added_ranks` (rank m: the
    m-th untied dyad, counted from 0 among the dyads not in `ties`); symmetric when undirected."""
    dyads = n * (n - 1) if directed else n * (n - 1) // 2
    flat = np.zeros(dyads, np.uint8)
    for position in ties:
        flat[position] = 1
    for position in removed:
        flat[position] = 0
    # the rank-m non-tie lies after the ties whose count of non-ties before them is at most m
    for rank in added_ranks:
        lo, hi = 0, ties.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if ties[mid] - mid <= rank:
                lo = mid + 1
            else:
                hi = mid
        flat[rank + lo] = 1
    adj = np.zeros((n, n), np.uint8)
    position = 0
    for i in range(n):
        for j in range(0 if directed else i + 1, n):
            if i == j:
                continue
            if flat[position]:
                adj[i, j] = 1
                if not directed:
                    adj[j, i] = 1
            position += 1
    return adj
