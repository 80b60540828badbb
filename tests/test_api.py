"""End-to-end acceptance of the estimation core through the public API only (issue 2).

A user's path: build a Panel from arrays, call `tergm.btergm` / `tergm.ergm`, read the Fit.
Every number is checked against R (btergm 1.10.12 / ergm 4.6, tests/data/reference):

- the 8 Knecht btergm models: estimates, all 100 bootstrap replicates (replaying btergm's period
  draws), percentile intervals, bootstrap mean / sd / SE / z / p, coefficient names, observation counts;
- the cross-sectional ergm MPLE fits (flomarriage, faux.mesa.high): estimates, log pseudolikelihood
  and the inverse-Hessian covariance;
- missing dyads (Period.observed): the fit equals the fit of the design with those rows removed
  by hand, and an edges-only model equals its closed form.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import reference_path

from dyadflow import tergm
from dyadflow.storage.panel import Panel, Period
from dyadflow.tergm.design import Design, build_design

META = json.loads(reference_path("results/knecht_meta.json").read_text())
MODELS = sorted(META["formulas"])
NODE_ATTRIBUTES = ("sex", "idegsqrt", "odegsqrt")


# ---------------------------------------------------------------------------------------------
# The Knecht panel, built from the preprocessed CSVs as a user would


def read_adjacency(relative: str) -> tuple[np.ndarray, list[str]]:
    """An adjacency CSV (first column `node` = row label, header = column labels)."""
    frame = pd.read_csv(reference_path(relative), dtype={"node": str})
    labels = frame["node"].tolist()
    if [str(c) for c in frame.columns[1:]] != labels:
        raise ValueError(f"{relative}: row and column labels differ")
    return frame.drop(columns="node").to_numpy(dtype=np.int64), labels


@cache
def knecht_panel(waves: tuple[int, ...] = (1, 2, 3, 4), symmetric: bool = False) -> Panel:
    primary, universe = read_adjacency("knecht/preprocessed/primary_26x26_labelled.csv")
    long = pd.read_csv(reference_path("knecht/preprocessed/nodes_long.csv"), dtype={"label": str})
    prefix = "friendship_sym_t" if symmetric else "friendship_t"
    networks, nodes, attributes = [], [], {name: [] for name in NODE_ATTRIBUTES}
    for wave in waves:
        network, labels = read_adjacency(f"knecht/preprocessed/{prefix}{wave}.csv")
        networks.append(network)
        nodes.append(labels)
        rows = long[long["wave"] == wave].set_index("label").loc[labels]
        for name in NODE_ATTRIBUTES:
            attributes[name].append(rows[name].to_numpy(dtype=np.float64))
    return Panel.from_arrays(
        networks,
        directed=not symmetric,
        nodes=nodes,
        period_names=[f"t{w}" for w in waves],
        node_attributes=attributes,
        dyad_covariates={"primary": primary},  # static over the 26 pupils, aligned to each wave by label
        universe=universe,
    )


def panel_for(model: str) -> Panel:
    if model == "knecht_model2e_oos_fit":
        return knecht_panel((1, 2, 3))  # btergm fit on waves 1-3, wave 4 held out
    symmetric = META["formulas"][model].split("~")[0].strip() == "friendship_sym"
    return knecht_panel(symmetric=symmetric)


def reference_json(model: str) -> dict:
    return json.loads(reference_path(f"results/{model}.json").read_text())


def btergm_draws(model: str) -> np.ndarray:
    """btergm's boot$t indices (1-based time steps after the lag), 0-based for replay."""
    frame = pd.read_csv(reference_path(f"results/{model}_boot_indices.csv"))
    return frame.drop(columns="replicate").to_numpy(dtype=np.int64) - 1


@pytest.fixture(scope="module", params=MODELS)
def knecht(request):
    """(model, fit, reference json): one btergm fit per model, shared by every assertion."""
    model = request.param
    fit = tergm.btergm(META["formulas"][model], panel_for(model), resamples=btergm_draws(model))
    return model, fit, reference_json(model)


def test_every_reference_model_is_covered():
    fitted = {
        p.name[: -len("_boot_t.csv")]
        for p in (reference_path("results/knecht_meta.json").parent).glob("knecht_*_boot_t.csv")
    }
    assert len(MODELS) == 8 and fitted == set(MODELS)


def test_point_estimates_and_names_match_btergm(knecht):
    model, fit, ref = knecht
    assert fit.names == list(ref["coef"])  # R's names and order, e.g. "edgecov.primary[[i]]"
    assert fit.names == pd.read_csv(reference_path(f"results/{model}_coef.csv"))["term"].tolist()
    np.testing.assert_allclose(fit.coef.to_numpy(), list(ref["coef"].values()), rtol=1e-6, atol=0)
    np.testing.assert_allclose(fit.mple.deviance, ref["glm_deviance"], rtol=1e-9)
    np.testing.assert_allclose(fit.mple.null_deviance, ref["glm_null_deviance"], rtol=1e-9)
    assert fit.formula == META["formulas"][model]


def test_btergm_spells_dyadic_covariates_per_time_step(knecht):
    model, fit, _ = knecht
    formula = META["formulas"][model]
    for term, name in (
        ("edgecov(primary)", "edgecov.primary[[i]]"),
        ("delrecip", "edgecov.delrecip[[i]]"),
        ("memory(", "edgecov.memory[[i]]"),
    ):
        assert (term in formula) == (name in fit.names), (term, fit.names)


def test_every_bootstrap_replicate_matches_btergm(knecht):
    model, fit, ref = knecht
    expected = pd.read_csv(reference_path(f"results/{model}_boot_t.csv")).drop(columns="replicate")
    assert list(expected.columns) == fit.names
    assert fit.R == ref["R"] == len(expected)
    np.testing.assert_array_equal(fit.resamples, btergm_draws(model))
    assert fit.replicate_converged.all() and ref["n_boot_na_rows"] == 0
    np.testing.assert_allclose(fit.replicates, expected.to_numpy(), rtol=1e-5, atol=0)


def test_intervals_and_standard_errors_match_btergm(knecht):
    model, fit, _ = knecht
    expected = pd.read_csv(reference_path(f"results/{model}_coef.csv")).set_index("term")
    table = fit.to_frame()
    assert table.index.tolist() == expected.index.tolist()
    pairs = {
        "Estimate": ("estimate", 1e-6),
        "2.5%": ("ci_lower_2.5", 1e-5),
        "97.5%": ("ci_upper_97.5", 1e-5),
        "boot_mean": ("boot_mean", 1e-5),
        "boot_sd": ("boot_sd", 1e-5),
        "Std.Err": ("boot_se_rms", 1e-5),
        "z": ("z_btergm", 1e-4),  # z = -mean/SE: a ratio of two 1e-5-accurate numbers
    }
    for ours, (theirs, rtol) in pairs.items():
        np.testing.assert_allclose(table[ours], expected[theirs], rtol=rtol, atol=0, err_msg=f"{model} {ours}")
    # p-values span hundreds of orders of magnitude (R's underflow to 0): compare on the log scale
    underflow = expected["p_btergm"].to_numpy() == 0
    assert (table["p"].to_numpy()[underflow] < 1e-300).all()
    np.testing.assert_allclose(np.log(table["p"][~underflow]), np.log(expected["p_btergm"][~underflow]), rtol=1e-3)


def test_observation_counts(knecht):
    model, fit, ref = knecht
    design = fit.design()
    assert fit.n_periods == ref["time_steps"]
    assert fit.nobs_btergm == ref["nobs_dyads"]  # btergm's n(n-1) per step, even undirected
    assert fit.nobs == ref["sum_weights"] == len(design) == fit.mple.nobs  # rows in the likelihood
    sizes = design.groupby("period", sort=False).size().to_numpy()
    n = np.array([len(nodes) for nodes in fit.design_matrix.nodes])
    np.testing.assert_array_equal(sizes, n * (n - 1) if ref["directed"] else n * (n - 1) // 2)
    assert int(design["response"].sum()) == ref["n_ties_response_weighted"]


def test_summary_returns_every_term_and_prints_nothing(knecht, capsys):
    model, fit, _ = knecht
    text = fit.summary()
    assert capsys.readouterr().out == ""
    for name in fit.names:
        assert name in text, f"{model}: {name} missing from the summary"
    assert f"Bootstrapping sample size: {fit.R}" in text


def test_seeded_bootstrap_is_reproducible_and_seeds_differ():
    formula = META["formulas"]["knecht_gw_undirected_sym"]
    panel = panel_for("knecht_gw_undirected_sym")
    first = tergm.btergm(formula, panel, R=20, seed=1)
    again = tergm.btergm(formula, panel, R=20, seed=1)
    other = tergm.btergm(formula, panel, R=20, seed=2)
    assert first.seed == 1 and first.R == 20
    np.testing.assert_array_equal(first.resamples, again.resamples)
    np.testing.assert_array_equal(first.replicates, again.replicates)
    pd.testing.assert_frame_equal(first.to_frame(), again.to_frame())
    assert not np.array_equal(first.resamples, other.resamples)
    assert not np.array_equal(first.replicates, other.replicates)
    # the point estimate does not depend on the seed
    np.testing.assert_array_equal(first.mple.coef, other.mple.coef)


# ---------------------------------------------------------------------------------------------
# Cross-sectional ergm MPLE


CROSS = json.loads(reference_path("results/ergm_crosssectional.json").read_text())
ERGM_MPLE = sorted(key for key in CROSS if key.endswith("_MPLE"))
NETWORK_FILES = {"flomarriage": "flomarriage", "faux.mesa.high": "faux.mesa.high"}


def ergm_inputs(formula: str):
    """The network named on the formula's left: adjacency, labels, node attributes by label."""
    name = formula.split("~")[0].strip()
    network, labels = read_adjacency(f"ergm/{NETWORK_FILES[name]}_adjacency.csv")
    table = pd.read_csv(reference_path(f"ergm/{NETWORK_FILES[name]}_nodes.csv"), dtype={"vertex.names": str})
    table = table.set_index("vertex.names").loc[labels].drop(columns="index")
    attributes = {
        column: (
            table[column].to_numpy(dtype=np.float64)
            if pd.api.types.is_numeric_dtype(table[column])
            else table[column].astype(str).to_numpy(dtype=str)
        )
        for column in table.columns
    }
    return network, labels, attributes


def test_every_ergm_network_is_covered():
    assert len(ERGM_MPLE) == 3
    assert {CROSS[key]["formula"].split("~")[0].strip() for key in ERGM_MPLE} == set(NETWORK_FILES)


@pytest.mark.parametrize("key", ERGM_MPLE)
def test_ergm_mple_matches_ergm(key):
    ref = CROSS[key]
    network, labels, attributes = ergm_inputs(ref["formula"])
    fit = tergm.ergm(ref["formula"], network, directed=False, nodes=labels, node_attributes=attributes)
    assert fit.names == list(ref["coef"])
    np.testing.assert_allclose(fit.coef.to_numpy(), list(ref["coef"].values()), rtol=1e-6, atol=0)
    np.testing.assert_allclose(fit.mple.loglik, ref["loglik"], rtol=1e-9)
    # ergm's "invHess" covariance is glm's cov.unscaled (information at glm's penultimate iterate):
    # Fit.vcov reproduces it to rounding; the inverse information at the exact maximum only to glm's
    # stopping tolerance (2e-4 relative on flomarriage ~ edges + gwesp(0.25))
    np.testing.assert_allclose(fit.vcov, np.array(ref["vcov"]), rtol=1e-10)
    np.testing.assert_allclose(fit.mple.covariance, np.array(ref["vcov"]), rtol=1e-3)
    assert fit.nobs == ref["n_dyads"] and fit.R == 0
    # the Wald table uses ergm's standard errors
    se = np.sqrt(np.diag(ref["vcov"]))
    np.testing.assert_allclose(fit.standard_errors()["Std.Err"], se, rtol=1e-10)
    np.testing.assert_allclose(fit.ci()["97.5%"] - fit.ci()["Estimate"], 1.959963984540054 * se, rtol=1e-10)
    # observed statistics: the sum of change statistics over the ties (dyad-independent terms exactly)
    observed = fit.design_matrix.X[fit.design_matrix.y == 1].sum(axis=0)
    assert observed[fit.names.index("edges")] == ref["observed_stats"]["edges"]


# ---------------------------------------------------------------------------------------------
# Missing dyads: Period.observed (missing = "drop-dyad")


def with_observed(panel: Panel, masks: list[np.ndarray]) -> Panel:
    """The panel with these observed-dyad masks; unobserved ties zeroed, as the ingest stores them."""

    def load(t: int) -> Period:
        period = panel[t]
        observed = masks[t] if panel.directed else masks[t] & masks[t].T
        network = np.where(observed, period.network, 0).astype(np.uint8)
        return Period(period.name, period.nodes, network, period.node_attributes, period.dyad_covariates, masks[t])

    return Panel(directed=panel.directed, period_names=panel.period_names, load=load)


def random_masks(panel: Panel, share: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for period in panel:
        mask = rng.random((period.n, period.n)) >= share
        if not panel.directed:
            mask = np.triu(mask, 1)
            mask = mask | mask.T
        np.fill_diagonal(mask, True)  # the diagonal is never a dyad; its value must not matter
        masks.append(mask)
    return masks


def rows_removed_by_hand(design: Design, masks: list[np.ndarray]) -> Design:
    keep = np.concatenate(
        [
            masks[t][design.dyads[design.period_rows(t), 0], design.dyads[design.period_rows(t), 1]]
            for t in range(design.n_periods)
        ]
    )
    sizes = [int(keep[design.period_rows(t)].sum()) for t in range(design.n_periods)]
    return Design(
        names=design.names,
        X=np.ascontiguousarray(design.X[keep]),
        y=design.y[keep],
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        periods=design.periods,
        dyads=design.dyads[keep],
        nodes=design.nodes,
        directed=design.directed,
    )


@pytest.mark.parametrize("model", ["knecht_model2b_doc", "knecht_gw_undirected_sym_primary"])
def test_missing_dyads_give_the_fit_of_the_design_without_them(model):
    formula, full = META["formulas"][model], panel_for(model)
    masks = random_masks(full, share=0.15, seed=11)
    masked = with_observed(full, masks)
    # the same networks (unobserved ties zeroed) with every dyad observed
    unmasked = Panel.from_arrays(
        [p.network for p in masked],
        directed=full.directed,
        nodes=[p.nodes for p in full],
        period_names=full.period_names,
        node_attributes={k: [p.node_attributes[k] for p in full] for k in NODE_ATTRIBUTES},
        dyad_covariates={"primary": [p.dyad_covariates["primary"] for p in full]},
    )
    lag = len(full) - reference_json(model)["time_steps"]
    by_hand = rows_removed_by_hand(build_design(formula, unmasked), masks[lag:])

    draws = btergm_draws(model)[:30]
    fit = tergm.btergm(formula, masked, resamples=draws)
    expected = tergm.fit_design(by_hand, resamples=draws, formula=formula)
    ours = fit.design_matrix
    assert 0 < by_hand.X.shape[0] < build_design(formula, unmasked).X.shape[0]
    for field in ("X", "y", "offsets", "dyads"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(by_hand, field), err_msg=field)
    assert ours.periods == by_hand.periods
    np.testing.assert_array_equal(fit.mple.coef, expected.mple.coef)
    np.testing.assert_array_equal(fit.replicates, expected.replicates)
    assert fit.nobs == by_hand.X.shape[0]
    # rows stay in ergm's order (tail-major), only observed dyads, responses read at the same dyad
    for t in range(ours.n_periods):
        dyads = ours.dyads[ours.period_rows(t)]
        mask, network = masks[lag + t], masked[lag + t].network
        assert mask[dyads[:, 0], dyads[:, 1]].all()
        keys = dyads[:, 0] * 1000 + dyads[:, 1]
        assert np.all(np.diff(keys) > 0)
        if not full.directed:
            assert np.all(dyads[:, 0] < dyads[:, 1])
        np.testing.assert_array_equal(ours.y[ours.period_rows(t)], network[dyads[:, 0], dyads[:, 1]])
        expected_rows = int((mask & ~np.eye(len(mask), dtype=bool)).sum())
        assert len(dyads) == (expected_rows if full.directed else expected_rows // 2)


def test_missing_dyads_edges_only_closed_form():
    """edges alone: the MPLE is the log odds of a tie among the observed dyads only."""
    rng = np.random.default_rng(5)
    n = 12
    networks = [(rng.random((n, n)) < p).astype(np.uint8) for p in (0.2, 0.35)]
    for network in networks:
        np.fill_diagonal(network, 0)
    masks = [rng.random((n, n)) >= 0.3 for _ in networks]
    panel = with_observed(Panel.from_arrays(networks, directed=True), masks)
    fit = tergm.btergm("y ~ edges", panel, R=5, seed=3)
    off = ~np.eye(n, dtype=bool)
    ties = sum(int(net[m & off].sum()) for net, m in zip(networks, masks))
    dyads = sum(int((m & off).sum()) for m in masks)
    assert fit.nobs == dyads
    np.testing.assert_allclose(fit.coef["edges"], np.log(ties / (dyads - ties)), rtol=1e-12)


def test_undirected_mask_excludes_a_dyad_when_either_orientation_is_unobserved():
    network = np.array([[0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 1, 0]], dtype=np.uint8)
    mask = np.ones((4, 4), dtype=bool)
    mask[2, 0] = False  # lower triangle only: dyad {0, 2}
    mask[1, 3] = False  # upper triangle only: dyad {1, 3}
    panel = with_observed(Panel.from_arrays([network], directed=False), [mask])
    design = build_design("y ~ edges + triangle", panel, temporal=False)
    np.testing.assert_array_equal(design.dyads, [[0, 1], [0, 3], [1, 2], [2, 3]])
