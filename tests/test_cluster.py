"""The cluster layer and the Dask fan-out: real LocalClusters with process workers and a
`dask scheduler` + `dask worker` started as subprocesses; results compared number for number."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import cloudpickle
import numpy as np
import pytest
from flows_conftest import subprocess_cluster, worker_environment  # noqa: F401  (fixture)

from dyadflow.cluster import ClusterSpec, ClusterSpecError, dask_client
from dyadflow.flows.fanout import Checkpoints, batch_mapper, content_key, map_on_dask

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

# Workers started as subprocesses cannot import this test module; ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def seeded_estimate(scale: float, item: int) -> np.ndarray:
    """A stand-in for one refit: a deterministic function of the item (least squares on seeded data)."""
    rng = np.random.default_rng(item)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) * scale + rng.normal(size=200)
    return np.linalg.lstsq(X, y, rcond=None)[0]


def slow_estimate(delay: float, item: int) -> np.ndarray:
    time.sleep(delay)
    return seeded_estimate(1.0, item)


def refuse(item):
    raise AssertionError("a checkpointed item was recomputed")


def expected(items, scale=1.0):
    return [seeded_estimate(scale, i) for i in items]


def test_cluster_spec_parsing_and_errors():
    assert ClusterSpec.from_mapping(None).kind == "local"
    spec = ClusterSpec.from_mapping({"kind": "local", "workers": 3})
    assert spec.workers == 3 and spec.worker_env()["NUMBA_NUM_THREADS"] == "1"
    assert ClusterSpec.from_mapping({"workers": 2}, address="tcp://127.0.0.1:8786").kind == "address"
    with pytest.raises(ClusterSpecError, match="kind"):
        ClusterSpec.from_mapping({"kind": "yarn"})
    with pytest.raises(ClusterSpecError, match="workers"):
        ClusterSpec.from_mapping({"workers": 0})
    with pytest.raises(ClusterSpecError, match="address"):
        ClusterSpec.from_mapping({"kind": "address"})
    with pytest.raises(ClusterSpecError, match="unknown key .cores. in \\[cluster\\]"):
        ClusterSpec.from_mapping({"kind": "local", "cores": 4})


@pytest.mark.parametrize(
    "kind,module,extra",
    [
        ("slurm", "dask_jobqueue", "slurm"),
        ("pbs", "dask_jobqueue", "pbs"),
        ("kubernetes", "dask_kubernetes", "kubernetes"),
    ],
)
def test_optional_backends_name_their_extra(kind, module, extra, monkeypatch):
    """Without the backend's package (None in sys.modules makes its import fail), the error names the extra."""
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, f"{module}.operator", None)
    with pytest.raises(ClusterSpecError, match=rf"pip install 'dyadflow\[{extra}\]'"):
        with dask_client(ClusterSpec(kind=kind)):
            pass


def test_content_key_is_stable_and_discriminating():
    a = content_key("x", np.arange(4), [1, 2.5, "s"])
    assert a == content_key("x", np.arange(4), [1, 2.5, "s"])
    assert a != content_key("x", np.arange(4).astype(np.int32), [1, 2.5, "s"])
    assert a != content_key("x", np.arange(5), [1, 2.5, "s"])
    with pytest.raises(TypeError):
        content_key(object())


@pytest.mark.parametrize("workers", [1, 2])
def test_local_cluster_results_are_identical_for_any_worker_count(workers, tmp_path):
    import functools

    items = list(range(150))  # several to a task at first (fanout.task_chunks), single ones at the end
    with dask_client(ClusterSpec(workers=workers)) as client:
        threads = client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
        assert len(threads) == workers and set(threads.values()) == {"1"}
        # Dask's statistical profiler is off on the workers (it costs a CPU-bound task a few per cent)
        profiling = client.run(lambda dask_worker: dask_worker.periodic_callbacks.get("profile") is not None)
        assert set(profiling.values()) == {False}
        # and its monitors poll once a second or two, not every 20-500 ms (cluster.LOCAL_MONITOR_INTERVALS)
        polling = client.run(
            lambda dask_worker: {k: v.callback_time for k, v in dask_worker.periodic_callbacks.items()}
        )
        for intervals in polling.values():
            assert intervals["memory_monitor"] == intervals["tick"] == 1000 and intervals["monitor"] == 2000
        pids = client.run(os.getpid)
        assert os.getpid() not in pids.values()  # process workers
        seen = []
        results = map_on_dask(client, functools.partial(seeded_estimate, 2.0), items, label="t", progress=seen.append)
    assert sum(seen) == len(items)
    for got, want in zip(results, expected(items, 2.0)):
        assert np.array_equal(got, want)


def test_checkpoints_are_reused_after_a_crash(tmp_path):
    import functools

    items = list(range(6))
    checkpoints = Checkpoints(tmp_path / "ck")
    keys = [content_key("ck", i) for i in items]
    with dask_client(ClusterSpec(workers=1)) as client:
        first = map_on_dask(
            client, functools.partial(seeded_estimate, 1.0), items, label="ck", keys=keys, checkpoints=checkpoints
        )
        # Simulate a crash that lost two items: their checkpoints are gone, the rest must be reused.
        for key in keys[:2]:
            (tmp_path / "ck" / f"{key}.npy").unlink()
        with pytest.raises(Exception, match="recomputed"):
            map_on_dask(client, refuse, items, label="ck", keys=keys, checkpoints=checkpoints)
        second = map_on_dask(
            client, functools.partial(seeded_estimate, 1.0), items, label="ck", keys=keys, checkpoints=checkpoints
        )
        third = map_on_dask(client, refuse, items, label="ck", keys=keys, checkpoints=checkpoints)
    for a, b, c, want in zip(first, second, third, expected(items)):
        assert np.array_equal(a, want) and np.array_equal(b, want) and np.array_equal(c, want)


def test_batch_mapper_keys_batches_by_content(tmp_path):
    import functools

    batches = [np.arange(3), np.arange(3, 6)]
    calls = []
    checkpoints = Checkpoints(tmp_path / "b")
    with dask_client(ClusterSpec(workers=1)) as client:
        mapper = batch_mapper(client, label="b", key_parts=("design",), checkpoints=checkpoints, progress=calls.append)
        got = mapper(functools.partial(_sum_estimates, 1.0), batches)
    assert len(list((tmp_path / "b").glob("*.npy"))) == 2
    for batch, result in zip(batches, got):
        assert np.array_equal(result, np.vstack([seeded_estimate(1.0, int(i)) for i in batch]))


def _sum_estimates(scale, batch):
    return np.vstack([seeded_estimate(scale, int(i)) for i in batch])


def test_a_killed_worker_does_not_change_the_result():
    import functools

    items = list(range(16))
    with dask_client(ClusterSpec(workers=2)) as client:
        pids = sorted(client.run(os.getpid).values())
        done = []
        killed = threading.Event()

        def progress(n):
            done.append(n)
            if sum(done) >= 3 and not killed.is_set():
                killed.set()
                os.kill(pids[0], signal.SIGKILL)  # the nanny restarts it; its tasks are rescheduled

        results = map_on_dask(client, functools.partial(slow_estimate, 0.3), items, label="kill", progress=progress)
        assert killed.is_set()
        assert pids[0] not in client.run(os.getpid).values()  # the killed worker is gone (or replaced)
    for got, want in zip(results, expected(items)):
        assert np.array_equal(got, want)


def test_existing_scheduler_from_subprocesses(subprocess_cluster):
    import functools

    items = list(range(8))
    spec = ClusterSpec.from_mapping({}, address=subprocess_cluster)
    with dask_client(spec) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        results = map_on_dask(client, functools.partial(seeded_estimate, 3.0), items, label="addr")
    for got, want in zip(results, expected(items, 3.0)):
        assert np.array_equal(got, want)
    # the cluster belongs to someone else: it is still running after the client closed
    with dask_client(spec) as client:
        assert len(client.scheduler_info()["workers"]) == 2


# ------------------------------------------------------------------ batch-system and Kubernetes kinds
#
# No Slurm, PBS or Kubernetes runs here, so each kind is driven through its real client library
# against a stand-in for the one thing outside this machine: the batch system's submit/cancel
# commands (they run the job script dask-jobqueue wrote, detached, on this machine) and the
# Kubernetes operator's cluster class (it records what dyadflow asked for and starts local workers).

FAKE_SUBMIT = """#!/usr/bin/env bash
# Stand-in for {submit}: run the job script here, detached, and answer as {kind} does.
set -e
script="{spool}/job-$RANDOM$RANDOM.sh"
cp "$1" "$script"  # dask-jobqueue deletes its temporary job script once submitted
setsid bash "$script" > "$script.log" 2>&1 < /dev/null &
echo "$!" >> "{spool}/jobs"
echo "{reply}"
"""
FAKE_CANCEL = """#!/usr/bin/env bash
# Stand-in for {cancel}: end each job's process group.
for job in "$@"; do kill -- -"$job" 2>/dev/null || true; echo "$job" >> "{spool}/cancelled"; done
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    "kind,submit,cancel,reply",
    [
        ("slurm", "sbatch", "scancel", "Submitted batch job $!"),
        ("pbs", "qsub", "qdel", "$!.pbs-server"),
    ],
)
def test_batch_system_kinds_run_their_workers_as_jobs(kind, submit, cancel, reply, tmp_path, monkeypatch):
    import functools

    bin_dir, spool = tmp_path / "bin", tmp_path / "spool"
    bin_dir.mkdir()
    spool.mkdir()
    for name, text in ((submit, FAKE_SUBMIT), (cancel, FAKE_CANCEL)):
        path = bin_dir / name
        path.write_text(text.format(submit=submit, cancel=cancel, kind=kind, spool=spool, reply=reply))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "7")  # jobs inherit it: the spec's prologue must override it
    monkeypatch.setenv("PYTHONPATH", worker_environment()["PYTHONPATH"])  # the jobs unpickle this module's functions
    spec = ClusterSpec.from_mapping(
        {
            "kind": kind,
            "workers": 2,
            "options": {
                "scheduler_options": {"host": "127.0.0.1", "dashboard_address": ":0"},
                "worker_extra_args": ["--host", "127.0.0.1"],
            },
        }
    )
    items = list(range(10))
    with dask_client(spec) as client:
        client.wait_for_workers(2, timeout=120)
        threads = client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
        results = map_on_dask(client, functools.partial(seeded_estimate, 1.5), items, label=kind)
    assert len(threads) == 2 and set(threads.values()) == {"1"}
    for got, want in zip(results, expected(items, 1.5)):
        assert np.array_equal(got, want)
    jobs = [int(job) for job in (spool / "jobs").read_text().split()]
    assert len(jobs) == 2  # one job per worker
    script = next(spool.glob("job-*.sh")).read_text()
    directive = "#SBATCH" if kind == "slurm" else "#PBS"
    assert directive in script and "export NUMBA_NUM_THREADS=1" in script
    # closing the cluster cancelled every job, and their workers are gone
    assert sorted(int(job) for job in (spool / "cancelled").read_text().split()) == sorted(jobs)
    deadline = time.monotonic() + 30
    while any(_alive(job) for job in jobs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(job) for job in jobs)


def test_kubernetes_kind_passes_the_spec_to_the_operator(monkeypatch):
    import functools
    import types

    from distributed import LocalCluster

    asked = {}

    class StandInKubeCluster(LocalCluster):
        """What dask_kubernetes.operator.KubeCluster is given, with local process workers behind it."""

        def __init__(self, *, name, n_workers, env, **options):
            asked.update(name=name, n_workers=n_workers, env=env, **options)
            super().__init__(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                env=env,
                dashboard_address=":0",
                host="127.0.0.1",
            )

    package, operator = types.ModuleType("dask_kubernetes"), types.ModuleType("dask_kubernetes.operator")
    operator.KubeCluster = StandInKubeCluster
    package.operator = operator
    monkeypatch.setitem(sys.modules, "dask_kubernetes", package)
    monkeypatch.setitem(sys.modules, "dask_kubernetes.operator", operator)
    spec = ClusterSpec.from_mapping(
        {
            "kind": "kubernetes",
            "workers": 2,
            "threads_per_worker": 1,
            "options": {"image": "registry.example/dyadflow:1", "namespace": "research"},
        }
    )
    with dask_client(spec) as client:
        client.wait_for_workers(2, timeout=60)
        threads = client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
        results = map_on_dask(client, functools.partial(seeded_estimate, 0.5), [3, 4], label="k8s")
    assert asked["name"] == "dyadflow" and asked["n_workers"] == 2
    assert asked["image"] == "registry.example/dyadflow:1" and asked["namespace"] == "research"
    assert asked["env"]["NUMBA_NUM_THREADS"] == "1" and set(threads.values()) == {"1"}
    for got, want in zip(results, expected([3, 4], 0.5)):
        assert np.array_equal(got, want)


NUMBA_THREADS_SCRIPT = """
import numba  # imported by the spawned workers too, with the parent's NUMBA_NUM_THREADS
import numpy as np


@numba.njit(parallel=True)
def parallel_sum(x):
    total = 0.0
    for i in numba.prange(x.size):
        total += x[i]
    return total


def launch_then_compile():
    parallel_sum(np.ones(10))  # launches the worker's thread pool
    numba.njit(lambda v: v + 1)(1)  # a later compile re-reads numba's configuration
    return numba.config.NUMBA_NUM_THREADS, numba.get_num_threads()


if __name__ == "__main__":
    from dyadflow.cluster import ClusterSpec, dask_client

    with dask_client(ClusterSpec(workers=1, threads_per_worker=1)) as client:
        print(list(client.run(launch_then_compile).values()))
"""


def test_workers_run_the_specs_numba_threads_even_when_numba_was_imported_first(tmp_path):
    """A spawned worker re-imports the parent's __main__ (and numba with it) before the Nanny sets
    NUMBA_NUM_THREADS: the worker must still run threads_per_worker threads, and compile after a launch."""
    import subprocess

    script = tmp_path / "numba_threads.py"
    script.write_text(NUMBA_THREADS_SCRIPT)
    env = dict(os.environ, NUMBA_NUM_THREADS="2", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[(1, 1)]"


def test_task_chunks_cover_the_items_in_order_and_shrink_to_single_items():
    from dyadflow.flows.fanout import MAX_ITEMS_PER_TASK, task_chunks

    for count in (0, 1, 7, 64, 150, 891):
        for threads in (1, 2, 4):
            chunks = task_chunks(count, threads)
            assert [i for chunk in chunks for i in chunk] == list(range(count))
            sizes = [len(chunk) for chunk in chunks]
            assert sizes == sorted(sizes, reverse=True) and all(1 <= size <= MAX_ITEMS_PER_TASK for size in sizes)
            assert not sizes or sizes[-1] == 1
            # no more items in the remaining chunks than each thread's quarter-share allows
            for k, size in enumerate(sizes):
                assert size == 1 or size * 4 * threads <= sum(sizes[k:])
    assert len(task_chunks(891, 2)) < 150
