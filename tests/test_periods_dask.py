"""The period engine on Dask workers (flows.periods) against the in-memory fit: the same bits on 1, 2
and 4 workers, with the design spilled to Zarr, with a memory limit per worker below the design's
size, and with a worker killed mid-fit."""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

import cloudpickle
import numpy as np
import pytest

from dyadflow import storage
from dyadflow.cluster import ClusterSpec, dask_client
from dyadflow.flows.cli import DEMO_FORMULA
from dyadflow.flows.fanout import Checkpoints
from dyadflow.flows.periods import DaskPeriods, fit_on_workers
from dyadflow.storage.demo import write_demo_dataset
from dyadflow.tergm.api import btergm, fit_design
from dyadflow.tergm.design import build_design, parse_model
from dyadflow.tergm.engine import fit_periods

pytestmark = pytest.mark.slow

cloudpickle.register_pickle_by_value(sys.modules[__name__])

R, SEED = 12, 3


def ingested(directory, nodes: int, periods: int):
    write_demo_dataset(directory / "data", nodes=nodes, periods=periods, seed=11)
    storage.ingest(directory / "data" / "dataset.toml", directory / "store")
    return directory / "store"


def assert_same_fit(engine, in_memory):
    for field in ("coef", "iterations", "loglik", "null_deviance", "score", "information", "nobs"):
        assert np.array_equal(getattr(engine.mple, field), getattr(in_memory.mple, field)), field
    assert np.array_equal(engine.replicates, in_memory.replicates)
    assert np.array_equal(engine.resamples, in_memory.resamples)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    store = ingested(tmp_path_factory.mktemp("periods"), nodes=60, periods=6)
    panel = storage.open_panel(store)
    return store, parse_model(DEMO_FORMULA, panel), fit_design(build_design(DEMO_FORMULA, panel), R=R, seed=SEED)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_workers_give_the_in_memory_numbers(small, workers, tmp_path):
    store, model, expected = small
    with dask_client(ClusterSpec.from_mapping({"workers": workers})) as client:
        with DaskPeriods(client, store, model) as periods:
            assert_same_fit(fit_periods(periods, R=R, seed=SEED, batch_size=5), expected)
        if workers == 2:
            with DaskPeriods(client, store, model, spill=tmp_path / "spill") as periods:
                assert_same_fit(fit_periods(periods, R=R, seed=SEED), expected)
            assert len(list((tmp_path / "spill").glob("period-*"))) == model.n_periods - model.lag
            assert not list((tmp_path / "spill").glob(".*"))  # no half-written period left behind


def test_fit_on_workers_is_btergm_without_the_rows(small):
    """The workflow's entry point: the Fit of tergm.api.btergm (estimates, replicates, layout, nobs),
    on the whole store and on a training window of it, with only the design's outline in the driver."""
    store, _, _ = small
    panel = storage.open_panel(store)
    with dask_client(ClusterSpec.from_mapping({"workers": 2})) as client:
        for select in (None, [0, 1, 2, 3]):
            fit = fit_on_workers(client, store, DEMO_FORMULA, R=R, seed=SEED, batch_size=5, select=select)
            expected = btergm(DEMO_FORMULA, panel if select is None else panel.select(select), R=R, seed=SEED)
            assert_same_fit(fit, expected)
            assert fit.nobs == expected.nobs and fit.nobs_btergm == expected.nobs_btergm
            assert fit.design_matrix.periods == expected.design_matrix.periods
            assert np.array_equal(fit.design_matrix.offsets, expected.design_matrix.offsets)
            for mine, theirs in zip(fit.design_matrix.nodes, expected.design_matrix.nodes):
                assert np.array_equal(mine, theirs)
            assert fit.ci().equals(expected.ci()) and fit.standard_errors().equals(expected.standard_errors())
            assert (fit.formula, fit.seed, fit.n_periods) == (expected.formula, expected.seed, expected.n_periods)
            with pytest.raises(ValueError, match="live on the Dask workers"):
                fit.design()


class Crash(Exception):
    """Stands for the driver dying: raised from the progress report after some batches."""


def test_a_fit_stopped_mid_bootstrap_resumes_from_its_checkpoints(small, tmp_path):
    """The MPLE and each finished bootstrap batch are checkpointed; a rerun after a crash loads them
    (their files are not rewritten), computes only the missing batches and gives btergm's numbers."""
    store, _, expected = small
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    key = [f"hash-of-period-{t}" for t in range(6)]

    def crash_after_two(done, total):
        if done >= 10:  # two batches of 5
            raise Crash

    with dask_client(ClusterSpec.from_mapping({"workers": 2})) as client:
        with pytest.raises(Crash):
            fit_on_workers(
                client, store, DEMO_FORMULA, R=R, seed=SEED, batch_size=5, progress=crash_after_two,
                checkpoints=checkpoints, data_key=key,
            )  # fmt: skip
        saved = {path.name: path.stat().st_mtime_ns for path in checkpoints.directory.iterdir()}
        assert len(saved) == 1 + 2  # the MPLE and two batches
        reports = []
        fit = fit_on_workers(
            client, store, DEMO_FORMULA, R=R, seed=SEED, batch_size=5, progress=lambda d, t: reports.append(d),
            checkpoints=checkpoints, data_key=key,
        )  # fmt: skip
        assert_same_fit(fit, expected)
        assert reports == [5, 10, 12]
        files = {path.name: path.stat().st_mtime_ns for path in checkpoints.directory.iterdir()}
        assert len(files) == 1 + 3 and all(files[name] == saved[name] for name in saved)
        # another data key (a changed period) shares nothing with these checkpoints
        fit_on_workers(
            client, store, DEMO_FORMULA, R=R, seed=SEED, batch_size=5, checkpoints=checkpoints,
            data_key=key[:-1] + ["changed"],
        )  # fmt: skip
        assert len(list(checkpoints.directory.iterdir())) == 2 * (1 + 3)


class KillingPeriods(DaskPeriods):
    """Kills the worker that holds period 0 when the third request arrives (the Newton iteration
    is under way), then answers it: Dask rebuilds the lost periods from the store elsewhere."""

    calls = 0
    killed: str | None = None

    def contributions(self, requests):
        self.calls += 1
        if self.calls == 3:
            [holder] = self.client.who_has([self._periods[0]])[self._periods[0].key]
            self.killed = holder
            pid = self.client.run(os.getpid, workers=[holder])[holder]
            os.kill(pid, signal.SIGKILL)
        return super().contributions(requests)


def test_a_worker_killed_mid_fit_changes_nothing(small):
    store, model, expected = small
    with dask_client(ClusterSpec.from_mapping({"workers": 2})) as client:
        with KillingPeriods(client, store, model) as periods:
            fit = fit_periods(periods, R=R, seed=SEED)
        assert periods.killed is not None and periods.killed not in client.scheduler_info()["workers"]
    assert_same_fit(fit, expected)


def test_a_design_larger_than_a_workers_memory(tmp_path):
    """4 workers of 600 MB each (Dask pauses a worker at 80 % of it and stops it at 95 %) fit a
    design of over 600 MB, spilled to Zarr, and get the one-process numbers."""
    store = ingested(tmp_path, nodes=800, periods=35)
    panel = storage.open_panel(store)
    design = build_design(DEMO_FORMULA, panel)
    assert design.X.nbytes > 600e6
    expected = fit_design(design, R=4, seed=SEED)
    del design
    model = parse_model(DEMO_FORMULA, panel)
    spec = ClusterSpec.from_mapping({"workers": 4, "memory_limit": "600MB"})
    with dask_client(spec) as client, ThreadPoolExecutor(1) as driver:
        client.wait_for_workers(4)
        workers = set(client.scheduler_info()["workers"])
        with DaskPeriods(client, store, model, spill=tmp_path / "spill") as periods:
            # a paused worker would wait for memory forever: fail instead
            fit = driver.submit(fit_periods, periods, R=4, seed=SEED).result(timeout=600)
        assert set(client.scheduler_info()["workers"]) == workers  # none was stopped for memory
    assert_same_fit(fit, expected)
