"""Shared test fixtures. Reference data from R (copied from ../shared/reference, large CSVs gzipped)
lives in tests/data/reference/<folder>/; `reference_path` finds a file whether or not it was gzipped."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "data" / "reference"

# Every process the tests start inherits this variable, so the session can find any it left running
# (an orphan re-parented to init included): see `no_leftover_processes`.
SESSION_MARKER = "DYADFLOW_TEST_SESSION"
os.environ[SESSION_MARKER] = f"{os.getpid()}-{uuid.uuid4().hex}"


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes():
    """After the session, no process started by a test may still run (a Prefect server, a
    `prefect.engine` run, a Dask worker): such a process is a leak in the code under test or in a
    test's cleanup. It is terminated, and the session errors naming it. Processes that are still
    children of this pytest process (Prefect's temporary server, stopped when Python exits) are
    stopped without an error."""
    yield
    import psutil
    from flows_conftest import describe_processes, marked_processes, wait_until_gone

    me = psutil.Process()
    left = wait_until_gone(marked_processes(os.environ[SESSION_MARKER], SESSION_MARKER), timeout=15)
    children = {child.pid for child in me.children(recursive=True)}
    orphans = [process for process in left if process.pid not in children]
    description = describe_processes(orphans)
    for process in left:
        try:
            process.terminate()
        except psutil.Error:
            pass
    for process in wait_until_gone(left, timeout=10):
        process.kill()
    if orphans:
        pytest.fail(
            f"{len(orphans)} process(es) started by the tests outlived them (terminated now):\n{description}",
            pytrace=False,
        )


def reference_path(relative: str) -> Path:
    """Path of a reference file, e.g. "results/knecht_model2a_coef.csv" (finds .csv.gz too)."""
    path = REFERENCE / relative
    if path.exists():
        return path
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gz
    raise FileNotFoundError(f"reference file {relative} is not in {REFERENCE}")


@pytest.fixture
def reference():
    return reference_path
