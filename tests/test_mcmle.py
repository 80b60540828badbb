"""MCMC-MLE against ergm's recorded MLEs (tests/data/reference/results/ergm_crosssectional.json):
within 2 of ergm's standard errors of ergm's MLE, and at the estimate the simulated mean statistics
equal the observed ones within 2 Monte-Carlo standard errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyadflow.tergm.api import ergm
from dyadflow.tergm.mcmle import hummel_step, mcmle
from dyadflow.tergm.simulation import SimulationError

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

REFERENCE = Path(__file__).parent / "data" / "reference"
ERGM = json.loads((REFERENCE / "results" / "ergm_crosssectional.json").read_text())


def flomarriage():
    return pd.read_csv(REFERENCE / "ergm" / "flomarriage_adjacency.csv", index_col=0).to_numpy(np.uint8)


def check_against_ergm(fit, key):
    reference = ERGM[key]
    assert fit.names == list(reference["coef"])
    ergm_coef = np.array(list(reference["coef"].values()))
    ergm_se = np.sqrt(np.diag(reference["vcov"]))
    assert fit.converged
    assert np.all(np.abs(fit.estimate - ergm_coef) < 2 * ergm_se), (fit.estimate, ergm_coef, ergm_se)
    assert np.all(np.abs(fit.simulated_mean - fit.observed) < 2 * fit.simulated_mean_se)
    np.testing.assert_allclose(fit.observed, list(reference["observed_stats"].values()))
    # our standard errors agree with ergm's to Monte-Carlo accuracy
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), ergm_se, rtol=0.25)


@pytest.mark.parametrize(
    "key, formula",
    [
        ("flomarriage_edges_triangle_MLE", "y ~ edges + triangle"),
        ("flomarriage_edges_gwesp025_MLE", "y ~ edges + gwesp(0.25, fixed = TRUE)"),
    ],
)
def test_flomarriage_mle_matches_ergm(key, formula):
    fit = ergm(formula, flomarriage(), directed=False, estimate="MLE")
    check_against_ergm(fit, key)
    assert "MCMC-MLE" in fit.summary()
    assert list(fit.to_frame().columns[:3]) == ["Estimate", "2.5%", "97.5%"]


def test_faux_mesa_high_mle_matches_ergm():
    adj = pd.read_csv(REFERENCE / "ergm" / "faux.mesa.high_adjacency.csv.gz", index_col=0).to_numpy(np.uint8)
    grade = pd.read_csv(REFERENCE / "ergm" / "faux.mesa.high_nodes.csv")["Grade"].to_numpy()
    fit = ergm(
        'y ~ edges + nodematch("Grade") + gwesp(0.5, fixed = TRUE)',
        adj,
        directed=False,
        node_attributes={"Grade": grade},
        estimate="MLE",
        mcmc={"seed": 1},
    )
    check_against_ergm(fit, "fauxmesa_edges_nmGrade_gwesp05_MLE")


def test_hummel_step():
    rng = np.random.default_rng(0)
    centred = rng.normal(size=(500, 2))
    assert hummel_step(centred) == 1.0  # the observed point (0) is deep inside the cloud
    far = centred + 10.0  # observed far outside: a partial step
    assert 0.0 < hummel_step(far) < 0.5


def test_bad_estimate_and_samplesize():
    with pytest.raises(ValueError, match="estimate"):
        ergm("y ~ edges", flomarriage(), directed=False, estimate="Bayes")
    fit = ergm("y ~ edges", flomarriage(), directed=False)
    with pytest.raises(SimulationError, match="samplesize"):
        mcmle(fit, samplesize=0)
    with pytest.raises(SimulationError, match="burnin"):
        mcmle(fit, burnin=-3)
