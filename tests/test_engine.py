"""The period engine (tergm.engine) against the in-memory estimator: the same bits, in any order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from reference_designs import KNECHT_MODELS, knecht_design

from dyadflow.storage.panel import Panel
from dyadflow.tergm import mple
from dyadflow.tergm.bootstrap import REPLICATE_MAX_ITER, draw_resamples, fit_replicates, resample_counts
from dyadflow.tergm.design import build_design, parse_model
from dyadflow.tergm.engine import PeriodContributions, combine_periods, newton_periods, replicates_periods
from dyadflow.tergm.estimate import BLOCK_ROWS, EstimationError, evaluate, newton

FORMULA = "y ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.1, fixed=TRUE) + edgecov(trade) + memory(type='stability')"


def persistent_panel(nodes: int, periods: int, seed: int = 7) -> Panel:
    """Undirected ties that persist (90 %) and form more often near each other and with trade."""
    rng = np.random.default_rng(seed)
    position = rng.normal(size=(nodes, 2))
    distance = np.sqrt(((position[:, None] - position[None]) ** 2).sum(-1))
    trade = rng.gamma(2.0, 1.0, size=(nodes, nodes))
    trade = (trade + trade.T) / 2
    adj = np.zeros((nodes, nodes), np.uint8)
    networks = []
    for _ in range(periods):
        new = rng.random((nodes, nodes)) < 1 / (1 + np.exp(4.0 + 1.5 * distance - 0.3 * trade))
        adj = ((adj == 1) & (rng.random((nodes, nodes)) < 0.9)) | new
        adj = np.triu(adj, 1).astype(np.uint8)
        adj = adj | adj.T
        networks.append(adj.copy())
    return Panel.from_arrays(networks, directed=False, dyad_covariates={"trade": trade})


@pytest.fixture(scope="module")
def panel_design():
    panel = persistent_panel(80, 7)  # 3,160 dyads a period: two row blocks, the second partial
    design = build_design(FORMULA, panel)
    assert (np.diff(design.offsets) > BLOCK_ROWS).all()
    return panel, design


def periods_of(design):
    return [PeriodContributions.from_design(design, t) for t in range(design.n_periods)]


def assert_same_result(a, b):
    for field in ("coef", "totals", "iterations", "status", "last_step"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_mple_bit_identical(panel_design):
    _, design = panel_design
    T, p = design.n_periods, len(design.names)
    ones, zeros = np.ones((1, T), np.int64), np.zeros((1, p))
    engine = newton_periods(periods_of(design), ones, zeros, 50)
    assert_same_result(engine, newton(design, ones, zeros, 50))
    assert np.array_equal(engine.coef[0], mple(design).coef)


def test_replicates_bit_identical_in_any_order(panel_design):
    _, design = panel_design
    T = design.n_periods
    full = mple(design)
    counts = resample_counts(draw_resamples(T, 12, 3), T)  # periods counted 0, 1, 2, ... times
    starts = np.repeat(full.coef[None], len(counts), axis=0)
    in_memory = newton(design, counts, starts, 25)
    periods = periods_of(design)
    assert_same_result(newton_periods(periods, counts, starts, 25), in_memory)

    def reversed_map(function, items):  # answer the last period first, as a slow worker might
        return list(map(function, items[::-1]))[::-1]

    assert_same_result(newton_periods(periods, counts, starts, 25, map_fn=reversed_map), in_memory)
    with ThreadPoolExecutor(3) as pool:
        assert_same_result(newton_periods(periods, counts, starts, 25, map_fn=pool.map), in_memory)
    two_threads = [PeriodContributions.from_design(design, t, threads=2) for t in range(T)]
    assert_same_result(newton_periods(two_threads, counts, starts, 25), in_memory)
    # the bootstrap's replicates, warm-started with per-period sums shared by the replicates
    replicates = fit_replicates(design, full.coef, draw_resamples(T, 12, 3))
    assert replicates.converged.all()
    engine = replicates_periods(periods, full.coef, counts, REPLICATE_MAX_ITER)
    assert np.array_equal(engine.coef, replicates.coef)
    assert np.array_equal(engine.iterations, replicates.iterations)
    with ThreadPoolExecutor(2) as pool:
        threaded = replicates_periods(periods, full.coef, counts, REPLICATE_MAX_ITER, map_fn=pool.map)
    assert_same_result(threaded, engine)


def test_periods_built_from_the_panel(panel_design):
    panel, design = panel_design
    model = parse_model(FORMULA, panel)
    built = [PeriodContributions.build(model, panel, t) for t in model.likelihood_periods]
    counts = np.ones((1, design.n_periods), np.int64)
    coef = np.array([[-2.0, 0.3, -0.5, 0.2, 3.0]])
    assert np.array_equal(
        combine_periods([period.contributions(coef) for period in built], counts), evaluate(design, counts, coef)
    )


@pytest.mark.parametrize("model", KNECHT_MODELS)
def test_knecht_bit_identical(model):
    design = knecht_design(model)
    T, p = design.n_periods, len(design.names)
    counts = np.vstack([np.ones(T, np.int64), resample_counts(draw_resamples(T, 5, 11), T)])
    start = np.zeros((len(counts), p))
    assert_same_result(newton_periods(periods_of(design), counts, start, 50), newton(design, counts, start, 50))


def test_contributions_are_per_block_sums(panel_design):
    """A period's blocks add up (in block order) to what the kernel gives for the period alone; the
    block sums are checked against numpy's float64 formulas to rounding."""
    _, design = panel_design
    period = PeriodContributions.from_design(design, 2)
    coef = np.array([[-2.0, 0.3, -0.5, 0.2, 3.0], [-1.0, 0.1, 0.0, 0.1, 2.0]])
    blocks = period.contributions(coef)
    p = coef.shape[1]
    assert blocks.shape == (2, period.n_blocks, 1 + p + p * (p + 1) // 2)
    one_period = np.zeros((1, design.n_periods), np.int64)
    one_period[0, 2] = 1
    for f in range(2):
        assert np.array_equal(blocks[f, 0] + blocks[f, 1], evaluate(design, one_period, coef[f : f + 1])[0])
        for k in range(period.n_blocks):
            X = period.X[k * BLOCK_ROWS : (k + 1) * BLOCK_ROWS]
            y = period.y[k * BLOCK_ROWS : (k + 1) * BLOCK_ROWS]
            eta = X @ coef[f]
            prob = 1 / (1 + np.exp(-eta))
            loglik = np.sum(y * eta - np.logaddexp(0, eta))
            info = (X * (prob * (1 - prob))[:, None]).T @ X
            packed = info[np.triu_indices(p)]
            np.testing.assert_allclose(blocks[f, k, 0], loglik, rtol=1e-12)
            np.testing.assert_allclose(blocks[f, k, 1 : 1 + p], X.T @ (y - prob), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(blocks[f, k, 1 + p :], packed, rtol=1e-12)


def test_bad_input_is_named():
    with pytest.raises(EstimationError, match="y"):
        PeriodContributions(np.zeros((3, 2)), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(EstimationError, match="threads"):
        PeriodContributions(np.zeros((2, 2)), np.zeros(2), threads=0)
    with pytest.raises(EstimationError, match="X"):
        PeriodContributions(np.full((2, 2), np.nan), np.zeros(2))
    period = PeriodContributions(np.ones((4, 2)), np.array([0.0, 1.0, 1.0, 0.0]))
    with pytest.raises(EstimationError, match="coef_batch"):
        period.contributions(np.zeros((1, 3)))
    with pytest.raises(EstimationError, match="counts"):
        newton_periods([period], np.ones((1, 2), np.int64), np.zeros((1, 2)), 5)
    with pytest.raises(EstimationError, match="start"):
        newton_periods([period], np.ones((1, 1), np.int64), np.zeros((1, 3)), 5)
