"""MPLE against R (glm on btergm's designs, ergm's MPLE), closed forms, and failure modes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import reference_path
from reference_designs import KNECHT_MODELS, knecht_design, knecht_results

from dyadflow.tergm.design import Design
from dyadflow.tergm.estimate import (
    CollinearityError,
    EstimationError,
    SeparationError,
    _pairwise_dot,
    _pairwise_log_product,
    _pairwise_sum,
    compressed_rows,
    evaluate,
    glm_compatible_fit,
    mple,
)


def simple_design(X, y, names, offsets=None) -> Design:
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    n = X.shape[0]
    offsets = np.array([0, n] if offsets is None else offsets, dtype=np.int64)
    T = len(offsets) - 1
    return Design(
        names=list(names),
        X=X,
        y=np.asarray(y, dtype=np.float64),
        offsets=offsets,
        periods=[str(t) for t in range(T)],
        dyads=np.zeros((n, 2), np.int64),
        nodes=[np.array(["a", "b"])] * T,
        directed=True,
    )


@pytest.mark.parametrize("model", KNECHT_MODELS)
def test_knecht_mple_matches_btergm(model):
    design, ref = knecht_design(model), knecht_results(model)
    fit = mple(design)
    expected = np.array([ref["coef"][name] for name in design.names])
    assert list(ref["coef"]) == design.names
    np.testing.assert_allclose(fit.coef, expected, rtol=1e-6)
    assert fit.converged
    np.testing.assert_allclose(fit.deviance, ref["glm_deviance"], rtol=1e-10)
    np.testing.assert_allclose(fit.null_deviance, ref["glm_null_deviance"], rtol=1e-10)
    np.testing.assert_allclose(fit.aic, ref["glm_aic"], rtol=1e-10)
    assert fit.nobs == ref["sum_weights"]
    # at the optimum the score is at rounding level
    assert np.max(np.abs(fit.score)) < 1e-9 * np.max(np.abs(design.X).sum(axis=0))


@pytest.mark.parametrize("model", KNECHT_MODELS)
def test_glm_emulation_matches_r_iterations(model):
    """glm_compatible_fit retraces glm.fit: same compressed rows, iteration count and estimates."""
    design, ref = knecht_design(model), knecht_results(model)
    index, _, _ = compressed_rows(design)
    assert len(index) == ref["n_rows_mple"]
    glm = glm_compatible_fit(design)
    assert glm.iterations == ref["glm_iter"] and glm.converged
    np.testing.assert_allclose(glm.coef, [ref["coef"][n] for n in design.names], rtol=1e-12)
    np.testing.assert_allclose(glm.deviance, ref["glm_deviance"], rtol=1e-12)


def test_ergm_mple_and_inverse_hessian_match_ergm():
    """ergm's MPLE of flomarriage ~ edges + triangle: estimate, invHess covariance, loglik."""
    import json

    frame = pd.read_csv(reference_path("mple_matrices/flomarriage_edges_triangle_mple_dyadlist.csv"))
    ref = json.loads(reference_path("results/ergm_crosssectional.json").read_text())["flomarriage_edges_triangle_MPLE"]
    names = list(ref["coef"])
    design = simple_design(frame[names].to_numpy(), frame["response"].to_numpy(), names)
    fit = mple(design)
    np.testing.assert_allclose(fit.coef, list(ref["coef"].values()), rtol=1e-9)
    # ergm evaluates the Hessian at glm's last iterate (deviance change < 1e-8), not the exact optimum
    np.testing.assert_allclose(fit.covariance, ref["vcov"], rtol=1e-5)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=1e-10)


def test_binary_covariate_closed_form():
    """edges + one binary covariate: the MLE is the log odds in each group."""
    rng = np.random.default_rng(3)
    x = rng.random(5000) < 0.3
    y = np.where(x, rng.random(5000) < 0.4, rng.random(5000) < 0.05)
    fit = mple(simple_design(np.column_stack([np.ones(5000), x]), y, ["edges", "nodematch.x"]))
    logodds = lambda v: math.log(v.mean() / (1 - v.mean()))
    base = logodds(y[~x])
    np.testing.assert_allclose(fit.coef, [base, logodds(y[x]) - base], rtol=1e-13)


def test_loglik_score_information_brute_force():
    rng = np.random.default_rng(5)
    X = np.column_stack([np.ones(300), rng.normal(size=300), rng.poisson(2, 300)])
    y = (rng.random(300) < 0.3).astype(float)
    design = simple_design(X, y, ["a", "b", "c"], offsets=[0, 120, 300])
    beta = np.array([-0.7, 0.3, 0.1])
    counts = np.array([[2, 1], [0, 3]])
    totals = evaluate(design, counts, np.vstack([beta, beta]))
    for fit, c in enumerate(counts):
        w = np.repeat(c, [120, 180]).astype(float)
        eta = X @ beta
        P = 1 / (1 + np.exp(-eta))
        ll = np.sum(w * (y * eta - np.log1p(np.exp(eta))))
        np.testing.assert_allclose(totals[fit, 0], ll, rtol=1e-13)
        np.testing.assert_allclose(totals[fit, 1:4], X.T @ (w * (y - P)), rtol=1e-12)
        H = X.T @ (X * (w * P * (1 - P))[:, None])
        np.testing.assert_allclose(totals[fit, 4:], H[np.triu_indices(3)], rtol=1e-12)


def _halving_sum(values) -> float:
    """The documented order in plain Python: element i plus element i + n/2, halving to one number."""
    values = list(values)
    while len(values) > 1:
        half = len(values) // 2
        values = [values[i] + values[i + half] for i in range(half)]
    return values[0]


@pytest.mark.parametrize("n", [16, 32, 512, 2048])
def test_row_sums_are_pairwise_in_the_documented_order(n):
    """The kernel's fused halvings add in exactly the order of one halving at a time (bit for bit, on
    values spread over ten orders of magnitude, where any other order rounds differently)."""
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(2, n)) * 10.0 ** rng.integers(-5, 5, size=(2, n))
    scratch = np.empty(n)
    assert _pairwise_sum(a, n, scratch) == _halving_sum(a)
    assert _pairwise_dot(a, b, n, scratch) == _halving_sum(a * b)
    factors = 1.0 + rng.random(n)  # 1 + exp(-|eta|) lies in (1, 2]
    assert math.isclose(_pairwise_log_product(factors, n, scratch), float(np.log(factors).sum()), rel_tol=1e-13)


def test_period_weights_equal_stacking_the_period_twice():
    design = knecht_design("knecht_gw_directed")
    weights = np.array([2, 0, 1])
    rows = [design.period_rows(0), design.period_rows(0), design.period_rows(2)]
    stacked = simple_design(
        np.vstack([design.X[r] for r in rows]), np.concatenate([design.y[r] for r in rows]), design.names
    )
    np.testing.assert_allclose(mple(design, period_weights=weights).coef, mple(stacked).coef, rtol=1e-10)


def test_start_values_do_not_change_the_answer():
    design = knecht_design("knecht_model2a")
    a = mple(design)
    b = mple(design, start=a.coef + 0.3)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-12)


@pytest.mark.parametrize("model", KNECHT_MODELS)
def test_coefficients_alone_are_the_mple_bit_for_bit(model, monkeypatch):
    """mple_coef: mple's estimate, from zero and from a start near it, with one evaluation fewer where
    the last step is taken unconfirmed, and without check_identified's Gram pass (the information at
    the start shows full rank)."""
    import dyadflow.tergm.estimate as estimate

    design = knecht_design(model)
    near = mple(design).coef + 0.01
    calls, saved = [], 0

    def counting_evaluate(*args):
        calls.append(args[-1])
        return evaluate_kernel(*args)

    evaluate_kernel = estimate._evaluate
    monkeypatch.setattr(estimate, "_evaluate", counting_evaluate)
    for start in (None, near):
        full = mple(design, start=start)
        full_calls, calls[:] = len(calls), []
        monkeypatch.setattr(estimate, "check_identified", lambda *args: pytest.fail("the Gram pass ran"))
        coef = estimate.mple_coef(design, start=start)
        monkeypatch.undo()
        monkeypatch.setattr(estimate, "_evaluate", counting_evaluate)
        assert np.array_equal(coef, full.coef)
        assert calls[0] and len(calls) <= full_calls  # the information at the start, then no more than mple
        saved += full_calls - len(calls)
        calls[:] = []
    # model2a's steps contract quadratically to 1e-8 from either start (its directed gw models' only to
    # 1e-7, where a last step is still evaluated)
    if model == "knecht_model2a":
        assert saved == 2


def test_a_last_step_is_taken_unconfirmed_only_after_a_quadratic_contraction(monkeypatch):
    """Without a predicted contraction (_PREDICTED_STEP tiny) every step is confirmed: the same
    iterates and evaluations as final_information=False alone."""
    import dyadflow.tergm.estimate as estimate

    design = knecht_design("knecht_gw_directed")
    counts = np.ones((1, design.n_periods), np.int64)
    start = np.zeros((1, len(design.names)))
    confirmed = estimate.newton(design, counts, start, 50, final_information=False)
    run = estimate._design_evaluator(design, counts)
    unconfirmed = estimate.newton_iterations(run, counts, start, 50, final_information=False, final_evaluation=False)
    assert np.array_equal(unconfirmed.coef, confirmed.coef)
    assert unconfirmed.iterations[0] == confirmed.iterations[0] and unconfirmed.status[0] == 0
    monkeypatch.setattr(estimate, "_PREDICTED_STEP", 1e-300)
    never = estimate.newton_iterations(run, counts, start, 50, final_information=False, final_evaluation=False)
    assert np.array_equal(never.coef, confirmed.coef) and np.array_equal(never.totals, confirmed.totals)


def test_coefficients_alone_fail_as_mple_does():
    """mple_coef's identification falls back to check_identified: the same errors as mple."""
    from dyadflow.tergm.estimate import mple_coef

    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    y = rng.random(400) < 0.3
    cases = [
        (np.column_stack([np.ones(400), x, 2 * x + 1]), y, CollinearityError, "linear combinations"),
        (np.column_stack([np.ones(400), np.zeros(400)]), y, CollinearityError, "zero for every dyad"),
        (np.column_stack([np.ones(400), np.where(np.arange(400) == 7, np.inf, x)]), y, EstimationError, "non-finite"),
        (np.column_stack([np.ones(400), y, x]), y, SeparationError, "separation"),
    ]
    for X, response, error, message in cases:
        design = simple_design(X, response, [f"t{k}" for k in range(X.shape[1])])
        for fit in (mple, mple_coef):
            with pytest.raises(error, match=message):
                fit(design)
    with pytest.raises(EstimationError, match="start"):
        mple_coef(simple_design(np.ones((4, 1)), [0, 1, 0, 1], ["edges"]), start=[0.0, 1.0])


def test_a_stale_step_that_does_not_show_convergence_is_redone_exactly(monkeypatch):
    """With every evaluation after the first made without the information, each stale step that is
    not at rounding level is recomputed from a full evaluation: the exact path's iterates, bit for bit."""
    import dyadflow.tergm.estimate as estimate

    design = knecht_design("knecht_gw_directed")
    expected = estimate.newton(design, np.ones((1, design.n_periods), np.int64), np.zeros((1, len(design.names))), 50)
    requests = []

    def counting_evaluate(*args):
        requests.append(args[-1])
        return evaluate_kernel(*args)

    evaluate_kernel = estimate._evaluate
    monkeypatch.setattr(estimate, "_QUASI_STEP", np.inf)
    monkeypatch.setattr(estimate, "_evaluate", counting_evaluate)
    result = estimate.newton(
        design, np.ones((1, design.n_periods), np.int64), np.zeros((1, len(design.names))), 50, final_information=False
    )
    assert np.array_equal(result.coef, expected.coef) and np.array_equal(result.iterations, expected.iterations)
    assert result.status[0] == expected.status[0] == 0
    # every step but the first was taken without, then with the information; the last one only without
    steps = int(expected.iterations[0])
    assert requests == [True] + [False, True] * (steps - 1) + [False]


def test_collinear_terms_are_named():
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    X = np.column_stack([np.ones(400), x, 2 * x + 1])
    y = rng.random(400) < 0.3
    with pytest.raises(CollinearityError) as info:
        mple(simple_design(X, y, ["edges", "nodecov.a", "nodecov.b"]))
    assert "nodecov" in str(info.value) and "edges" in str(info.value)
    assert set(info.value.terms) == {"edges", "nodecov.a", "nodecov.b"}


def test_zero_column_is_named():
    X = np.column_stack([np.ones(50), np.zeros(50)])
    with pytest.raises(CollinearityError, match="isolates"):
        mple(simple_design(X, np.arange(50) % 3 == 0, ["edges", "isolates"]))


def test_term_constant_within_the_weighted_periods_is_collinear():
    """A dummy that is 1 only in a period with weight 0 is aliased with nothing: it is all zero."""
    X = np.column_stack([np.ones(60), np.r_[np.zeros(30), np.ones(30)], np.arange(60) % 2])
    y = np.arange(60) % 3 == 0
    design = simple_design(X, y, ["edges", "period2", "x"], offsets=[0, 30, 60])
    with pytest.raises(CollinearityError, match="period2"):
        mple(design, period_weights=[1, 0])


def test_separation_is_reported_with_the_term():
    rng = np.random.default_rng(2)
    x = rng.random(500) < 0.2
    y = x.copy()  # the covariate predicts every tie: complete separation
    X = np.column_stack([np.ones(500), x, rng.normal(size=500)])
    with pytest.raises(SeparationError) as info:
        mple(simple_design(X, y, ["edges", "edgecov.perfect", "nodecov.noise"]))
    assert "edgecov.perfect" in info.value.terms and "nodecov.noise" not in info.value.terms
    assert "separation" in str(info.value)


def test_bad_input_errors():
    X = np.column_stack([np.ones(10), np.arange(10.0)])
    with pytest.raises(EstimationError, match="0/1"):
        mple(simple_design(X, np.full(10, 2.0), ["a", "b"]))
    X[3, 1] = np.nan
    with pytest.raises(EstimationError, match=r"non-finite.*\['b'\]"):
        mple(simple_design(X, np.arange(10) % 2, ["a", "b"]))
    # the scan is check_identified's Gram pass: an inf, or a nan in a period that counts 0 times, too
    periods = [0, 5, 10]
    for row, bad, weights in ((3, np.inf, None), (3, np.nan, [0, 1]), (7, -np.inf, [1, 0])):
        X[3, 1], X[7, 1] = 1.0, 1.0
        X[row, 1] = bad
        with pytest.raises(EstimationError, match=r"non-finite.*\['b'\]"):
            mple(simple_design(X, np.arange(10) % 2, ["a", "b"], offsets=periods), period_weights=weights)
    X[3, 1], X[7, 1] = 1.0, 1.0
    with pytest.raises(EstimationError, match="period_weights"):
        mple(simple_design(X, np.arange(10) % 2, ["a", "b"]), period_weights=[1, 1])
    with pytest.raises(EstimationError, match="start"):
        mple(simple_design(X, np.arange(10) % 2, ["a", "b"]), start=[0.0])


def test_the_binary_response_check_finds_one_bad_value_anywhere():
    from dyadflow.tergm.estimate import _all_binary

    y = (np.arange(10_000) % 3 == 0).astype(np.float64)
    assert _all_binary(y) and _all_binary(y[:0]) and _all_binary(np.array([-0.0, 1.0]))
    for position in (0, 4095, 4096, 8191, 9_999):
        for bad in (2.0, 0.5, -1.0, np.nan, np.inf):
            z = y.copy()
            z[position] = bad
            assert not _all_binary(z)
