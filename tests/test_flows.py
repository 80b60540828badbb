"""The Prefect workflow end to end on a small demo panel (40 states x 6 years), on real Dask clusters:
numbers compared with tergm run directly in this process, across worker counts and cluster kinds,
after a worker is killed, after a crash, and under the served refresh flow."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flows_conftest import isolated_prefect, subprocess_cluster  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

FORMULA = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE) + absdiff('polyarchy') + edgecov(mlat) + edgecov(contiguity)"
R, SEED, BATCH = 30, 12345, 5
LEVELS, SIMULATIONS = [0.0, 0.3], 3


def write_run_spec(directory: Path, *, output="results", workers=2, address=None, mode="period") -> Path:
    cluster = f'kind = "address"\naddress = "{address}"' if address else f'kind = "local"\nworkers = {workers}'
    text = f"""
[dataset]
spec = "data/dataset.toml"
store = "data/store"

[model]
formula = "{FORMULA}"

[bootstrap]
R = {R}
seed = {SEED}
batch_size = {BATCH}

[sensitivity]
levels = {LEVELS}
simulations = {SIMULATIONS}
mode = "{mode}"
seed = 7

[cluster]
{cluster}

[output]
directory = "{output}"
"""
    path = directory / f"{output}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def demo_directory(tmp_path_factory):
    from dyadflow.storage.demo import write_demo_dataset

    directory = tmp_path_factory.mktemp("demo")
    write_demo_dataset(directory / "data", nodes=40, periods=6, seed=11)
    return directory


@pytest.fixture(scope="module")
def direct_fit(demo_directory):
    """The reference numbers: tergm in this process, no Dask, no Prefect."""
    from dyadflow import storage
    from dyadflow.tergm import btergm

    storage.ingest(demo_directory / "data" / "dataset.toml", demo_directory / "data" / "store")
    panel = storage.open_panel(demo_directory / "data" / "store")
    return btergm(FORMULA, panel, R=R, seed=SEED, batch_size=BATCH), panel


@pytest.fixture(scope="module")
def first_run(isolated_prefect, demo_directory, direct_fit):
    from dyadflow.flows.workflow import run_flow

    output = run_flow(str(write_run_spec(demo_directory, output="local2")))
    return Path(output)


def test_run_flow_reproduces_tergm_and_writes_every_result(first_run, direct_fit):
    fit, _ = direct_fit
    coefficients = pd.read_parquet(first_run / "coefficients.parquet")
    assert list(coefficients.term) == fit.names
    assert set(coefficients.model) == {"model"}  # a [model] table is one model named "model"
    assert np.array_equal(coefficients.Estimate.to_numpy(), fit.mple.coef)
    assert np.array_equal(coefficients.to_numpy()[:, 2:].astype(float), fit.to_frame().to_numpy())
    assert pd.read_csv(first_run / "coefficients.csv").shape == coefficients.shape
    replicates = pd.read_parquet(first_run / "bootstrap_replicates.parquet")
    assert np.array_equal(replicates[fit.names].to_numpy(), fit.replicates)
    assert len(replicates) == R
    summary = (first_run / "summary.txt").read_text()
    assert "Bootstrapping sample size: 30" in summary and "Sensitivity" in summary
    # the report is rendered from these tables (a rendering failure is only a warning in the flow)
    html = (first_run / "report.html").read_text()
    assert "Rewiring sensitivity" in html and "No rewiring sensitivity batch" not in html
    assert (first_run / "figures" / "sensitivity.png").is_file()
    regression = pd.read_csv(first_run / "regression_table.csv")
    assert list(regression.columns) == ["term", "model", "model_se"] and list(regression.term) == fit.names
    record = json.loads((first_run / "run.json").read_text())
    assert record["seeds"] == {"bootstrap": SEED, "sensitivity": 7}
    assert record["models"] == {"model": FORMULA} and "validation" not in record
    assert len(record["data"]["period_hashes"]) == 6 and record["data"]["dataset_hash"]
    assert record["versions"]["prefect"].startswith("3.8")
    assert {"ingest", "changestats", "fit", "cluster_startup", "bootstrap", "sensitivity"} <= set(record["timings_s"])


def test_sensitivity_at_zero_rewiring_is_the_baseline(first_run, direct_fit):
    fit, _ = direct_fit
    table = pd.read_parquet(first_run / "sensitivity.parquet")
    zero = table[table.level == 0.0].set_index("term").loc[fit.names]
    assert np.array_equal(zero["baseline"].to_numpy(), fit.mple.coef)
    np.testing.assert_allclose(zero["mean"].to_numpy(), fit.mple.coef, rtol=1e-15, atol=0)
    assert (zero["sd"] < 1e-15).all() and (zero["refits"] == SIMULATIONS).all()
    rewired = table[table.level == 0.3]
    assert not np.allclose(rewired["mean"].to_numpy(), rewired["baseline"].to_numpy())
    estimates = pd.read_parquet(first_run / "sensitivity_estimates.parquet")
    assert len(estimates) == len(LEVELS) * SIMULATIONS * len(fit.names)
    for s in range(SIMULATIONS):  # every refit at 0 % is the baseline fit, bit for bit
        refit = estimates[(estimates.level == 0.0) & (estimates.simulation == s)]
        assert np.array_equal(refit.estimate.to_numpy(), fit.mple.coef)


def test_rewired_refit_matches_an_independent_refit(first_run, direct_fit):
    """One sensitivity refit, recomputed here from its seed without Dask."""
    from dyadflow.tergm import mple
    from dyadflow.tergm.design import build_design
    from dyadflow.tergm.rewire import rewire_networks
    from dyadflow.tergm.sensitivity import simulation_seeds

    fit, panel = direct_fit
    seed = simulation_seeds(7, LEVELS, SIMULATIONS)[1, 2]
    networks = rewire_networks(
        [p.network for p in panel],
        0.3,
        np.random.default_rng(int(seed)),
        directed=False,
        nodes=[p.nodes for p in panel],
    )
    for before, after in zip(panel, networks):
        assert after.sum() == before.network.sum()  # each period keeps its tie count
    rewired_design = build_design(FORMULA, panel.with_networks(networks))
    estimates = pd.read_parquet(first_run / "sensitivity_estimates.parquet")
    # the level's first refit starts at the baseline, the level's others at the first's estimate
    pilot = estimates[(estimates.level == 0.3) & (estimates.simulation == 0)].estimate.to_numpy()
    expected = mple(rewired_design, start=pilot).coef
    got = estimates[(estimates.level == 0.3) & (estimates.simulation == 2)].estimate.to_numpy()
    assert np.array_equal(got, expected)
    # the warm start changes nothing but rounding: the fit from 0 is the same maximum
    np.testing.assert_allclose(got, mple(rewired_design).coef, rtol=1e-10, atol=1e-12)


def _tie_spells(networks, nodes, directed=False) -> list[tuple[int, ...]]:
    """Each labelled dyad ever tied, as its 0/1 pattern over the periods (sorted): what agreement
    rewiring must keep, since an agreement moves with all its periods."""
    patterns = {}
    for t, (adj, labels) in enumerate(zip(networks, nodes)):
        for i, j in zip(*np.nonzero(adj if directed else np.triu(adj, 1))):
            patterns.setdefault((labels[i], labels[j]), [0] * len(networks))[t] = 1
    return sorted(tuple(p) for p in patterns.values())


def test_agreement_rewiring_inside_the_flow(first_run, demo_directory, direct_fit):
    """mode = "agreement": every refit moves whole agreements (spells kept, tie counts kept), and the
    flow's refits equal an independent rewire + rebuild + fit from the same seed."""
    from dyadflow.flows.workflow import run_flow
    from dyadflow.tergm import mple
    from dyadflow.tergm.design import build_design
    from dyadflow.tergm.rewire import rewire_networks
    from dyadflow.tergm.sensitivity import simulation_seeds

    fit, panel = direct_fit
    output = Path(run_flow(str(write_run_spec(demo_directory, output="agreement", mode="agreement"))))
    estimates = pd.read_parquet(output / "sensitivity_estimates.parquet")
    nodes = [p.nodes for p in panel]
    seeds = simulation_seeds(7, LEVELS, SIMULATIONS)
    for s in range(SIMULATIONS):
        assert np.array_equal(estimates[(estimates.level == 0.0) & (estimates.simulation == s)].estimate, fit.mple.coef)
        networks = rewire_networks(
            [p.network for p in panel],
            0.3,
            np.random.default_rng(int(seeds[1, s])),
            directed=False,
            mode="agreement",
            nodes=nodes,
        )
        assert [a.sum() for a in networks] == [p.network.sum() for p in panel]
        assert _tie_spells(networks, nodes) == _tie_spells([p.network for p in panel], nodes)
        assert not all(np.array_equal(a, p.network) for a, p in zip(networks, panel))
        pilot = estimates[(estimates.level == 0.3) & (estimates.simulation == 0)].estimate.to_numpy()
        start = fit.mple.coef if s == 0 else pilot  # the level's others start at its first refit's estimate
        expected = mple(build_design(FORMULA, panel.with_networks(networks)), start=start).coef
        got = estimates[(estimates.level == 0.3) & (estimates.simulation == s)].estimate.to_numpy()
        assert np.array_equal(got, expected)
    period_mode = pd.read_parquet(first_run / "sensitivity_estimates.parquet")
    assert not np.array_equal(
        period_mode[period_mode.level == 0.3].estimate, estimates[estimates.level == 0.3].estimate
    )
    assert json.loads((output / "run.json").read_text())["spec"]["sensitivity"]["mode"] == "agreement"


def _results(directory: Path):
    return (
        pd.read_parquet(directory / "coefficients.parquet"),
        pd.read_parquet(directory / "bootstrap_replicates.parquet"),
        pd.read_parquet(directory / "sensitivity_estimates.parquet"),
    )


def _assert_same_results(a: Path, b: Path):
    for left, right in zip(_results(a), _results(b)):
        pd.testing.assert_frame_equal(left, right, check_exact=True)


@pytest.mark.parametrize("workers", [1, 4])
def test_identical_results_for_any_number_of_workers(first_run, demo_directory, workers):
    from dyadflow.flows.workflow import run_flow

    output = run_flow(str(write_run_spec(demo_directory, output=f"local{workers}", workers=workers)))
    _assert_same_results(first_run, Path(output))


def test_identical_results_on_a_subprocess_scheduler(first_run, demo_directory, subprocess_cluster):
    from dyadflow.flows.workflow import run_flow

    output = run_flow(str(write_run_spec(demo_directory, output="address", address=subprocess_cluster)))
    _assert_same_results(first_run, Path(output))
    assert json.loads((Path(output) / "run.json").read_text())["cluster"]["kind"] == "address"


def test_rerun_after_a_crash_reuses_finished_stages_and_batches(first_run, demo_directory):
    from dyadflow.flows.workflow import run_flow

    copy = demo_directory / "crashed"
    shutil.copytree(first_run, copy)
    checkpoints = sorted((copy / ".checkpoints").rglob("*.np[yz]"))
    boot = sorted((copy / ".checkpoints" / "bootstrap").glob("*"))
    refits = sorted((copy / ".checkpoints" / "refit").glob("*"))
    assert len(boot) == R // BATCH and len(refits) == len(LEVELS) * SIMULATIONS
    lost = [boot[0], refits[0], refits[-1]]  # the crash lost these (and every result file)
    for path in lost:
        path.unlink()
    truncated = [boot[1], refits[1]]  # and left these damaged (e.g. a copy cut short)
    for path in truncated:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for path in copy.iterdir():
        if path.is_file():
            path.unlink()
    kept = {path: path.stat().st_mtime_ns for path in checkpoints if path not in lost + truncated}
    run_flow(str(write_run_spec(demo_directory, output="crashed")))
    for path, mtime in kept.items():
        assert path.stat().st_mtime_ns == mtime  # reused, not recomputed
    assert all(path.exists() for path in lost)  # recomputed
    from dyadflow.flows.fanout import Checkpoints

    for path in truncated:  # discarded with a warning and recomputed, not a BadZipFile on every rerun
        assert Checkpoints(path.parent).load(path.name.rsplit(".", 1)[0]) is not None
    _assert_same_results(first_run, copy)
    timings = json.loads((copy / "run.json").read_text())["timings_s"]
    assert timings["changestats_periods_computed"] == 0 and timings["changestats_periods_reused"] == 6


def test_a_worker_killed_during_the_bootstrap_does_not_change_the_result(direct_fit):
    from dyadflow.cluster import ClusterSpec, dask_client
    from dyadflow.flows import stages
    from dyadflow.tergm.design import build_design

    fit, panel = direct_fit
    design = build_design(FORMULA, panel)
    killed = []
    with dask_client(ClusterSpec(workers=2)) as client:
        pids = sorted(client.run(os.getpid).values())

        def progress(n):
            if not killed:  # first batch back: the others are queued or running
                pending = sum(len(v) for v in client.processing().values())
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pending)

        result = stages.bootstrap(client, design, R=60, seed=SEED, batch_size=2, progress=progress)
        assert pids[0] not in client.run(os.getpid).values()
    assert killed and killed[0] > 0  # the kill happened while batches were still running
    from dyadflow.tergm import fit_design

    expected = fit_design(design, R=60, seed=SEED, batch_size=2)
    assert np.array_equal(result.replicates, expected.replicates)
    assert np.array_equal(result.mple.coef, expected.mple.coef)


def test_refresh_flow_re_estimates_only_when_the_data_changed(isolated_prefect, demo_directory):
    from dyadflow.flows.workflow import refresh_flow

    spec = write_run_spec(demo_directory, output="served")
    first = refresh_flow(str(spec))
    assert first["estimated"]
    again = refresh_flow(str(spec))
    assert not again["estimated"] and again["dataset_hash"] == first["dataset_hash"]

    # change one period of the input data: one dyad's trade in 1993
    path = demo_directory / "data" / "dyad_years.parquet"
    frame = pd.read_parquet(path)
    row = frame.index[frame.year == 1993][0]
    frame.loc[row, "log_trade"] += 0.5
    frame.to_parquet(path, index=False)
    changed = refresh_flow(str(spec))
    assert changed["estimated"] and changed["changed_periods"] == ["1993"]
    assert not refresh_flow(str(spec))["estimated"]
    state = json.loads((demo_directory / "served" / "state.json").read_text())
    assert state["estimations"] == 2 and state["dataset_hash"] == changed["dataset_hash"]
    record = json.loads((demo_directory / "served" / "run.json").read_text())
    assert record["timings_s"]["changestats_periods_computed"] == 1  # only 1993's rows were rebuilt


def test_served_deployment_re_estimates_once_per_data_change(tmp_path):
    """`dyadflow serve --every 3s` in a subprocess (it starts its own Prefect server on 127.0.0.1):
    the first scheduled run estimates, unchanged data triggers nothing, one changed period triggers
    exactly one re-estimation."""
    import subprocess
    import sys
    import time

    from flows_conftest import REPO, describe_processes, marked_environment, marked_processes, wait_until_gone

    from dyadflow.storage.demo import write_demo_dataset

    write_demo_dataset(tmp_path / "data", nodes=30, periods=4, seed=5)
    spec = tmp_path / "served.toml"
    spec.write_text(
        f'[dataset]\nspec = "data/dataset.toml"\nstore = "data/store"\n[model]\nformula = "{FORMULA}"\n'
        '[bootstrap]\nR = 10\nseed = 1\nbatch_size = 5\n[cluster]\nworkers = 1\n[output]\ndirectory = "served"\n'
    )
    state_path = tmp_path / "served" / "state.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="1",
    )
    env, marker = marked_environment(env)
    server = subprocess.Popen(
        [sys.executable, "-m", "dyadflow.flows.cli", "serve", str(spec), "--every", "3s"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # its own process group: stopped below as Ctrl-C would

    def wait_for(condition, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"dyadflow serve exited: {server.stderr.read()[-2000:]}")
            if condition():
                return True
            time.sleep(0.5)
        return False

    def estimations():
        try:
            return json.loads(state_path.read_text())["estimations"]
        except (OSError, ValueError, KeyError):
            return 0

    try:
        assert wait_for(lambda: estimations() >= 1, 240), "no scheduled run estimated the model"
        ingested = lambda: (tmp_path / "data" / "store").exists()
        assert ingested()
        runs_before = len(list((tmp_path / "served").glob("run.json")))
        assert not wait_for(lambda: estimations() > 1, 15)  # several scheduled runs, unchanged data: none
        path = tmp_path / "data" / "dyad_years.parquet"
        frame = pd.read_parquet(path)
        frame.loc[frame.index[frame.year == frame.year.max()][0], "log_trade"] += 0.5
        frame.to_parquet(path, index=False)
        assert wait_for(lambda: estimations() >= 2, 120), "the changed period was not re-estimated"
        assert not wait_for(lambda: estimations() > 2, 15)
        assert runs_before == 1
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    left = wait_until_gone(marked_processes(marker), timeout=30)
    assert not left, "processes left running after Ctrl-C:\n" + describe_processes(left)
