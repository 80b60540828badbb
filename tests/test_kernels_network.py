"""Neighbour lists of the kernel network state (kernels/network.py) against the adjacency matrix."""

from __future__ import annotations

import numpy as np
import pytest

from dyadflow.kernels.network import network_state


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("density", [0.0, 0.2, 1.0])
def test_neighbour_lists_are_the_rows_and_columns_ascending(directed, density):
    rng = np.random.default_rng(11)
    n = 17
    adj = (rng.random((n, n)) < density).astype(np.uint8)
    if not directed:
        adj = np.triu(adj, 1)
        adj = adj | adj.T
    np.fill_diagonal(adj, 0)
    net = network_state(adj, directed)
    for i in range(n):
        out = net.out_nbr[net.out_ptr[i] : net.out_ptr[i + 1]]
        into = net.in_nbr[net.in_ptr[i] : net.in_ptr[i + 1]]
        np.testing.assert_array_equal(out, np.flatnonzero(adj[i]))  # flatnonzero is ascending
        np.testing.assert_array_equal(into, np.flatnonzero(adj[:, i]))
    assert net.out_ptr[-1] == net.in_ptr[-1] == adj.sum()
