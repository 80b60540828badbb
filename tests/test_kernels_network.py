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


def test_lowest_set_bit_of_every_word_shape():
    """kernels.sampler_fast._lowest (de Bruijn): the index of the lowest set bit, whatever bits lie above."""
    from dyadflow.kernels.sampler_fast import _lowest

    rng = np.random.default_rng(0)
    for b in range(64):
        low = np.uint64(1) << np.uint64(b)
        above = np.uint64(rng.integers(0, 2**63)) << np.uint64(1) if b < 63 else np.uint64(0)
        mask = ~((low << np.uint64(1)) - np.uint64(1)) if b < 63 else np.uint64(0)
        assert _lowest(low) == b
        assert _lowest(low | (above & mask)) == b


@pytest.mark.parametrize("directed", [True, False])
def test_path_counts_are_the_matrix_products_in_new_memory_or_in_scratch(directed):
    """network_state's path counts equal A @ A, A @ A.T, A.T @ A, written into a fresh array or into
    `counts` scratch that periods of different sizes share one after another (stale counts from a
    larger period must not leak into a smaller one)."""
    rng = np.random.default_rng(5)
    scratch = np.full(3 * 19 * 19, 7, np.int64)
    for n, density in ((19, 0.4), (11, 0.2), (19, 0.1), (6, 0.0)):
        adj = (rng.random((n, n)) < density).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1) | np.triu(adj, 1).T
        np.fill_diagonal(adj, 0)
        a = adj.astype(np.int64)
        expected = (a @ a, a @ a.T, a.T @ a) if directed else (a @ a,) * 3
        for net in (network_state(adj, directed), network_state(adj, directed, counts=scratch)):
            for got, want in zip((net.paths, net.out_shared, net.in_shared), expected):
                assert got.dtype == np.int64 and got.flags.c_contiguous
                np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="counts must be"):
        network_state(np.zeros((5, 5), np.uint8), directed, counts=np.zeros(24, np.int64))
    with pytest.raises(ValueError, match="counts must be"):
        network_state(np.zeros((5, 5), np.uint8), directed, counts=np.zeros(3 * 25, np.float64))


@pytest.mark.parametrize("directed", [True, False])
def test_the_compiled_network_check_agrees_with_numpy(directed):
    """storage.panel.is_valid_network: True exactly where the matrix is binary with a zero diagonal
    (and symmetric when undirected), on random defects; False (left to the callers' numpy checks,
    which name the defect) for what it does not read."""
    from dyadflow.storage.panel import is_valid_network

    rng = np.random.default_rng(5)
    for trial in range(300):
        n = int(rng.integers(1, 9))
        adj = (rng.random((n, n)) < 0.4).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1) | np.triu(adj, 1).T
        np.fill_diagonal(adj, 0)
        i, j = rng.integers(n, size=2)
        adj[i, j] = (0, 1, 2, 255)[trial % 4] if trial % 3 else adj[i, j]
        truth = bool(
            ((adj == 0) | (adj == 1)).all() and not np.diagonal(adj).any() and (directed or (adj == adj.T).all())
        )
        assert is_valid_network(adj, directed) == truth
    good = np.zeros((4, 4), np.uint8)
    assert is_valid_network(good, directed)
    read_only = good.copy()
    read_only.flags.writeable = False
    for other in (good.astype(np.int64), good.T[:, :3], np.asfortranarray(good[:, ::-1]), read_only):
        assert not is_valid_network(other, directed)
    assert not is_valid_network(np.zeros((3, 4), np.uint8), directed)
