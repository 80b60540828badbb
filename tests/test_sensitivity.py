"""tergm.sensitivity.rewiring_sensitivity without flows: each refit equals an independent rewire +
rebuild + fit from its seed, a pickled refit (as Dask ships it) gives the same numbers, the mapping of
the jobs does not matter, and level 0 reproduces the baseline."""

from __future__ import annotations

import pickle

import numpy as np

import dyadflow
from dyadflow.storage.panel import Panel
from dyadflow.tergm import mple
from dyadflow.tergm.design import build_design
from dyadflow.tergm.rewire import rewire_networks
from dyadflow.tergm.sensitivity import (
    RewiredRefit,
    rewiring_jobs,
    rewiring_sensitivity,
    simulation_seeds,
    started_jobs,
)

FORMULA = "y ~ edges + triangle + edgecov(dist) + memory"
LEVELS = [0.0, 0.25]
SIMULATIONS = 3


def _panel() -> Panel:
    rng = np.random.default_rng(21)
    n, networks, distances = 12, [], []
    for _ in range(4):
        adj = np.triu((rng.random((n, n)) < 0.25).astype(np.uint8), 1)
        dist = np.triu(rng.normal(size=(n, n)), 1)
        networks.append(adj | adj.T)
        distances.append(dist + dist.T)
    return Panel.from_arrays(networks, directed=False, dyad_covariates={"dist": distances})


def test_refits_are_independent_rewire_rebuild_fit():
    panel = _panel()
    fit = dyadflow.btergm(FORMULA, panel, R=1)
    table, estimates = rewiring_sensitivity(FORMULA, panel, fit.coef, levels=LEVELS, simulations=SIMULATIONS, seed=7)
    assert estimates.shape == (len(LEVELS), SIMULATIONS, len(fit.names))
    seeds = simulation_seeds(7, LEVELS, SIMULATIONS)
    assert rewiring_jobs(7, LEVELS, SIMULATIONS) == [
        (float(level), int(seeds[i, s])) for i, level in enumerate(LEVELS) for s in range(SIMULATIONS)
    ]
    for s in range(SIMULATIONS):
        assert np.array_equal(estimates[0, s], fit.coef.to_numpy())  # nothing rewired: the baseline, bit for bit
        networks = rewire_networks(
            [p.network for p in panel],
            0.25,
            np.random.default_rng(int(seeds[1, s])),
            directed=False,
            nodes=[p.nodes for p in panel],
        )
        # the level's first refit starts at the baseline, the others at the first's estimate
        start = fit.coef.to_numpy() if s == 0 else estimates[1, 0]
        expected = mple(build_design(FORMULA, panel.with_networks(networks)), start=start).coef
        assert np.array_equal(estimates[1, s], expected)
        # and the answer is the MPLE whatever the start: the same to rounding
        from_baseline = mple(build_design(FORMULA, panel.with_networks(networks)), start=fit.coef.to_numpy()).coef
        np.testing.assert_allclose(estimates[1, s], from_baseline, rtol=1e-12, atol=1e-12)
    zero = table[table.level == 0.0].set_index("term").loc[fit.names]
    assert np.array_equal(zero["baseline"].to_numpy(), fit.coef.to_numpy())
    assert list(table.term.unique()) == fit.names


def test_a_shipped_refit_and_any_mapping_give_the_same_numbers():
    panel = _panel()
    fit = dyadflow.btergm(FORMULA, panel, R=1)
    refit = RewiredRefit(panel, FORMULA, "period", fit.coef.to_numpy())
    shipped = pickle.loads(pickle.dumps(refit))  # what Dask does; the cached designs are not sent
    assert shipped._observed is None
    jobs = rewiring_jobs(3, LEVELS, SIMULATIONS)
    here = [refit(job) for job in jobs]
    assert all(np.array_equal(a, shipped(job)) for a, job in zip(here, jobs))
    _, in_order = rewiring_sensitivity(FORMULA, panel, fit.coef, levels=LEVELS, simulations=SIMULATIONS, seed=3)
    _, reversed_map = rewiring_sensitivity(
        FORMULA,
        panel,
        fit.coef,
        levels=LEVELS,
        simulations=SIMULATIONS,
        seed=3,
        map_jobs=lambda fn, items: [fn(item) for item in items[::-1]][::-1],
    )
    assert np.array_equal(in_order, reversed_map)
    pilots = jobs[::SIMULATIONS]
    started = started_jobs(jobs, SIMULATIONS, [refit(job) for job in pilots], fit.coef.to_numpy())
    assert [job[:2] for job in started] == [job for job in jobs if job not in pilots]
    assert np.array_equal(in_order[:, 0], np.asarray([here[jobs.index(job)] for job in pilots]))
    assert np.array_equal(in_order[:, 1:].reshape(-1, len(fit.names)), np.asarray([shipped(job) for job in started]))
