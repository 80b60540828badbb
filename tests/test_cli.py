"""The `dyadflow` command: help, clear errors for bad input, and a real `dyadflow fit` whose printed
summary and results match tergm run directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyadflow.flows.spec import RunSpecError, load_run_spec
from flows_conftest import REPO

FORMULA = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + edgecov(mlat) + absdiff('polyarchy')"


def dyadflow(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "dyadflow.flows.cli", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env or dict(os.environ), timeout=600)


def test_help_lists_every_command():
    result = dyadflow("--help")
    assert result.returncode == 0
    for command in ("demo", "run", "fit", "sensitivity", "serve"):
        assert command in result.stdout


def test_run_spec_errors_name_the_problem(tmp_path):
    def spec(text):
        path = tmp_path / "spec.toml"
        path.write_text(text)
        return path

    good = '[dataset]\nspec = "d.toml"\nstore = "s"\n[model]\nformula = "y ~ edges"\n'
    parsed = load_run_spec(spec(good))
    assert parsed.store == (tmp_path / "s").resolve() and parsed.R == 100 and parsed.sensitivity is None
    with pytest.raises(RunSpecError, match=r"\[model\] formula"):
        load_run_spec(spec('[dataset]\nspec = "d.toml"\nstore = "s"\n'))
    with pytest.raises(RunSpecError, match="batch_size"):
        load_run_spec(spec(good + "[bootstrap]\nbatch_size = 0\n"))
    with pytest.raises(RunSpecError, match="mode"):
        load_run_spec(spec(good + '[sensitivity]\nmode = "all"\n'))
    with pytest.raises(RunSpecError, match="share"):
        load_run_spec(spec(good + "[sensitivity]\nlevels = [0.5, 1.5]\n"))
    with pytest.raises(RunSpecError, match="unknown key 'plots' in the run spec"):
        load_run_spec(spec(good + "[plots]\nx = 1\n"))
    with pytest.raises(RunSpecError, match="not valid TOML"):
        load_run_spec(spec("[dataset\n"))
    address = load_run_spec(spec(good), cluster_address="tcp://127.0.0.1:8786")
    assert address.cluster.kind == "address" and address.cluster.address == "tcp://127.0.0.1:8786"


def test_bad_spec_gives_one_line_error_and_exit_status_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[dataset]\nspec = "d.toml"\nstore = "s"\n[model]\nformula = "y ~ edges"\n[bootstrap]\nR = -1\n')
    result = dyadflow("fit", str(path))
    assert result.returncode == 2
    assert "dyadflow: error: [bootstrap] R = -1" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_rejects_a_bad_interval(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text("x = 1\n")
    result = dyadflow("serve", str(path), "--every", "soon")
    assert result.returncode != 0 and "--every" in result.stderr


def test_fit_command_end_to_end(tmp_path):
    """`dyadflow fit` in a fresh process (its own Prefect home, local mode, a LocalCluster)."""
    from dyadflow import storage
    from dyadflow.storage.demo import write_demo_dataset
    from dyadflow.tergm import btergm

    write_demo_dataset(tmp_path / "data", nodes=30, periods=5, seed=3)
    spec = tmp_path / "run.toml"
    spec.write_text(
        f'[dataset]\nspec = "data/dataset.toml"\nstore = "data/store"\n[model]\nformula = "{FORMULA}"\n'
        '[bootstrap]\nR = 20\nseed = 5\nbatch_size = 10\n[cluster]\nworkers = 1\n[output]\ndirectory = "out"\n'
    )
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"))
    result = dyadflow("fit", str(spec), env=env)
    assert result.returncode == 0, result.stderr
    assert "Bootstrapping sample size: 20" in result.stdout
    assert "INFO" not in result.stdout + result.stderr  # quiet by default
    fit = btergm(FORMULA, storage.open_panel(tmp_path / "data" / "store"), R=20, seed=5, batch_size=10)
    table = pd.read_csv(tmp_path / "out" / "coefficients.csv")
    assert np.array_equal(table.Estimate.to_numpy(), fit.mple.coef)  # CSV round-trips doubles exactly
    assert not (tmp_path / "out" / "sensitivity.csv").exists()
