"""Simulation on Dask and through the CLI: the same seed gives the same draws locally and on 2 workers
(one chain per period, seeded by (seed, period)), and `dyadflow gof spec.toml` writes the gof tables."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from flows_conftest import REPO, subprocess_cluster  # noqa: F401  (fixture)

from dyadflow.flows.fanout import Checkpoints, batch_mapper
from dyadflow.storage.demo import write_demo_dataset
from dyadflow.tergm.api import btergm
from dyadflow.tergm.gof import gof

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

FORMULA = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE) + edgecov(mlat)"


def demo_panel(tmp_path):
    from dyadflow import storage

    write_demo_dataset(tmp_path / "data", nodes=30, periods=4, seed=3)
    storage.ingest(tmp_path / "data" / "dataset.toml", tmp_path / "data" / "store")
    return storage.open_panel(tmp_path / "data" / "store")


def test_same_seed_same_draws_locally_and_on_two_workers(tmp_path, subprocess_cluster):
    from distributed import Client

    panel = demo_panel(tmp_path)
    fit = btergm(FORMULA, panel, R=2)
    local = gof(fit, nsim=20, interval=200, burnin=1000, seed=9)
    with Client(subprocess_cluster, timeout=60) as client:
        mapper = batch_mapper(client, label="gof-test", key_parts=(9,), checkpoints=Checkpoints(tmp_path / "ck"))
        remote = gof(fit, nsim=20, interval=200, burnin=1000, seed=9, map_tasks=mapper)
        again = gof(fit, nsim=20, interval=200, burnin=1000, seed=9, map_tasks=mapper)  # from the checkpoints
    pd.testing.assert_frame_equal(local.table, remote.table)
    pd.testing.assert_frame_equal(local.table, again.table)
    for a, b in zip(local.simulation, remote.simulation):
        assert np.array_equal(a.tie_dyads, b.tie_dyads)


def test_gof_command_end_to_end(tmp_path):
    write_demo_dataset(tmp_path / "data", nodes=30, periods=4, seed=3)
    spec = tmp_path / "run.toml"
    spec.write_text(
        f'[dataset]\nspec = "data/dataset.toml"\nstore = "data/store"\n[model]\nformula = "{FORMULA}"\n'
        '[gof]\nnsim = 20\ninterval = 200\nseed = 4\n[cluster]\nworkers = 1\n[output]\ndirectory = "out"\n'
    )
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"))
    result = subprocess.run(
        [sys.executable, "-m", "dyadflow.flows.cli", "gof", str(spec)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "out" / "gof.csv")
    assert set(table["statistic"]) == {"degree", "esp", "dsp", "geodesic", "model"}
    assert "pooled" in set(table["period"].astype(str))
    diagnostics = pd.read_csv(tmp_path / "out" / "mcmc_diagnostics.csv")
    assert set(diagnostics["term"]) == {"edges", "gwesp.fixed.0.5", "gwdeg.fixed.0.5", "edgecov.mlat[[i]]"}
    assert (tmp_path / "out" / "coefficients.csv").exists()


def test_run_spec_gof_and_estimate_errors(tmp_path):
    import pytest

    from dyadflow.flows.spec import RunSpecError, load_run_spec

    good = '[dataset]\nspec = "d.toml"\nstore = "s"\n[model]\nformula = "y ~ edges"\n'
    path = tmp_path / "spec.toml"
    path.write_text(good + "[gof]\nnsim = 50\n")
    spec = load_run_spec(path)
    assert spec.gof.nsim == 50 and spec.gof.interval is None and spec.estimate == "MPLE"
    for extra, message in [
        ("[gof]\nnsim = 0\n", r"\[gof\] nsim"),
        ("[gof]\nburnin = -1\n", r"\[gof\] burnin"),
        ("[gof]\nchains = 2\n", "unknown key 'chains'"),
    ]:
        path.write_text(good + extra)
        with pytest.raises(RunSpecError, match=message):
            load_run_spec(path)
    path.write_text(good.replace('"y ~ edges"\n', '"y ~ edges"\nestimate = "Bayes"\n'))
    with pytest.raises(RunSpecError, match="estimate"):
        load_run_spec(path)
    path.write_text(good.replace('"y ~ edges"\n', '"y ~ edges"\nestimate = "MLE"\n'))
    assert load_run_spec(path).estimate == "MLE"


def test_same_seed_same_draws_on_one_and_on_two_dask_workers(tmp_path, subprocess_cluster):
    """The chains of all periods on ONE Dask worker (one after another, one numba random state) give
    the draws they give spread over TWO workers: each chain reseeds from (seed, period) alone."""
    from distributed import Client, LocalCluster

    panel = demo_panel(tmp_path)
    fit = btergm(FORMULA, panel, R=2)
    runs = []
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as one,
        Client(one, timeout=60) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 1
        runs.append(
            gof(
                fit,
                nsim=20,
                interval=200,
                burnin=1000,
                seed=4,
                map_tasks=batch_mapper(client, label="gof-one-worker", key_parts=(4,)),
            )
        )
    with Client(subprocess_cluster, timeout=60) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        runs.append(
            gof(
                fit,
                nsim=20,
                interval=200,
                burnin=1000,
                seed=4,
                map_tasks=batch_mapper(client, label="gof-two-workers", key_parts=(4,)),
            )
        )
    one_worker, two_workers = runs
    assert len(one_worker.simulation) == len(two_workers.simulation) > 1
    for a, b in zip(one_worker.simulation, two_workers.simulation):
        assert a.period == b.period
        assert np.array_equal(a.tie_ptr, b.tie_ptr) and np.array_equal(a.tie_dyads, b.tie_dyads)
        assert np.array_equal(a.statistics, b.statistics)
    pd.testing.assert_frame_equal(one_worker.table, two_workers.table)
