"""`dyadflow serve`: a Prefect deployment of the refresh flow on an interval schedule; and the local
Prefect API server every `dyadflow` command runs against.

When PREFECT_API_URL is not configured, a local server is started on 127.0.0.1 (a free port) for as
long as the command runs, with its database under PREFECT_HOME, and stopped on exit. It replaces
Prefect's own temporary server because that one outlives a driver that is killed: this one is
started in its own session (Ctrl-C reaches the driver only, which then stops it in order) and, on
Linux, with a parent-death signal, so a driver killed with SIGKILL takes its server with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import dyadflow.flows  # noqa: F401  (Prefect's environment defaults, before prefect is imported)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> timedelta:
    """'90s', '15m', '1h', '2d' or a number of seconds -> timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--every {text!r}: expected a positive duration such as 90s, 15m, 1h or 2d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _die_with_parent(parent: int):
    """A preexec_fn: the child gets SIGTERM when the process that started it dies (Linux; elsewhere
    None). libc is loaded here, in the parent: the forked child only makes the system call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    PR_SET_PDEATHSIG = 1

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def start_child(command: list[str], **popen) -> subprocess.Popen:
    """A helper process (a Prefect server) that never outlives this one: its own session, so that
    Ctrl-C reaches only this process, which stops it; SIGTERM to it when this process dies."""
    return subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent(os.getpid()), **popen)


def stop_child(process: subprocess.Popen, timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _server_command(port: int, *, scheduler: bool) -> tuple[list[str], dict[str, str]]:
    """`prefect server start` (with its scheduler: what a served deployment needs), or the lighter API
    server alone that Prefect itself starts for a local run (no UI, no background services)."""
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    if scheduler:
        return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], env
    import prefect

    env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    return command, env


@contextlib.contextmanager
def prefect_api(*, scheduler: bool = False, timeout: float = 120.0) -> Iterator[str]:
    """The URL of a Prefect API: the configured one, or a local server started here for the block.
    scheduler: the server must run scheduled deployments (`dyadflow serve`)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    command, env = _server_command(port, scheduler=scheduler)
    server = start_child(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if server.poll() is not None:
                raise RuntimeError(
                    f"the local Prefect server exited with status {server.returncode} before it "
                    f"answered (PREFECT_HOME={os.environ.get('PREFECT_HOME')})"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.5)
        with temporary_settings({PREFECT_API_URL: url}):
            try:
                yield url
            finally:
                _drain_prefect_workers()
    finally:
        stop_child(server)


def _drain_prefect_workers(timeout: float = 10.0) -> None:
    """Send Prefect's queued logs and events to the server while it still runs (otherwise they are
    sent at exit, after it stopped, and Prefect prints "Error logging to API")."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=timeout, at_exit=False)


def serve_spec(
    spec_path: str, every: str, *, cluster_address: str | None = None, name: str = "dyadflow-refresh"
) -> None:
    """Serve the refresh flow for `spec_path` every `every` until interrupted (Ctrl-C or SIGTERM)."""
    from prefect import serve

    from dyadflow.flows.workflow import refresh_flow

    interval = parse_interval(every)
    with prefect_api(scheduler=True):
        deployment = refresh_flow.to_deployment(
            name=name,
            interval=interval,
            parameters={"spec_path": str(os.path.abspath(spec_path)), "cluster_address": cluster_address},
        )
        # One run at a time: a run that outlasts the interval delays the next one instead of
        # overlapping it (runs every few seconds would otherwise pile up, each its own process).
        serve(deployment, print_starting_message=False, limit=1)
