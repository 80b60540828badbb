"""`dyadflow serve`: a Prefect deployment of the refresh flow on an interval schedule.

Schedules need a Prefect API server. When PREFECT_API_URL is not configured, a local server is
started on 127.0.0.1 (a free port) for as long as the command runs, with its database under
PREFECT_HOME, and stopped on exit.
"""

from __future__ import annotations

import dyadflow.flows  # noqa: F401  (Prefect's environment defaults, before prefect is imported)

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

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


@contextlib.contextmanager
def prefect_api(timeout: float = 120.0) -> Iterator[str]:
    """The URL of a Prefect API: the configured one, or a local server started here."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if server.poll() is not None:
                raise RuntimeError(f"the local Prefect server exited with status {server.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.5)
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def serve_spec(spec_path: str, every: str, *, cluster_address: str | None = None, name: str = "dyadflow-refresh") -> None:
    """Serve the refresh flow for `spec_path` every `every` until interrupted."""
    from prefect import serve

    from dyadflow.flows.workflow import refresh_flow

    interval = parse_interval(every)
    with prefect_api():
        deployment = refresh_flow.to_deployment(
            name=name,
            interval=interval,
            parameters={"spec_path": str(os.path.abspath(spec_path)), "cluster_address": cluster_address},
        )
        serve(deployment, print_starting_message=False)
