"""`dyadflow demo` on a small panel whose static contiguity table covers states that never enter it
(with 3 years from 1990, Andorra and others join the UN too late): the whole workflow runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from flows_conftest import REPO

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out


def test_demo_command_runs_on_three_periods(tmp_path):
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dyadflow.flows.cli",
            "demo",
            "--directory",
            str(tmp_path / "demo"),
            "--periods",
            "3",
            "--nodes",
            "20",
            "--R",
            "5",
            "--simulations",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    assert "demo panel: 20 nodes x 3 periods" in result.stdout
    # the contiguity table's rows of states outside the panel are left out with one summary line
    assert "never in the panel" in result.stderr and "left out" in result.stderr
    results = tmp_path / "demo" / "results"
    assert f"results: {results}" in result.stdout
    coefficients = pd.read_csv(results / "coefficients.csv")
    # the study's three models: network terms only (3), the plain logit (6), both (8)
    assert coefficients.groupby("model", sort=False).size().to_dict() == {"network": 3, "logit": 6, "full": 8}
    assert coefficients.Estimate.notna().all() and coefficients["Std.Err.cluster"].notna().sum() == 6
    for name in (
        "predictions.parquet",
        "auc.csv",
        "rocpr.parquet",
        "gof.parquet",
        "profiles.parquet",
        "marginal_effects.parquet",
        "regression_table.tex",
        "figures/roc_pr.png",
        "figures/gof.png",
    ):
        assert (results / name).is_file(), name
    assert result.stdout.rstrip().splitlines()[-1] == f"report: {results / 'report.html'}"
    assert "Bootstrapping sample size: 5" in (results / "summary.txt").read_text()
    sensitivity = pd.read_csv(results / "sensitivity.csv")
    assert len(sensitivity) > 0
