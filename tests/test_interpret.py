"""Interpretation (tergm.interpret): edge probabilities, interpret() against brute-force enumeration
exp(theta . g(y)) over the configurations (g from tergm.design.summary_statistics on whole networks),
predicted-probability profiles and average marginal effects."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logsumexp

sys.path.insert(0, str(Path(__file__).parent))
from test_api import META, knecht_panel

from dyadflow.storage.panel import Panel
from dyadflow.tergm.api import btergm, ergm
from dyadflow.tergm.design import summary_statistics
from dyadflow.tergm.interpret import (
    MARGINAL_COLUMNS,
    PROFILE_COLUMNS,
    InterpretError,
    edge_probabilities,
    interpret,
    marginal_effects,
    probability_profile,
)

DIRECTED_FORMULA = "y ~ edges + mutual + ttriple + ctriple + gwesp(0.5, fixed=TRUE) + nodeicov(a) + edgecov(x) + memory"
UNDIRECTED_FORMULA = "y ~ edges + triangle + gwesp(0.7, fixed=TRUE) + kstar(2) + nodecov(a)"


def random_panel(directed: bool, periods: int = 3, n: int = 9, seed: int = 11) -> Panel:
    rng = np.random.default_rng(seed)
    networks = []
    for _ in range(periods):
        y = (rng.random((n, n)) < 0.3).astype(np.uint8)
        if not directed:
            y = np.triu(y, 1)
            y = y | y.T
        np.fill_diagonal(y, 0)
        networks.append(y)
    return Panel.from_arrays(
        networks,
        directed=directed,
        period_names=[f"p{t}" for t in range(periods)],
        node_attributes={"a": [rng.normal(size=n) for _ in range(periods)]},
        dyad_covariates={"x": rng.normal(size=(n, n))},
    )


@pytest.fixture(scope="module")
def directed_fit():
    return btergm(DIRECTED_FORMULA, random_panel(True), R=20, seed=5)


@pytest.fixture(scope="module")
def undirected_fit():
    panel = random_panel(False, periods=1)
    p = panel[0]
    return ergm(
        UNDIRECTED_FORMULA, p.network, directed=False, nodes=p.nodes, node_attributes={"a": p.node_attributes["a"]}
    )


def brute_force(fit, period: str, ties: list[tuple[str, str]]) -> pd.Series:
    """P(configuration) of the given ties (node labels), the rest as observed: exp(theta . g(y_c)) over
    whole networks, normalised."""
    panel = fit.panel
    t = panel.period_names.index(period)
    nodes = [str(v) for v in panel[t].nodes]
    coef = np.asarray(fit.mple.coef)
    weights = {}
    for configuration in itertools.product((0, 1), repeat=len(ties)):
        networks = [panel[k].network.copy() for k in range(len(panel))]
        for (a, b), on in zip(ties, configuration):
            networks[t][nodes.index(a), nodes.index(b)] = on
            if not panel.directed:
                networks[t][nodes.index(b), nodes.index(a)] = on
        g = summary_statistics(fit.formula, panel.with_networks(networks), temporal=fit.temporal).loc[period]
        weights[configuration] = coef @ g.to_numpy()
    log_w = np.array(list(weights.values()))
    return pd.Series(np.exp(log_w - logsumexp(log_w)), index=pd.MultiIndex.from_tuples(list(weights)))


def test_edge_probabilities_are_the_logistic_of_the_design(directed_fit):
    frame = edge_probabilities(directed_fit)
    design = directed_fit.design_matrix
    assert frame.columns.tolist() == ["period", "i", "j", "tie"] + directed_fit.names + ["probability"]
    assert len(frame) == len(design.y) == 3 * 9 * 8 - 9 * 8  # memory drops the first period
    X = frame[directed_fit.names].to_numpy()
    np.testing.assert_allclose(frame["probability"], 1 / (1 + np.exp(-X @ directed_fit.mple.coef)), rtol=1e-12)
    np.testing.assert_array_equal(frame["tie"], design.y)
    only = edge_probabilities(directed_fit, periods="p2")
    assert set(only["period"]) == {"p2"} and len(only) == 72
    with pytest.raises(InterpretError, match="not in the fit's likelihood"):
        edge_probabilities(directed_fit, periods=["p0"])


@pytest.mark.parametrize("i, j", [("0", "1"), ("3", "7"), ("8", "2")])
def test_tie_probability_equals_brute_force(directed_fit, i, j):
    expected = brute_force(directed_fit, "p2", [(i, j)])
    assert interpret(directed_fit, "tie", period="p2", i=i, j=j) == pytest.approx(expected[(1,)], rel=1e-10)
    row = edge_probabilities(directed_fit, "p2").query("i == @i and j == @j")
    assert float(row["probability"].iloc[0]) == pytest.approx(expected[(1,)], rel=1e-10)


@pytest.mark.parametrize("i, j", [("0", "1"), ("4", "5"), ("2", "6")])
def test_dyad_probabilities_equal_brute_force(directed_fit, i, j):
    table = interpret(directed_fit, "dyad", period="p1", i=i, j=j)
    expected = brute_force(directed_fit, "p1", [(i, j), (j, i)])
    for forward, backward in itertools.product((0, 1), repeat=2):
        assert table.loc[forward, backward] == pytest.approx(expected[(forward, backward)], rel=1e-10)
    assert table.to_numpy().sum() == pytest.approx(1)


def test_node_probabilities_equal_brute_force(directed_fit):
    out = interpret(directed_fit, "node", period="p2", i="0", j=["1", "2", "5"])
    assert len(out) == 8 and out.columns.tolist() == ["0->1", "0->2", "0->5", "probability"]
    expected = brute_force(directed_fit, "p2", [("0", "1"), ("0", "2"), ("0", "5")])
    for _, row in out.iterrows():
        key = tuple(int(row[c]) for c in ("0->1", "0->2", "0->5"))
        assert row["probability"] == pytest.approx(expected[key], rel=1e-10)
    incoming = interpret(directed_fit, "node", period="p2", i=["3", "4"], j="6")
    expected_in = brute_force(directed_fit, "p2", [("3", "6"), ("4", "6")])
    np.testing.assert_allclose(
        incoming["probability"], [expected_in[k] for k in itertools.product((0, 1), repeat=2)], rtol=1e-10
    )


def test_undirected_node_configurations_equal_brute_force(undirected_fit):
    out = interpret(undirected_fit, "node", i="2", j=["0", "5", "7"])
    expected = brute_force(
        undirected_fit, undirected_fit.design_matrix.periods[0], [("2", "0"), ("2", "5"), ("2", "7")]
    )
    np.testing.assert_allclose(
        out["probability"], [expected[k] for k in itertools.product((0, 1), repeat=3)], rtol=1e-10
    )
    with pytest.raises(InterpretError, match="directed network"):
        interpret(undirected_fit, "dyad", i="0", j="1")


def test_interpret_errors(directed_fit):
    with pytest.raises(InterpretError, match="choose one with period="):
        interpret(directed_fit, "tie", i="0", j="1")
    with pytest.raises(InterpretError, match="type must be one of"):
        interpret(directed_fit, "triad", period="p1", i="0", j="1")
    with pytest.raises(InterpretError, match="is not a node"):
        interpret(directed_fit, "tie", period="p1", i="0", j="99")
    with pytest.raises(InterpretError, match="same node"):
        interpret(directed_fit, "tie", period="p1", i="3", j="3")
    with pytest.raises(InterpretError, match="one node on one side"):
        interpret(directed_fit, "node", period="p1", i=["0", "1"], j=["2", "3"])


# ---------------------------------------------------------------------------------------------
# Profiles and marginal effects on Knecht (btergm's model 2b, waves 1-4, 100 replicates)


@pytest.fixture(scope="module")
def knecht_fit():
    return btergm(META["formulas"]["knecht_model2b_doc"], knecht_panel(), R=100, seed=12345)


@pytest.mark.parametrize("statistic", ["transitiveties", "edgecov.primary[[i]]", "mutual"])
def test_profile_means_counts_and_intervals(knecht_fit, statistic):
    profile = probability_profile(knecht_fit, statistic, seed=3)
    assert profile.columns.tolist() == PROFILE_COLUMNS
    assert set(profile["interval"]) == {"bootstrap", "subsample"}
    design = knecht_fit.design_matrix
    x = design.X[:, knecht_fit.names.index(statistic)]
    p = expit(design.X @ knecht_fit.mple.coef)
    for kind, rows in profile.groupby("interval"):
        assert rows["n_dyads"].sum() == len(design.y)
        np.testing.assert_array_equal(rows["value"], np.unique(x))
        expected = [p[x == v].mean() for v in rows["value"]]
        np.testing.assert_allclose(rows["mean_probability"], expected, rtol=1e-12)
        assert (rows["lower"] <= rows["mean_probability"] + 1e-12).all(), kind
        assert (rows["mean_probability"] <= rows["upper"] + 1e-12).all(), kind
        assert (rows["lower"] < rows["upper"]).any()


def test_profile_over_dyad_descriptors(knecht_fit, undirected_fit):
    """Shared partners and end degrees counted by loops over the observed networks."""
    for fit in (knecht_fit, undirected_fit):
        design = fit.design_matrix
        lag = len(fit.panel) - design.n_periods
        expected = {"shared_partners": [], "tail_degree": [], "head_degree": []}
        for k in range(design.n_periods):
            y = fit.panel[lag + k].network
            n = len(y)
            for a, b in design.dyads[design.period_rows(k)]:
                others = [c for c in range(n) if c not in (a, b)]
                expected["shared_partners"].append(sum(int(y[a, c] and y[c, b]) for c in others))
                expected["tail_degree"].append(sum(int(y[a, c]) for c in others))
                incoming = y[:, b] if design.directed else y[b, :]
                expected["head_degree"].append(sum(int(incoming[c]) for c in others))
        p = expit(design.X @ fit.mple.coef)
        for descriptor, values in expected.items():
            values = np.array(values)
            profile = probability_profile(fit, descriptor, interval="subsample", subsamples=20)
            np.testing.assert_array_equal(profile["value"], np.unique(values))
            np.testing.assert_allclose(
                profile["mean_probability"], [p[values == v].mean() for v in np.unique(values)], rtol=1e-12
            )


def test_profile_bins_and_errors(knecht_fit):
    binned = probability_profile(knecht_fit, "nodeicov.idegsqrt", interval="subsample", bins=4, seed=1)
    assert len(binned) <= 4 and binned["n_dyads"].sum() == len(knecht_fit.design_matrix.y)
    assert binned["value"].is_monotonic_increasing
    with pytest.raises(InterpretError, match="not a term of the model nor a dyad descriptor"):
        probability_profile(knecht_fit, "gwesp.fixed.0.5")
    no_replicates = ergm("y ~ edges + mutual", knecht_panel()[0].network, directed=True)
    with pytest.raises(InterpretError, match="bootstrap replicates"):
        probability_profile(no_replicates, "mutual", interval="bootstrap")
    assert set(probability_profile(no_replicates, "mutual")["interval"]) == {"subsample"}


def test_profile_is_deterministic(knecht_fit):
    a = probability_profile(knecht_fit, "mutual", interval="subsample", seed=9)
    b = probability_profile(knecht_fit, "mutual", interval="subsample", seed=9)
    pd.testing.assert_frame_equal(a, b)


def test_marginal_effects(knecht_fit):
    table = marginal_effects(knecht_fit, model="2b")
    assert table.columns.tolist() == MARGINAL_COLUMNS and table["term"].tolist() == knecht_fit.names
    X, theta = knecht_fit.design_matrix.X, knecht_fit.mple.coef
    k = knecht_fit.names.index("mutual")
    expected = np.mean(expit(X @ theta + theta[k]) - expit(X @ theta))
    assert table.loc[k, "effect"] == pytest.approx(expected, rel=1e-12)
    assert table.loc[k, "effect"] > 0 and table.loc[k, "lower"] <= table.loc[k, "effect"] <= table.loc[k, "upper"]
    assert (table["model"] == "2b").all()
    no_replicates = ergm("y ~ edges + mutual", knecht_panel()[0].network, directed=True)
    assert marginal_effects(no_replicates)[["lower", "upper"]].isna().all().all()
    with pytest.raises(InterpretError, match="not in the model"):
        marginal_effects(knecht_fit, ["triangle"])
