"""The period engine (tergm.engine) against the in-memory estimator: the same bits, in any order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from reference_designs import KNECHT_MODELS, knecht_design

from dyadflow.storage.panel import Panel
from dyadflow.tergm import mple
from dyadflow.tergm.api import fit_design
from dyadflow.tergm.bootstrap import draw_resamples, fit_replicates, resample_counts
from dyadflow.tergm.design import build_design, parse_model
from dyadflow.tergm.engine import (
    LocalPeriods,
    PeriodContributions,
    combine_periods,
    fit_periods,
    fit_replicates_periods,
    mple_periods,
    newton_periods,
    replicates_periods,
    stacked_design,
)
from dyadflow.tergm.estimate import CollinearityError, EstimationError, SeparationError, evaluate, newton

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
    assert (np.diff(design.offsets) > 2048).all()  # estimate.BLOCK_ROWS
    return panel, design


def periods_of(design, map_fn=map, threads=1):
    return LocalPeriods.from_design(design, map_fn, threads)


def assert_same_result(a, b):
    for field in ("coef", "totals", "iterations", "status", "last_step"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def assert_same_mple(a, b):
    for field in ("coef", "iterations", "loglik", "deviance", "null_deviance", "score", "information", "nobs"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_mple_bit_identical(panel_design):
    _, design = panel_design
    T, p = design.n_periods, len(design.names)
    ones, zeros = np.ones((1, T), np.int64), np.zeros((1, p))
    assert_same_result(newton_periods(periods_of(design), ones, zeros, 50), newton(design, ones, zeros, 50))
    assert_same_mple(mple_periods(periods_of(design)), mple(design))


def test_replicates_bit_identical_in_any_order(panel_design):
    _, design = panel_design
    T = design.n_periods
    full = mple(design)
    resamples = draw_resamples(T, 12, 3)
    counts = resample_counts(resamples, T)  # periods counted 0, 1, 2, ... times
    starts = np.repeat(full.coef[None], len(counts), axis=0)
    in_memory = newton(design, counts, starts, 25)
    assert_same_result(newton_periods(periods_of(design), counts, starts, 25), in_memory)

    def reversed_map(function, items):  # answer the last period first, as a slow worker might
        return list(map(function, list(items)[::-1]))[::-1]

    assert_same_result(newton_periods(periods_of(design, reversed_map), counts, starts, 25), in_memory)
    with ThreadPoolExecutor(3) as pool:
        assert_same_result(newton_periods(periods_of(design, pool.map), counts, starts, 25), in_memory)
    assert_same_result(newton_periods(periods_of(design, threads=2), counts, starts, 25), in_memory)
    # the bootstrap's replicates, warm-started with per-period sums shared by the replicates
    replicates = fit_replicates(design, full.coef, resamples)
    assert replicates.converged.all()
    engine = fit_replicates_periods(periods_of(design), full.coef, resamples)
    for field in ("coef", "iterations", "converged"):
        assert np.array_equal(getattr(engine, field), getattr(replicates, field)), field
    with ThreadPoolExecutor(2) as pool:
        threaded = replicates_periods(periods_of(design, pool.map), full.coef, counts)
    assert np.array_equal(threaded.coef, engine.coef)


def test_whole_fit_bit_identical(panel_design):
    _, design = panel_design
    in_memory = fit_design(design, R=30, seed=5, batch_size=7)
    engine = fit_periods(periods_of(design), R=30, seed=5, batch_size=11)  # another batching: same bits
    assert_same_mple(engine.mple, in_memory.mple)
    assert np.array_equal(engine.replicates, in_memory.replicates)
    assert np.array_equal(engine.resamples, in_memory.resamples)
    assert np.array_equal(engine.replicate_converged, in_memory.replicate_converged)


def test_periods_built_from_the_panel(panel_design):
    panel, design = panel_design
    model = parse_model(FORMULA, panel)
    built = LocalPeriods([PeriodContributions.build(model, panel, t) for t in model.likelihood_periods], model.names)
    counts = np.ones((1, design.n_periods), np.int64)
    coef = np.array([[-2.0, 0.3, -0.5, 0.2, 3.0]])
    answers = built.contributions([(coef, np.ones(1, np.int64), True)] * design.n_periods)
    assert np.array_equal(combine_periods(answers, counts), evaluate(design, counts, coef))


@pytest.mark.parametrize("model", KNECHT_MODELS)
def test_knecht_bit_identical(model):
    design = knecht_design(model)
    T, p = design.n_periods, len(design.names)
    counts = np.vstack([np.ones(T, np.int64), resample_counts(draw_resamples(T, 5, 11), T)])
    start = np.zeros((len(counts), p))
    assert_same_result(newton_periods(periods_of(design), counts, start, 50), newton(design, counts, start, 50))


def test_replicates_without_an_mle_and_diagnostics_read_the_rows():
    """A replicate without an MLE gets btergm's glm.fit value, and the full fit's collinearity and
    separation errors are those of the in-memory estimator: the period set gathers its rows for them."""
    rng = np.random.default_rng(2)
    rows = [rng.normal(size=(60, 2)) for _ in range(4)]
    ys = [(rng.random(60) < 0.4).astype(float) for _ in range(4)]
    rows[0][:, 1] = 0.0  # term 2 is zero in period 0 ...
    rows[1][:, 1] = 0.0  # ... and period 1, and separates the ties in the others
    for t in (2, 3):
        ys[t] = (rows[t][:, 1] > 0).astype(float)
    X = np.column_stack([np.ones(240), np.concatenate(rows)])
    design_rows = [(X[60 * t : 60 * (t + 1)], ys[t]) for t in range(4)]
    design = stacked_design(["edges", "a", "b"], design_rows)
    periods = LocalPeriods([PeriodContributions(X, y) for X, y in design_rows], design.names)
    with pytest.raises(SeparationError) as in_memory:
        mple(design)
    with pytest.raises(SeparationError) as engine:
        mple_periods(periods)
    assert str(engine.value) == str(in_memory.value)
    resamples = np.array([[0, 0, 1, 1], [0, 1, 0, 1], [2, 3, 0, 0]])
    start = np.array([-0.4, 0.1, 0.0])
    expected = fit_replicates(design, start, resamples)
    got = fit_replicates_periods(periods, start, resamples)
    assert not expected.converged.all()
    assert np.array_equal(got.coef, expected.coef, equal_nan=True)
    assert got.diverging == expected.diverging
    collinear_rows = [(np.column_stack([x[:, :2], 2 * x[:, 1]]), y) for x, y in design_rows]
    collinear = stacked_design(["edges", "a", "twice a"], collinear_rows)
    with pytest.raises(CollinearityError) as in_memory:
        mple(collinear)
    with pytest.raises(CollinearityError) as engine:
        mple_periods(LocalPeriods([PeriodContributions(x, y) for x, y in collinear_rows], collinear.names))
    assert str(engine.value) == str(in_memory.value)


def test_contributions_are_sums_over_rows(panel_design):
    """A period's sums, checked against numpy's float64 formulas to rounding, with the count applied."""
    _, design = panel_design
    period = PeriodContributions.from_design(design, 2)
    coef = np.array([[-2.0, 0.3, -0.5, 0.2, 3.0], [-1.0, 0.1, 0.0, 0.1, 2.0]])
    counts = np.array([1, 3])
    sums = period.contributions(coef, counts)
    p = coef.shape[1]
    assert sums.shape == (2, 1 + p + p * (p + 1) // 2)
    X, y = period.X, period.y
    for f in range(2):
        eta = X @ coef[f]
        prob = 1 / (1 + np.exp(-eta))
        loglik = np.sum(y * eta - np.logaddexp(0, eta))
        info = (X * (prob * (1 - prob))[:, None]).T @ X
        np.testing.assert_allclose(sums[f, 0], counts[f] * loglik, rtol=1e-12)
        np.testing.assert_allclose(sums[f, 1 : 1 + p], counts[f] * (X.T @ (y - prob)), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(sums[f, 1 + p :], counts[f] * info[np.triu_indices(p)], rtol=1e-12)


def test_float32_exact_columns_are_kept_as_float32(panel_design):
    """The compact form: edges (1.0), gwdegree's integer-valued columns and the like as float32,
    the others float64; the kernel reads both exactly (the bit-identity tests above use it)."""
    _, design = panel_design
    period = PeriodContributions.from_design(design, 2)
    rows = design.X[design.period_rows(2)]
    exact = (rows.astype(np.float32) == rows).all(axis=0)
    assert exact[design.names.index("edges")] and not exact.all()
    assert period.X32.shape[1] == exact.sum() and period.X64.shape[1] == (~exact).sum()
    assert np.array_equal(period.X, rows)
    assert period.nbytes < rows.nbytes + period.y.nbytes


def test_bad_input_is_named():
    with pytest.raises(EstimationError, match="y"):
        PeriodContributions(np.zeros((3, 2)), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(EstimationError, match="threads"):
        PeriodContributions(np.zeros((2, 2)), np.zeros(2), threads=0)
    with pytest.raises(EstimationError, match="X"):
        PeriodContributions(np.full((2, 2), np.nan), np.zeros(2))
    period = PeriodContributions(np.ones((4, 2)), np.array([0.0, 1.0, 1.0, 0.0]))
    with pytest.raises(EstimationError, match="coef_batch"):
        period.contributions(np.zeros((1, 3)), np.ones(1))
    with pytest.raises(EstimationError, match="counts"):
        period.contributions(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(EstimationError, match="terms"):
        LocalPeriods([period], ["edges"])
    periods = LocalPeriods([period], ["a", "b"])
    with pytest.raises(EstimationError, match="counts"):
        newton_periods(periods, np.ones((1, 2), np.int64), np.zeros((1, 2)), 5)
    with pytest.raises(EstimationError, match="start"):
        newton_periods(periods, np.ones((1, 1), np.int64), np.zeros((1, 3)), 5)
