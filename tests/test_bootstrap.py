"""Bootstrap replicates, intervals and standard errors against btergm's; batching invariance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from reference_designs import (
    KNECHT_MODELS,
    knecht_coef_table,
    knecht_design,
    knecht_replicates,
    knecht_resamples,
    knecht_results,
)
from scipy.stats import norm
from test_estimate import simple_design

from dyadflow.tergm import Fit, SeparationWarning, fit_design, mple
from dyadflow.tergm.bootstrap import (
    btergm_standard_errors,
    draw_resamples,
    percentile_interval,
    replicate_batch,
)
from dyadflow.tergm.estimate import EstimationError


@pytest.fixture(scope="module", params=KNECHT_MODELS)
def replayed(request):
    model = request.param
    design = knecht_design(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no replicate of the reference runs lacks an MLE
        fit = fit_design(design, resamples=knecht_resamples(model))
    return model, design, fit


def test_replicates_match_btergm(replayed):
    model, _, fit = replayed
    expected = knecht_replicates(model)
    assert fit.replicates.shape == expected.shape
    np.testing.assert_allclose(fit.replicates, expected, rtol=1e-5, atol=1e-7)
    assert fit.replicate_converged.all()


def test_intervals_and_standard_errors_match_btergm(replayed):
    model, design, fit = replayed
    table = knecht_coef_table(model).loc[design.names]
    ci = fit.ci()
    np.testing.assert_allclose(ci["Estimate"], table["estimate"], rtol=1e-6)
    np.testing.assert_allclose(ci["2.5%"], table["ci_lower_2.5"], rtol=1e-5)
    np.testing.assert_allclose(ci["97.5%"], table["ci_upper_97.5"], rtol=1e-5)
    se = fit.standard_errors()
    np.testing.assert_allclose(se["boot_mean"], table["boot_mean"], rtol=1e-5)
    np.testing.assert_allclose(se["boot_sd"], table["boot_sd"], rtol=1e-5)
    np.testing.assert_allclose(se["Std.Err"], table["boot_se_rms"], rtol=1e-5)
    np.testing.assert_allclose(se["z"], table["z_btergm"], rtol=1e-4)
    # p-values below ~1e-300 underflow to 0 in R as here
    np.testing.assert_allclose(se["p"], table["p_btergm"], rtol=1e-3, atol=1e-300)
    ref = knecht_results(model)
    assert fit.nobs_btergm == ref["nobs_dyads"]
    assert fit.nobs == design.X.shape[0]


def test_intervals_from_btergms_own_replicates():
    """norm.inter on R's replicates gives R's printed interval to the last digit."""
    for model in ("knecht_model2a", "knecht_gw_undirected_sym"):
        table = knecht_coef_table(model)
        t = knecht_replicates(model)
        for j, term in enumerate(table.index):
            lower, upper = percentile_interval(t[:, j])
            assert lower == pytest.approx(table.loc[term, "ci_lower_2.5"], rel=1e-14)
            assert upper == pytest.approx(table.loc[term, "ci_upper_97.5"], rel=1e-14)
        stats = btergm_standard_errors(t, table["estimate"].to_numpy())
        np.testing.assert_allclose(stats["se"], table["boot_se_rms"], rtol=1e-13)


def test_norm_inter_closed_form():
    t = np.arange(1.0, 200.0)  # R = 199: (R+1)*alpha = 5 and 195 (up to rounding): those order statistics
    assert percentile_interval(t, 0.95) == pytest.approx((5.0, 195.0), rel=1e-12)
    t = np.arange(1.0, 101.0)  # R = 100: 101*0.025 = 2.525 -> between the 2nd and 3rd
    a, k = 0.025, 2
    expected = 2 + (norm.ppf(a) - norm.ppf(k / 101)) / (norm.ppf((k + 1) / 101) - norm.ppf(k / 101))
    assert percentile_interval(t, 0.95)[0] == pytest.approx(expected, rel=1e-15)
    # extreme order statistics are the endpoints; non-finite replicates are dropped
    assert percentile_interval(np.array([3.0, 1.0, np.nan, 2.0]), 0.95) == (1.0, 3.0)


def test_draws_are_seeded_and_in_range():
    a = draw_resamples(31, 100, seed=7)
    assert a.shape == (100, 31) and a.min() >= 0 and a.max() <= 30
    np.testing.assert_array_equal(a, draw_resamples(31, 100, seed=7))
    assert not np.array_equal(a, draw_resamples(31, 100, seed=8))


def test_same_seed_same_numbers():
    design = knecht_design("knecht_gw_directed")
    a = fit_design(design, R=20, seed=99)
    b = fit_design(design, R=20, seed=99, batch_size=3)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    np.testing.assert_array_equal(a.resamples, b.resamples)


def test_replicates_bit_identical_in_any_batch():
    design = knecht_design("knecht_model2b_doc")
    start = mple(design).coef
    resamples = draw_resamples(design.n_periods, 12, seed=3)
    together = replicate_batch(design, start, resamples)
    alone = np.vstack([replicate_batch(design, start, resamples[r : r + 1]) for r in range(12)])
    reordered = replicate_batch(design, start, resamples[::-1])[::-1]
    mixed = replicate_batch(design, start, np.vstack([resamples[5:], resamples[:5]]))
    mixed = np.vstack([mixed[7:], mixed[:7]])
    for other in (alone, reordered, mixed):
        assert np.array_equal(together, other)  # bit for bit, not approximately


def test_map_batches_and_progress():
    design = knecht_design("knecht_gw_undirected_sym")
    seen, calls = [], []

    def mapper(fn, batches):
        seen.append([len(b) for b in batches])
        return [fn(b) for b in reversed(batches)][::-1]  # run out of order, return in order

    fit = fit_design(
        design, R=10, seed=1, map_batches=mapper, batch_size=4, progress=lambda done, total: calls.append((done, total))
    )
    local = fit_design(design, R=10, seed=1, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert seen == [[4, 4, 2]]
    assert np.array_equal(fit.replicates, local.replicates)
    assert calls == [(10, 10), (4, 10), (8, 10), (10, 10)]


def test_replicate_without_mle_keeps_glm_value_and_warns():
    """A replicate that draws only the period where a covariate separates ties: no finite MLE. btergm
    reports glm.fit's last iterate; so do we, flagged and with a warning naming the term."""
    rng = np.random.default_rng(4)
    n = 400
    x = (rng.random(2 * n) < 0.3).astype(float)
    y = np.where(x == 1, rng.random(2 * n) < 0.5, rng.random(2 * n) < 0.1)
    y[:n] = np.where(x[:n] == 1, 1, y[:n])  # in period 0 every dyad with x = 1 is a tie
    X = np.column_stack([np.ones(2 * n), x, rng.normal(size=2 * n)])
    design = simple_design(X, y, ["edges", "edgecov.x", "edgecov.z"], offsets=[0, n, 2 * n])
    resamples = np.array([[0, 0], [0, 1], [1, 1]])
    with pytest.warns(SeparationWarning, match="edgecov.x"):
        fit = fit_design(design, resamples=resamples)
    assert list(fit.replicate_converged) == [False, True, True]
    from dyadflow.tergm.estimate import glm_compatible_fit

    glm = glm_compatible_fit(design, [2, 0])
    assert abs(glm.last_step[1]) > 0.5  # still moving ~1 per iteration when glm.fit's criterion stopped it
    np.testing.assert_array_equal(fit.replicates[0], glm.coef)
    assert fit.replicates[0, 1] > 15  # the diverging coefficient, where glm.fit stopped
    np.testing.assert_allclose(fit.replicates[1], mple(design, period_weights=[1, 1]).coef, rtol=1e-12)


def test_resamples_are_validated():
    design = knecht_design("knecht_gw_directed")
    with pytest.raises(EstimationError, match="0-based"):
        fit_design(design, resamples=np.array([[1, 2, 3]]))
    with pytest.raises(EstimationError, match="R must be"):
        draw_resamples(3, 0, seed=1)


def test_fit_tables(replayed):
    model, design, fit = replayed
    assert isinstance(fit, Fit)
    assert list(fit.coef.index) == design.names
    frame = fit.to_frame()
    assert list(frame.index) == design.names
    assert {"Estimate", "2.5%", "97.5%", "Std.Err", "boot_mean"} <= set(frame.columns)
    table = fit.design()
    assert len(table) == design.X.shape[0] and list(table.columns[-len(design.names) :]) == design.names
    np.testing.assert_array_equal(table[design.names].to_numpy(), design.X)
    assert fit.ci(0.9)["5%"].le(fit.ci(0.95)["2.5%"].add(1e300)).all()
    text = fit.summary()
    assert "Bootstrapping sample size: 100" in text and design.names[0] in text


def test_replicates_skip_the_information_at_their_last_points_and_keep_their_estimates(monkeypatch):
    """fit_replicates' Newton iteration asks no information at the points after steps below 1e-7
    (estimate.newton_iterations' final_information=False): the replicates, their iterations and
    statuses are those of the iteration that evaluates the information everywhere, bit for bit."""
    import dyadflow.tergm.estimate as estimate
    from dyadflow.tergm.bootstrap import REPLICATE_MAX_ITER, fit_replicates, resample_counts, warm_start_totals
    from dyadflow.tergm.estimate import evaluate, newton

    asked = []
    kernel = estimate._evaluate
    monkeypatch.setattr(estimate, "_evaluate", lambda *args: asked.append(args[-1]) or kernel(*args))

    design = knecht_design("knecht_gw_directed")
    start = mple(design).coef
    resamples = np.random.default_rng(3).integers(0, design.n_periods, size=(12, design.n_periods))
    counts = resample_counts(resamples, design.n_periods)
    T = design.n_periods
    at_start = evaluate(design, np.eye(T, dtype=np.int64), np.repeat(start[None, :], T, axis=0))
    starts = np.repeat(start[None, :], len(counts), axis=0)
    exact = newton(design, counts, starts, REPLICATE_MAX_ITER, warm_start_totals(at_start, counts))
    got = fit_replicates(design, start, resamples)
    assert np.array_equal(got.coef, exact.coef) and np.array_equal(got.iterations, exact.iterations)
    assert np.array_equal(got.converged, exact.status == 0)
    assert False in asked  # some evaluation went without the information
