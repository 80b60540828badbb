"""The network state every change-statistic kernel reads.

Kernels are plain numba functions of this state, so the same code builds the MPLE design (every dyad
of an observed network) and, later, drives an MCMC sampler (which will update the state after each
accepted toggle).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Network(NamedTuple):
    adj: np.ndarray  # (n, n) uint8; row = tail (sender), column = head (receiver)
    directed: bool
    outdeg: np.ndarray  # (n,) int64 row sums (undirected: the degree)
    indeg: np.ndarray  # (n,) int64 column sums (undirected: the degree)
    paths: np.ndarray  # (n, n) int64 A @ A: #k with i->k->j (undirected: shared partners of i, j)
    out_shared: np.ndarray  # (n, n) int64 A @ A.T: #k with i->k and j->k
    in_shared: np.ndarray  # (n, n) int64 A.T @ A: #k with k->i and k->j


def network_state(adj: np.ndarray, directed: bool) -> Network:
    """Build the state of a 0/1 adjacency matrix (validated upstream: square, binary, zero diagonal)."""
    adj = np.ascontiguousarray(adj, dtype=np.uint8)
    # float64 BLAS products are exact for counts below 2**53 and far faster than integer matmul.
    a = adj.astype(np.float64)
    paths = (a @ a).astype(np.int64)
    if directed:
        out_shared = (a @ a.T).astype(np.int64)
        in_shared = (a.T @ a).astype(np.int64)
    else:
        out_shared = in_shared = paths
    return Network(
        adj,
        bool(directed),
        adj.sum(axis=1, dtype=np.int64),
        adj.sum(axis=0, dtype=np.int64),
        paths,
        out_shared,
        in_shared,
    )
