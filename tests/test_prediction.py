"""Out-of-sample prediction (tergm.prediction) on Knecht: fit waves 1-3, predict wave 4.

- the training fit equals btergm's (knecht_model2e_oos_fit) to 1e-6;
- the test period's design equals an independent numpy construction: structural change statistics
  by toggling each dyad of the observed wave-4 network and differencing brute-force counts, covariates
  of wave 4, delrecip and memory from wave 3 aligned by pupil label;
- MPLE ROC-AUC / average precision against scikit-learn on that construction; the simulation-based
  (leak-free) ROC-AUC against btergm's simulated figure (knecht_oos_rocpr.json, also simulation-based)
  within Monte-Carlo error, and PR-AUC never above 1;
- the random baseline, the written files, determinism and the error cases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import reference_path
from scipy.special import expit
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).parent))
from test_api import META, knecht_panel, read_adjacency

from dyadflow.storage.panel import Panel
from dyadflow.tergm.prediction import (
    AUC_COLUMNS,
    PREDICTION_COLUMNS,
    ROCPR_COLUMNS,
    PredictionError,
    holdout_design,
    period_range,
    resolve_split,
    validate,
)

FORMULA = META["formulas"]["knecht_model2e_oos_fit"]
LOGIT = 'f ~ edges + nodeicov("idegsqrt") + nodeocov("odegsqrt") + nodematch("sex") + edgecov(primary)'


@pytest.fixture(scope="module")
def knecht_validation():
    return validate({"network": FORMULA, "logit": LOGIT}, knecht_panel(), train=["t1", "t2", "t3"], test=["t4"])


# ---------------------------------------------------------------------------------------------
# The independent construction of wave 4's design


def mutual(y):
    return np.sum(y * y.T) / 2


def ttriple(y):
    return np.sum(y * (y @ y))


def transitiveties(y):
    return np.sum(y * ((y @ y) > 0))


def ctriple(y):
    return np.trace(y @ y @ y) / 3


def hand_design_wave4() -> pd.DataFrame:
    """One row per ordered pair of wave-4 pupils, columns in the formula's order, by direct counting."""
    y4, labels4 = read_adjacency("knecht/preprocessed/friendship_t4.csv")
    y3, labels3 = read_adjacency("knecht/preprocessed/friendship_t3.csv")
    primary, labels_primary = read_adjacency("knecht/preprocessed/primary_26x26_labelled.csv")
    nodes = pd.read_csv(reference_path("knecht/preprocessed/nodes_long.csv"), dtype={"label": str})
    attributes = nodes[nodes["wave"] == 4].set_index("label").loc[labels4]
    n = len(labels4)
    at3 = {label: k for k, label in enumerate(labels3)}
    at_primary = {label: k for k, label in enumerate(labels_primary)}

    def previous(a, b):  # wave-3 tie between two wave-4 pupils (0 if either was absent)
        la, lb = labels4[a], labels4[b]
        return y3[at3[la], at3[lb]] if la in at3 and lb in at3 else 0

    sex = attributes["sex"].to_numpy()
    ideg, odeg = attributes["idegsqrt"].to_numpy(), attributes["odegsqrt"].to_numpy()
    rows = []
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            on, off = y4.copy(), y4.copy()
            on[a, b], off[a, b] = 1, 0
            rows.append(
                {
                    "tail": labels4[a],
                    "head": labels4[b],
                    "observed": y4[a, b],
                    "edges": 1.0,
                    "mutual": mutual(on) - mutual(off),
                    "ttriple": ttriple(on) - ttriple(off),
                    "transitiveties": transitiveties(on) - transitiveties(off),
                    "ctriple": ctriple(on) - ctriple(off),
                    "nodeicov.idegsqrt": ideg[b],
                    "nodeicov.odegsqrt": odeg[b],
                    "nodeocov.odegsqrt": odeg[a],
                    "nodeofactor.sex.2": float(sex[a] == 2),
                    "nodeifactor.sex.2": float(sex[b] == 2),
                    "nodematch.sex": float(sex[a] == sex[b]),
                    "edgecov.primary[[i]]": primary[at_primary[labels4[a]], at_primary[labels4[b]]],
                    "edgecov.delrecip[[i]]": float(previous(b, a)),
                    "edgecov.memory[[i]]": 1.0 if previous(a, b) else -1.0,  # btergm's "stability"
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def hand_design():
    return hand_design_wave4()


def test_training_fit_equals_btergm(knecht_validation):
    reference = json.loads(reference_path("results/knecht_model2e_oos_fit.json").read_text())
    fit = knecht_validation.fitted["network"]
    assert fit.names == list(reference["coef"])
    np.testing.assert_allclose(fit.mple.coef, list(reference["coef"].values()), rtol=1e-6, atol=0)
    np.testing.assert_allclose(fit.mple.deviance, reference["glm_deviance"], rtol=1e-9)
    table = knecht_validation.fits[knecht_validation.fits["model"] == "network"]
    assert table["term"].tolist() == fit.names
    np.testing.assert_allclose(table["Estimate"], list(reference["coef"].values()), rtol=1e-6)
    assert set(knecht_validation.fits["model"]) == {"network", "logit"}


def test_test_period_design_equals_independent_construction(knecht_validation, hand_design):
    fit = knecht_validation.fitted["network"]
    panel = knecht_panel()
    design = holdout_design(fit, panel, resolve_split(panel, train=["t1", "t2", "t3"], test=["t4"]))
    assert design.periods == ["t4"] and design.names == fit.names
    ours = pd.DataFrame(design.X, columns=design.names)
    ours["tail"] = design.nodes[0][design.dyads[:, 0]]
    ours["head"] = design.nodes[0][design.dyads[:, 1]]
    ours["observed"] = design.y
    merged = hand_design.merge(ours, on=["tail", "head"], suffixes=("", "_ours"), validate="one_to_one")
    assert len(merged) == len(hand_design) == 25 * 24
    np.testing.assert_array_equal(merged["observed"], merged["observed_ours"])
    for name in fit.names:
        np.testing.assert_allclose(merged[f"{name}_ours"], merged[name], rtol=0, atol=1e-12, err_msg=name)
    # memory and delrecip really come from wave 3, not wave 4 (they would differ)
    assert not np.array_equal(merged["edgecov.memory[[i]]"], 2 * merged["observed"] - 1)


def test_mple_probabilities_and_areas_against_scikit_learn(knecht_validation, hand_design):
    fit = knecht_validation.fitted["network"]
    probability = expit(hand_design[fit.names].to_numpy() @ fit.mple.coef)
    predictions = knecht_validation.predictions
    assert predictions.columns.tolist() == PREDICTION_COLUMNS
    mine = predictions[(predictions["model"] == "network") & (predictions["kind"] == "mple")]
    merged = hand_design.merge(mine, on=["tail", "head"], validate="one_to_one")
    np.testing.assert_allclose(merged["probability"], expit(merged[fit.names].to_numpy() @ fit.mple.coef), rtol=1e-12)
    y = hand_design["observed"].to_numpy()
    assert y.sum() == 119  # wave 4's ties, as in btergm's ROC curve (knecht_rocpr_recheck.json)
    auc = knecht_validation.auc.set_index(["model", "kind", "period"])
    row = auc.loc[("network", "mple", "t4")]
    np.testing.assert_allclose(row["roc_auc"], roc_auc_score(y, probability), rtol=1e-12)
    np.testing.assert_allclose(row["average_precision"], average_precision_score(y, probability), rtol=1e-12)
    assert row["n_positive"] == 119 and row["n_negative"] == 600 - 119
    assert row["pr_auc"] <= 1 and row["pr_auc_trapezoid"] <= 1
    # conditional on the observed wave 4, the network model beats the logit and btergm's leak-free figure
    btergm_figures = json.loads(reference_path("results/knecht_oos_rocpr.json").read_text())
    assert row["roc_auc"] > btergm_figures["auc_roc"]
    assert row["roc_auc"] > auc.loc[("logit", "mple", "t4"), "roc_auc"]


def test_random_baseline_is_the_observed_density(knecht_validation):
    auc = knecht_validation.auc.set_index(["model", "kind", "period"])
    row = auc.loc[("random", "mple", "t4")]
    assert row["roc_auc"] == 0.5
    np.testing.assert_allclose([row["pr_auc"], row["average_precision"]], 119 / 600, rtol=1e-12)


def test_tables_follow_the_contract(knecht_validation, tmp_path):
    result = knecht_validation
    assert result.rocpr.columns.tolist() == ROCPR_COLUMNS and result.auc.columns.tolist() == AUC_COLUMNS
    assert set(result.rocpr["curve"]) == {"roc", "pr"}
    assert set(result.auc["model"]) == {"network", "logit", "random"} and set(result.auc["kind"]) == {"mple"}
    roc = result.rocpr[(result.rocpr["model"] == "network") & (result.rocpr["curve"] == "roc")]
    assert (roc["x"].iloc[0], roc["y"].iloc[0], roc["x"].iloc[-1], roc["y"].iloc[-1]) == (0, 0, 1, 1)
    assert result.predictions["observed"].dtype == np.int8
    result.write(tmp_path)
    for name in ("predictions.parquet", "rocpr.parquet", "auc.parquet", "auc.csv", "validation_coefficients.parquet"):
        assert (tmp_path / name).exists(), name
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "auc.parquet"), result.auc)
    text = result.summary()
    assert "CONDITIONAL ON THE OBSERVED TEST NETWORK" in text and "network" in text and "logit" in text


def test_simulation_predictions_are_leak_free_and_match_btergm():
    """Simulated wave 4 (100 networks from the empty network): ROC-AUC within Monte-Carlo error of btergm's
    0.896 (its figure is simulation-based too); PR-AUC by Davis-Goadrich, never btergm's inflated kind."""
    reference = json.loads(reference_path("results/knecht_oos_rocpr.json").read_text())
    recheck = json.loads(reference_path("results/knecht_rocpr_recheck.json").read_text())["knecht_model2e"]
    result = validate({"network": FORMULA}, knecht_panel(), holdout_last=1, simulate=100)
    assert result.train == ["t1", "t2", "t3"] and result.test == ["t4"]
    auc = result.auc.set_index(["model", "kind", "period"])
    simulated = auc.loc[("network", "simulation", "t4")]
    assert simulated["roc_auc"] == pytest.approx(reference["auc_roc"], abs=0.015)
    assert simulated["pr_auc"] == pytest.approx(recheck["pr_auc_dg_corrected"], abs=0.05)
    assert simulated["pr_auc"] <= 1
    assert auc.loc[("network", "mple", "t4"), "roc_auc"] > simulated["roc_auc"]  # the MPLE's leak shows
    # simulated probabilities are multiples of 1/100, with many ties: scikit-learn's tie handling
    rows = result.predictions[result.predictions["kind"] == "simulation"]
    assert rows["probability"].nunique() < len(rows) / 4
    assert simulated["roc_auc"] == pytest.approx(roc_auc_score(rows["observed"], rows["probability"]), rel=1e-12)
    assert simulated["average_precision"] == pytest.approx(
        average_precision_score(rows["observed"], rows["probability"]), rel=1e-12
    )
    assert "LEAK-FREE" in result.summary()


def toy_panel(periods: int = 5, n: int = 12, seed: int = 3) -> Panel:
    rng = np.random.default_rng(seed)
    networks = []
    for _ in range(periods):
        y = (rng.random((n, n)) < 0.25).astype(np.uint8)
        np.fill_diagonal(y, 0)
        networks.append(y)
    x = rng.normal(size=(n, n))
    return Panel.from_arrays(
        networks,
        directed=True,
        period_names=[str(2000 + t) for t in range(periods)],
        node_attributes={"a": [rng.normal(size=n) for _ in range(periods)]},
        dyad_covariates={"x": x},
    )


def test_several_test_periods_are_pooled_and_deterministic():
    panel = toy_panel()
    models = {"net": "y ~ edges + mutual + memory", "cov": "y ~ edges + edgecov(x) + nodeicov(a)"}
    first = validate(models, panel, train=["2000", "2001", "2002"], test=["2003", "2004"], R=5, seed=7)
    again = validate(models, panel, train=["2000", "2001", "2002"], test=["2003", "2004"], R=5, seed=7)
    pd.testing.assert_frame_equal(first.auc, again.auc)
    pd.testing.assert_frame_equal(first.fits, again.fits)
    assert set(first.auc["period"]) == {"2003", "2004", "pooled"}
    # pooled = the metrics of all test dyads together
    from dyadflow.tergm.metrics import evaluate_predictions

    rows = first.predictions[(first.predictions["model"] == "net") & (first.predictions["kind"] == "mple")]
    pooled = evaluate_predictions(rows["observed"], rows["probability"])
    got = first.auc.set_index(["model", "kind", "period"]).loc[("net", "mple", "pooled")]
    np.testing.assert_allclose(got["roc_auc"], pooled.roc_auc, rtol=1e-12)
    assert len(rows) == 2 * 12 * 11
    # with bootstrap replicates the coefficient table has percentile intervals
    assert {"2.5%", "97.5%", "boot_sd"} <= set(first.fits.columns)


def test_timecov_continues_the_time_index_into_the_test_period():
    panel = toy_panel()
    fit_result = validate({"trend": "y ~ edges + timecov(transform='linear')"}, panel, holdout_last=2)
    fit = fit_result.fitted["trend"]
    split = resolve_split(panel, holdout_last=2)
    design = holdout_design(fit, panel, split)
    # periods 4 and 5 of the panel: time index 4 and 5 (not clipped to the 3 training periods)
    np.testing.assert_array_equal(design.X[design.period_rows(0), 1], 4.0)
    np.testing.assert_array_equal(design.X[design.period_rows(1), 1], 5.0)


def test_period_range_expands_a_spec_range():
    panel = toy_panel()
    assert period_range(panel, 2000, 2002) == ["2000", "2001", "2002"]
    with pytest.raises(PredictionError, match="runs backwards"):
        period_range(panel, 2002, 2000)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"train": ["2000", "2001", "2002"], "test": ["2002"]}, "inside the training range"),
        ({"train": ["2001", "2002", "2003"], "test": ["2000"]}, "inside the training range"),
        ({"train": ["2000", "2001"], "test": ["1999"]}, r"unknown test period\(s\) \['1999'\]"),
        ({"train": ["2000", "2077"], "test": ["2004"]}, r"unknown training period\(s\) \['2077'\]"),
        ({"train": ["2000", "2001"], "test": []}, "test set is empty"),
        ({"train": ["2000", "2002"], "test": ["2004"]}, "must be consecutive"),
        ({"train": ["2000"]}, "no test periods"),
        ({"test": ["2004"], "holdout_last": 1}, "not both"),
        ({"holdout_last": 5}, "holdout_last must be"),
        ({"train": ["2000"], "test": ["2001"]}, r"needing 1 earlier period\(s\).*train on at least 2"),
    ],
)
def test_bad_splits_are_clear_errors(kwargs, match):
    with pytest.raises(PredictionError, match=match):
        validate({"net": "y ~ edges + memory"}, toy_panel(), **kwargs)


def test_bad_models_are_clear_errors():
    panel = toy_panel()
    with pytest.raises(PredictionError, match="reserved"):
        validate({"random": "y ~ edges"}, panel, holdout_last=1)
    with pytest.raises(PredictionError, match="non-empty mapping"):
        validate({}, panel, holdout_last=1)
    with pytest.raises(PredictionError, match="simulate"):
        validate({"m": "y ~ edges"}, panel, holdout_last=1, simulate=-1)


def test_a_factor_level_only_in_the_test_period_is_a_clear_error():
    rng = np.random.default_rng(0)
    n = 10
    networks = [((rng.random((n, n)) < 0.3) & ~np.eye(n, dtype=bool)).astype(np.uint8) for _ in range(3)]
    group = [np.array([1, 2] * 5), np.array([1, 2] * 5), np.array([1, 2, 3, 3, 1, 2, 1, 2, 1, 2])]
    panel = Panel.from_arrays(networks, directed=True, node_attributes={"g": group})
    with pytest.raises(PredictionError, match="levels in the test periods not seen in training"):
        validate({"m": "y ~ edges + nodefactor('g')"}, panel, holdout_last=1)


def test_undirected_panel_predicts_each_dyad_once():
    rng = np.random.default_rng(4)
    n, networks = 10, []
    for _ in range(4):
        y = np.triu((rng.random((n, n)) < 0.3).astype(np.uint8), 1)
        networks.append(y | y.T)
    panel = Panel.from_arrays(networks, directed=False, dyad_covariates={"x": rng.normal(size=(n, n))})
    result = validate({"m": "y ~ edges + gwesp(0.5, fixed=TRUE) + edgecov(x) + memory"}, panel, holdout_last=1)
    rows = result.predictions
    assert len(rows) == n * (n - 1) // 2
    assert (rows["tail"].astype(int) < rows["head"].astype(int)).all()
    fit = result.fitted["m"]
    assert fit.n_periods == 2  # 3 training periods, memory drops the first


def test_score_predictions_of_any_table():
    """The metrics stage alone (what `dyadflow predict` on stored change statistics can call): a hand-made
    table of two models over two periods, checked against scikit-learn."""
    from dyadflow.tergm.prediction import score_predictions

    rng = np.random.default_rng(8)
    frames = []
    for period in ("a", "b"):
        observed = (rng.random(50) < 0.3).astype(np.int8)
        for model, noise in (("good", 0.5), ("poor", 3.0)):
            frames.append(
                pd.DataFrame(
                    {
                        "model": model,
                        "kind": "mple",
                        "period": period,
                        "tail": "x",
                        "head": "y",
                        "observed": observed,
                        "probability": expit(2 * observed + rng.normal(0, noise, 50)),
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True)
    rocpr, auc = score_predictions(table)
    auc = auc.set_index(["model", "kind", "period"])
    for model in ("good", "poor"):
        for period in ("a", "b"):
            rows = table[(table["model"] == model) & (table["period"] == period)]
            assert auc.loc[(model, "mple", period), "roc_auc"] == pytest.approx(
                roc_auc_score(rows["observed"], rows["probability"]), rel=1e-12
            )
        rows = table[table["model"] == model]
        assert auc.loc[(model, "mple", "pooled"), "roc_auc"] == pytest.approx(
            roc_auc_score(rows["observed"], rows["probability"]), rel=1e-12
        )
    assert auc.loc[("random", "mple", "a"), "roc_auc"] == 0.5
    assert set(rocpr["period"]) == {"a", "b", "pooled"}
    with pytest.raises(PredictionError, match="lacks column"):
        score_predictions(table.drop(columns="observed"))
