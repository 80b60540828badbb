"""Workflows: Prefect flows over a Dask cluster, and the `dyadflow` command.

Prefect reads its settings when it is first imported, so the privacy and quiet-log defaults are set
here, before any module of this package imports it: no telemetry (DO_NOT_TRACK, server analytics
off), Prefect's state under ~/.dyadflow/prefect unless PREFECT_HOME says otherwise, and warnings-only
logs unless PREFECT_LOGGING_LEVEL is set. Users' own settings always win (setdefault).
"""

from __future__ import annotations

if __name__ != "dyadflow.flows":  # the folder is installed as dyadflow.flows (pyproject.toml)
    raise ImportError("import dyadflow.flows, not flows: this folder is part of the dyadflow package")


import os
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = str(Path.home() / ".dyadflow" / "prefect")
    # Prefect creates only the last component of its home; make the parents.
    Path(os.environ["PREFECT_HOME"]).parent.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
# Prefect's local mode starts a temporary API server; its default 20 s start-up limit is too short on
# a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
