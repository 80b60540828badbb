"""Fixtures for the workflow tests (flows/, cluster/): real Dask clusters and an isolated Prefect.

Import them into a test module with `from flows_conftest import *  # noqa: F401,F403`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = "DYADFLOW_PROCESS_MARKER"  # an environment variable every descendant of a marked process inherits


def marked_environment(base: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    """A copy of `base` (default os.environ) with a fresh process marker, and the marker: every
    process started with it, and everything those start, can be found by `marked_processes`."""
    marker = uuid.uuid4().hex
    return {**(os.environ if base is None else base), MARKER: marker}, marker


def marked_processes(marker: str, variable: str = MARKER) -> list:
    """The live processes (psutil.Process) whose environment has `variable` = `marker`, this one
    excluded: found by what they inherited, so orphans (re-parented to init) are found too."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid"]):
        if process.pid == os.getpid():
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(variable) == marker:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def describe_processes(processes) -> str:
    import psutil

    lines = []
    for process in processes:
        try:
            lines.append(f"{process.pid} (parent {process.ppid()}): {' '.join(process.cmdline())[:160]}")
        except psutil.Error:
            pass
    return "\n".join(lines)


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_until_gone(processes, timeout: float) -> list:
    """The processes still alive (zombies count as gone) after at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if _alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)


def worker_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests"), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def subprocess_cluster(tmp_path_factory):
    """A `dask scheduler` and a `dask worker` (2 processes) started as subprocesses on 127.0.0.1;
    yields the scheduler address."""
    directory = tmp_path_factory.mktemp("dask")
    scheduler_file = directory / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    env = worker_environment()
    scheduler = subprocess.Popen(
        dask + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or scheduler.poll() is not None:
                raise RuntimeError("the dask scheduler did not start")
            time.sleep(0.2)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                "--scheduler-file",
                str(scheduler_file),
                "--nthreads",
                "1",
                "--nworkers",
                "2",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(worker)
        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def isolated_prefect(tmp_path_factory):
    """Prefect with its own PREFECT_HOME and a temporary API server (prefect_test_harness), once per
    module; telemetry off."""
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    import dyadflow.flows  # noqa: F401

    home = tmp_path_factory.mktemp("prefect-home")
    with temporary_settings({PREFECT_HOME: str(home)}), prefect_test_harness(server_startup_timeout=120):
        yield
