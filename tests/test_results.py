"""Common checks over every model family's results (tergm.results.ModelResults), as scikit-learn's
parametrize_with_checks over estimators: btergm (bootstrap percentile intervals), ergm MPLE (Wald on
ergm's MPLE covariance), MCMC-MLE, and the plain logit (cluster-robust Wald, with a period bootstrap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import dyadflow
from dyadflow.storage.panel import Panel
from dyadflow.tergm.results import ModelResults


def _panel(directed: bool = True, n: int = 10, periods: int = 4, seed: int = 7) -> Panel:
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n)
    networks, distances = [], []
    for _ in range(periods):
        dist = rng.normal(size=(n, n))
        if not directed:
            dist = np.triu(dist, 1) + np.triu(dist, 1).T
        eta = -1.2 + 0.9 * dist + 0.4 * (size[:, None] + size[None, :])
        adj = (rng.random((n, n)) < 1 / (1 + np.exp(-eta))).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1)
            adj = adj | adj.T
        np.fill_diagonal(adj, 0)
        networks.append(adj)
        distances.append(dist)
    return Panel.from_arrays(
        networks, directed=directed, node_attributes={"size": size}, dyad_covariates={"dist": distances}
    )


def _btergm():
    return dyadflow.btergm("y ~ edges + mutual + edgecov(dist) + memory", _panel(), R=30, seed=3), "bootstrap"


def _ergm_mple():
    panel = _panel(directed=False, n=14, periods=1)
    return dyadflow.ergm(
        "y ~ edges + triangle + edgecov(dist)",
        panel[0].network,
        directed=False,
        dyad_covariates={"dist": panel[0].dyad_covariates["dist"]},
    ), "wald"


def _mle():
    panel = _panel(directed=False, n=12, periods=1)
    fit = dyadflow.ergm(
        "y ~ edges + nodecov('size')",
        panel[0].network,
        directed=False,
        node_attributes={"size": panel[0].node_attributes["size"]},
        estimate="MLE",
        mcmc={"samplesize": 200, "max_iterations": 4, "seed": 5},
    )
    return fit, "wald"


def _logit():
    return dyadflow.logit(
        "y ~ edges + edgecov(dist) + nodecov('size') + memory", _panel(), cluster="dyad", R=20, seed=4
    ), "wald"


FAMILIES = {"btergm": _btergm, "ergm-mple": _ergm_mple, "mcmc-mle": _mle, "logit": _logit}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    fit, intervals = FAMILIES[request.param]()
    return request.param, fit, intervals


def test_is_a_model_result(family):
    _, fit, _ = family
    assert isinstance(fit, ModelResults)


def test_coef_is_a_series_labelled_by_term(family):
    _, fit, _ = family
    assert isinstance(fit.coef, pd.Series)
    assert list(fit.coef.index) == list(fit.names) and fit.coef.index.name == "term"
    assert fit.coef.dtype == np.float64 and np.isfinite(fit.coef).all()
    assert fit.coef["edges"] == fit.coef.iloc[0]


def test_vcov_is_labelled_symmetric_and_positive(family):
    _, fit, _ = family
    vcov = fit.vcov
    p = len(fit.names)
    assert isinstance(vcov, pd.DataFrame) and vcov.shape == (p, p)
    assert list(vcov.index) == list(fit.names) == list(vcov.columns)
    np.testing.assert_allclose(vcov.to_numpy(), vcov.to_numpy().T, rtol=1e-12, atol=0)
    assert np.all(np.linalg.eigvalsh(vcov.to_numpy()) > 0)


def test_ci_columns_and_ordering(family):
    name, fit, intervals = family
    for level, lower, upper in ((0.95, "2.5%", "97.5%"), (0.9, "5%", "95%")):
        table = fit.ci(level)
        assert list(table.columns) == ["Estimate", lower, upper]
        assert list(table.index) == list(fit.names)
        np.testing.assert_array_equal(table["Estimate"].to_numpy(), fit.coef.to_numpy())
        assert (table[lower] <= table[upper]).all()
        if intervals == "wald":  # symmetric around the estimate, half-width z * SE
            assert (table[lower] <= table["Estimate"]).all() and (table["Estimate"] <= table[upper]).all()
            se = np.sqrt(np.diag(fit.vcov.to_numpy()))
            np.testing.assert_allclose(table[upper] - table["Estimate"], norm.ppf((1 + level) / 2) * se, rtol=1e-12)
    narrow, wide = fit.ci(0.5), fit.ci(0.99)
    assert (narrow["25%"] >= wide["0.5%"]).all() and (narrow["75%"] <= wide["99.5%"]).all()
    with pytest.raises(ValueError, match="level"):
        fit.ci(1.5)


def test_summary_returns_text_and_prints_nothing(family, capsys):
    _, fit, _ = family
    text = fit.summary()
    assert isinstance(text, str)
    assert capsys.readouterr().out == ""
    for term in fit.names:
        assert term in text
    assert repr(fit).startswith(f"<{type(fit).__name__}")


def test_to_frame_columns(family):
    _, fit, _ = family
    frame = fit.to_frame()
    assert list(frame.index) == list(fit.names)
    assert list(frame.columns[:3]) == ["Estimate", "2.5%", "97.5%"]
    assert {"Std.Err", "z", "p"} <= set(frame.columns)
    assert frame.columns.is_unique
    assert ((frame["p"] >= 0) & (frame["p"] <= 1)).all()


def test_nobs(family):
    name, fit, _ = family
    assert isinstance(fit.nobs, int) and fit.nobs > 0
    if name in ("btergm", "ergm-mple"):
        assert fit.nobs == fit.design_matrix.X.shape[0]
    if name == "ergm-mple":
        assert fit.nobs == 14 * 13 // 2
    if name == "logit":
        assert fit.nobs == 3 * 10 * 9  # memory drops the first of 4 periods
