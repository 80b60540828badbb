"""A plain dyad-year logit (a Stata .dta table) through `dyadflow fit`: the coefficient table carries
the cluster-robust (by dyad) and conventional standard errors of statsmodels' GLM(Binomial), the oracle,
to 1e-8, beside the period bootstrap every model gets; a network model that asks for clustered SEs is
refused before anything is fitted."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from test_cli import assert_one_line_error, dyadflow

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

TOL = 1e-8


def _write_study(tmp_path) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    nodes = [f"{k:03d}" for k in range(10)]  # ids with leading zeros stay labels
    rows = []
    for year in (2001, 2002, 2003, 2004):
        for a in nodes:
            for b in nodes:
                if a != b:
                    trade, alliance = float(rng.normal()), float(rng.integers(0, 2))
                    p = 1 / (1 + np.exp(-(-0.6 + 0.8 * trade + 0.9 * alliance)))
                    rows.append((year, a, b, int(rng.random() < p), trade, alliance))
    frame = pd.DataFrame(rows, columns=["year", "ccode1", "ccode2", "mlat", "trade", "alliance"])
    frame.to_stata(tmp_path / "mlat.dta", write_index=False)
    (tmp_path / "dataset.toml").write_text(
        'name = "mlat"\ndirected = true\n[periods]\nfirst = 2001\nlast = 2004\n'
        '[network]\nformat = "dyad_years"\npath = "mlat.dta"\nperiod = "year"\ni = "ccode1"\nj = "ccode2"\ny = "mlat"\n'
    )
    return frame


def _run_spec(tmp_path, models: str) -> None:
    (tmp_path / "run.toml").write_text(
        '[dataset]\nspec = "dataset.toml"\nstore = "store"\n'
        + models
        + '[bootstrap]\nR = 10\nseed = 3\n[cluster]\nworkers = 1\n[output]\ndirectory = "out"\n'
    )


def test_stata_logit_through_dyadflow_fit_matches_statsmodels(tmp_path):
    frame = _write_study(tmp_path)
    _run_spec(tmp_path, '[models.logit]\nformula = "mlat ~ edges + edgecov(trade) + edgecov(alliance)"\n')
    result = dyadflow("fit", "run.toml", cwd=tmp_path, env=dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect")))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "out" / "coefficients.csv")
    X = np.column_stack([np.ones(len(frame)), frame["trade"], frame["alliance"]])
    y = frame["mlat"].to_numpy(float)
    groups = pd.factorize(pd.Series(list(zip(frame["ccode1"], frame["ccode2"]))))[0]
    robust = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-13, cov_type="cluster", cov_kwds={"groups": groups})
    plain = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-13)
    assert list(table.term) == ["edges", "edgecov.trade[[i]]", "edgecov.alliance[[i]]"]
    np.testing.assert_allclose(table.Estimate, robust.params, rtol=TOL)
    np.testing.assert_allclose(table["Std.Err.cluster"], robust.bse, rtol=TOL)
    np.testing.assert_allclose(table["z.cluster"], robust.tvalues, rtol=TOL)
    np.testing.assert_allclose(table["p.cluster"], robust.pvalues, rtol=TOL, atol=1e-300)
    np.testing.assert_allclose(table["Std.Err.conventional"], plain.bse, rtol=TOL)
    assert table["boot_sd"].notna().all()  # the period bootstrap is still there
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "clustered by dyad (90 clusters" in summary


def test_clustered_errors_on_a_network_model_are_refused(tmp_path):
    _write_study(tmp_path)
    _run_spec(tmp_path, '[models.net]\nformula = "mlat ~ edges + mutual + edgecov(trade)"\ncluster = "dyad"\n')
    result = dyadflow("fit", "run.toml", cwd=tmp_path, env=dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect")))
    assert_one_line_error(result, "cluster-robust standard errors are for plain logits")
    assert not (tmp_path / "out" / "coefficients.csv").exists()
