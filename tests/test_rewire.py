"""Rewiring for sensitivity analysis: tie counts kept, shares exact, seeds reproducible, agreements
moved whole; and the sensitivity aggregation against hand-computed summaries."""

from __future__ import annotations

import numpy as np
import pytest

from dyadflow.tergm.rewire import RewireError, rewire_networks
from dyadflow.tergm.sensitivity import aggregate, simulation_seeds


def random_panel(n=20, periods=4, density=0.15, directed=True, seed=1):
    rng = np.random.default_rng(seed)
    networks = []
    adj = (rng.random((n, n)) < density).astype(np.uint8)
    for _ in range(periods):
        flip = rng.random((n, n)) < 0.05  # ties persist mostly, so agreements span periods
        adj = (adj ^ flip).astype(np.uint8)
        np.fill_diagonal(adj, 0)
        if not directed:
            upper = np.triu(adj, 1)
            adj = upper | upper.T
        networks.append(adj.copy())
    return networks


def tie_count(adj, directed):
    return int(adj.sum()) if directed else int(np.triu(adj, 1).sum())


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("mode", ["period", "agreement"])
@pytest.mark.parametrize("share", [0.0, 0.1, 0.5, 0.9])
def test_rewiring_keeps_every_periods_tie_count(directed, mode, share):
    networks = random_panel(directed=directed)
    rewired = rewire_networks(networks, share, np.random.default_rng(7), directed=directed, mode=mode)
    for before, after in zip(networks, rewired):
        assert after.dtype == np.uint8 and after.shape == before.shape
        assert tie_count(after, directed) == tie_count(before, directed)
        assert not np.diagonal(after).any()
        assert set(np.unique(after)) <= {0, 1}
        if not directed:
            assert np.array_equal(after, after.T)


@pytest.mark.parametrize("mode", ["period", "agreement"])
def test_zero_share_is_the_observed_networks(mode):
    networks = random_panel()
    rewired = rewire_networks(networks, 0.0, np.random.default_rng(3), directed=True, mode=mode)
    assert all(np.array_equal(a, b) for a, b in zip(networks, rewired))


@pytest.mark.parametrize("directed", [True, False])
def test_period_mode_moves_exactly_the_share_of_each_periods_ties(directed):
    networks = random_panel(n=30, directed=directed)
    share = 0.3
    rewired = rewire_networks(networks, share, np.random.default_rng(11), directed=directed, mode="period")
    mask = ~np.eye(30, dtype=bool) if directed else np.triu(np.ones((30, 30), dtype=bool), 1)
    for before, after in zip(networks, rewired):
        ties = tie_count(before, directed)
        removed = int(((before == 1) & (after == 0) & mask).sum())
        added = int(((before == 0) & (after == 1) & mask).sum())
        assert removed == added == round(share * ties)


def test_full_rewiring_keeps_no_observed_tie():
    networks = random_panel(n=30, density=0.1)
    rewired = rewire_networks(networks, 1.0, np.random.default_rng(5), directed=True, mode="period")
    for before, after in zip(networks, rewired):
        assert not ((before == 1) & (after == 1)).any()


def test_same_seed_same_networks_other_seed_other_networks():
    networks = random_panel()
    a = rewire_networks(networks, 0.4, np.random.default_rng(99), directed=True)
    b = rewire_networks(networks, 0.4, np.random.default_rng(99), directed=True)
    c = rewire_networks(networks, 0.4, np.random.default_rng(100), directed=True)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("directed", [True, False])
def test_agreement_mode_moves_persistent_ties_as_one(directed):
    networks = random_panel(n=25, periods=5, directed=directed)
    share = 0.5
    rewired = rewire_networks(networks, share, np.random.default_rng(21), directed=directed, mode="agreement")
    before = np.stack(networks).astype(bool)
    after = np.stack(rewired).astype(bool)
    mask = ~np.eye(25, dtype=bool) if directed else np.triu(np.ones((25, 25), dtype=bool), 1)
    observed = before.any(axis=0) & mask
    kept = observed & (before == after).all(axis=0)
    moved = observed & ~kept
    # An agreement is either untouched in every period or gone from every period.
    assert not (moved & after.any(axis=0)).any()
    assert moved.sum() == round(share * observed.sum())
    # Each moved agreement's period pattern reappears on exactly one new dyad: the multiset of
    # period patterns of new dyads equals that of the moved agreements.
    new = after.any(axis=0) & mask & ~observed
    pattern = lambda cube, where: sorted(tuple(cube[:, i, j]) for i, j in np.argwhere(where))
    assert pattern(after, new) == pattern(before, moved)


def test_agreement_mode_with_nodes_entering_and_leaving():
    rng = np.random.default_rng(4)
    nodes = [["a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e", "f"], ["b", "c", "d", "e", "f"]]
    networks = []
    for labels in nodes:
        adj = (rng.random((len(labels), len(labels))) < 0.4).astype(np.uint8)
        np.fill_diagonal(adj, 0)
        networks.append(adj)
    rewired = rewire_networks(networks, 0.5, np.random.default_rng(8), directed=True, mode="agreement", nodes=nodes)
    for before, after in zip(networks, rewired):
        assert after.shape == before.shape
        assert after.sum() == before.sum()


def test_bad_share_and_mode_are_named():
    networks = random_panel()
    with pytest.raises(RewireError, match="share"):
        rewire_networks(networks, 1.5, np.random.default_rng(0), directed=True)
    with pytest.raises(RewireError, match="mode"):
        rewire_networks(networks, 0.5, np.random.default_rng(0), directed=True, mode="whole")


def test_simulation_seeds_depend_only_on_seed_level_and_simulation():
    seeds = simulation_seeds(2021, [0.1, 0.2, 0.3], 4)
    assert seeds.shape == (3, 4)
    assert len(np.unique(seeds)) == 12
    assert np.array_equal(simulation_seeds(2021, [0.1, 0.2], 2), seeds[:2, :2])
    assert not np.array_equal(simulation_seeds(2022, [0.1, 0.2, 0.3], 4), seeds)


def test_aggregate_matches_hand_computed_summaries():
    names = ["edges", "gwesp"]
    baseline = {"edges": -2.0, "gwesp": 0.5}
    level_a = np.array([[-1.0, 0.2], [-3.0, -0.2], [-2.0, 0.3], [np.nan, 0.1]])
    table = aggregate(baseline, {0.5: level_a, 0.1: level_a[:2]}, names)
    assert list(table.level) == [0.1, 0.1, 0.5, 0.5]
    row = table[(table.level == 0.5) & (table.term == "gwesp")].iloc[0]
    valid = np.array([0.2, -0.2, 0.3])
    assert row["mean"] == pytest.approx(valid.mean())
    assert row["sd"] == pytest.approx(valid.std(ddof=1))
    assert row["q025"] == pytest.approx(np.quantile(valid, 0.025))
    assert row["mean_minus_baseline"] == pytest.approx(valid.mean() - 0.5)
    assert row["sign_kept"] == pytest.approx(2 / 3)
    assert row["refits"] == 3 and row["failed"] == 1
    edges = table[(table.level == 0.1) & (table.term == "edges")].iloc[0]
    assert edges["mean"] == pytest.approx(-2.0) and edges["sign_kept"] == 1.0
    with pytest.raises(ValueError, match="lacks"):
        aggregate({"edges": 1.0}, {0.1: level_a}, names)


@pytest.mark.parametrize("directed", [True, False])
def test_period_rewiring_of_periods_of_different_sizes_draws_as_one_period_at_a_time(directed):
    """Periods of other sizes draw, dyad by dyad, as each period rewired alone, in period order."""
    from dyadflow.tergm.rewire import _rewire_one

    networks = [random_panel(n=n, periods=1, density=0.2, directed=directed, seed=n)[0] for n in (9, 14, 5, 14)]
    rewired = rewire_networks(networks, 0.4, np.random.default_rng(3), directed=directed)
    rng = np.random.default_rng(3)
    for before, after in zip(networks, rewired):
        alone = _rewire_one(before, 0.4, rng, directed)
        np.testing.assert_array_equal(after, alone)
        assert not np.array_equal(after, before)


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("density", [0.02, 0.3, 0.9])
def test_period_rewiring_draws_the_non_ties_as_choice_of_their_positions_would(directed, density):
    """_rewire_one finds the drawn non-ties from their ranks: the same networks, draw for draw, as
    rng.choice over the array of non-tie positions (the algorithm it replaces)."""
    from dyadflow.tergm.rewire import _dyad_mask, _rewire_one

    adj = random_panel(n=23, periods=1, density=density, directed=directed, seed=int(density * 100))[0]
    mask = _dyad_mask(23, directed)
    for share in (0.1, 0.5, 1.0):
        if round(share * (adj[mask] == 1).sum()) > (adj[mask] == 0).sum():
            continue
        rng, reference_rng = np.random.default_rng(11), np.random.default_rng(11)
        flat = adj[mask]
        ties, non_ties = np.flatnonzero(flat == 1), np.flatnonzero(flat == 0)
        k = int(round(share * len(ties)))
        expected = flat.copy()
        expected[reference_rng.choice(ties, size=k, replace=False)] = 0
        expected[reference_rng.choice(non_ties, size=k, replace=False)] = 1
        got = _rewire_one(adj, share, rng, directed)
        np.testing.assert_array_equal(got[mask], expected)
        assert rng.random() == reference_rng.random()  # the same draws consumed
