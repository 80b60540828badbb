"""A cluster that cannot start is a ClusterStartError naming the cluster and the first cause, not
distributed's "Nanny failed to start" or a bare connection timeout."""

from __future__ import annotations

import socket

import dask
import distributed  # noqa: F401  (its config must exist before dask.config.set below, which would remove it on exit)
import pytest

from dyadflow.cluster import ClusterSpec, ClusterStartError, OneLineFormatter, dask_client

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out


def test_unreachable_scheduler_names_the_address():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(ClusterStartError, match=rf"the Dask scheduler at {address} did not answer"):
            with dask_client(ClusterSpec.from_mapping(None, address=address)):
                pass


def test_worker_that_cannot_start_names_the_cause():
    spec = ClusterSpec.from_mapping({"workers": 1, "options": {"preload": ["no_such_module_for_dyadflow"]}})
    with (
        pytest.raises(
            ClusterStartError,
            match=r"the local Dask cluster \(1 worker process\(es\)\) did not start: "
            r".*No module named 'no_such_module_for_dyadflow'",
        ),
        dask_client(spec),
    ):
        pass


def test_one_line_formatter_drops_tracebacks():
    import logging

    try:
        raise RuntimeError("inner")
    except RuntimeError:
        record = logging.LogRecord(
            "distributed.nanny",
            logging.ERROR,
            __file__,
            1,
            "Failed to start process",
            None,
            __import__("sys").exc_info(),
        )
    text = OneLineFormatter("%(name)s - %(levelname)s - %(message)s").format(record)
    assert text == "distributed.nanny - ERROR - Failed to start process"
