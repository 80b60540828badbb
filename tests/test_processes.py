"""No process outlives the command that started it: `dyadflow serve` stopped with Ctrl-C (SIGINT to
its process group, as a terminal sends it) while a scheduled run is estimating leaves no Prefect
server, no `prefect.engine` run and no Dask worker behind; nor does a driver killed with SIGKILL leave
its Prefect server. Processes are found by an environment variable they all inherit, so orphans
re-parented to init are found too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flows_conftest import REPO, describe_processes, marked_environment, marked_processes, wait_until_gone

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

FORMULA = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + edgecov(mlat)"


def _cmdline(process) -> str:
    try:
        return " ".join(process.cmdline())
    except Exception:
        return ""


def _wait_for(condition, timeout: float, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the command exited early with status {process.returncode}: "
                f"{process.stderr.read()[-3000:] if process.stderr else ''}"
            )
        if condition():
            return True
        time.sleep(0.5)
    return False


def _environment(tmp_path: Path) -> tuple[dict[str, str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="1",
    )
    return marked_environment(env)


def test_serve_stopped_with_ctrl_c_leaves_no_process(tmp_path):
    from dyadflow.storage.demo import write_demo_dataset

    write_demo_dataset(tmp_path / "data", nodes=20, periods=4, seed=5)
    spec = tmp_path / "served.toml"
    spec.write_text(
        f'[dataset]\nspec = "data/dataset.toml"\nstore = "data/store"\n[model]\nformula = "{FORMULA}"\n'
        '[bootstrap]\nR = 400\nseed = 1\nbatch_size = 1\n[cluster]\nworkers = 1\n[output]\ndirectory = "served"\n'
    )
    env, marker = _environment(tmp_path)
    command = subprocess.Popen(
        [sys.executable, "-m", "dyadflow.flows.cli", "serve", str(spec), "--every", "2s"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # its own process group, as a shell job
    try:

        def estimating():  # a scheduled run has started its Dask worker: the most there is to clean up
            commands = [_cmdline(p) for p in marked_processes(marker)]
            return any("prefect.engine" in c for c in commands) and any("spawn_main" in c for c in commands)

        assert _wait_for(estimating, 300, command), "no scheduled run reached its Dask cluster:\n" + describe_processes(
            marked_processes(marker)
        )
        started = marked_processes(marker)
        commands = " ".join(_cmdline(p) for p in started)
        assert "uvicorn" in commands or "server start" in commands  # the local Prefect server
        os.killpg(command.pid, signal.SIGINT)  # Ctrl-C
        command.wait(timeout=90)
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()
    left = wait_until_gone(marked_processes(marker), timeout=30)
    assert not left, "processes left running after Ctrl-C:\n" + describe_processes(left)
    # (stderr holds what the interrupted run's processes print about the interrupt: not checked here)
    (tmp_path / "serve.stderr").write_text(command.stderr.read())
    print(command.returncode, (tmp_path / "serve.stderr").read_text()[-6000:])


def test_a_killed_driver_takes_its_prefect_server_with_it(tmp_path):
    """`dyadflow fit` killed with SIGKILL while it runs: its Prefect server exits too."""
    from dyadflow.storage.demo import write_demo_dataset

    write_demo_dataset(tmp_path / "data", nodes=20, periods=4, seed=5)
    spec = tmp_path / "run.toml"
    spec.write_text(
        f'[dataset]\nspec = "data/dataset.toml"\nstore = "data/store"\n[model]\nformula = "{FORMULA}"\n'
        '[bootstrap]\nR = 400\nseed = 1\nbatch_size = 1\n[cluster]\nworkers = 1\n[output]\ndirectory = "out"\n'
    )
    env, marker = _environment(tmp_path)
    command = subprocess.Popen(
        [sys.executable, "-m", "dyadflow.flows.cli", "fit", str(spec)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:

        def server_running():
            return any("uvicorn" in _cmdline(p) for p in marked_processes(marker))

        assert _wait_for(server_running, 120, command)
        server = [p for p in marked_processes(marker) if "uvicorn" in _cmdline(p)]
        time.sleep(3)  # let the run get under way
        command.kill()  # the driver alone, as the OOM killer would
        command.wait(timeout=30)
        left = wait_until_gone(server, timeout=30)
        assert not left, "the Prefect server outlived its driver:\n" + describe_processes(left)
        left = wait_until_gone(marked_processes(marker), timeout=30)  # Dask's workers watch their nanny
        assert not left, "processes outlived their driver:\n" + describe_processes(left)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
