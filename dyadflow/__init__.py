"""dyadflow: temporal ERGMs (btergm-compatible MPLE with period-bootstrap intervals) on panels of
networks, from raw files to a results directory, on Dask, orchestrated by Prefect.

The package is one namespace over the project's layers (pyproject.toml maps each folder):
`dyadflow.storage` (ingest, store, panels) -> `dyadflow.kernels` (numba change statistics) ->
`dyadflow.tergm` (terms, design, estimation, bootstrap, results) -> `dyadflow.flows` (Prefect flows,
the `dyadflow` command); `dyadflow.cluster` builds Dask clusters from a run spec.

The names most users need are re-exported here:

    panel = dyadflow.open_panel("data/store")          # or dyadflow.Panel.from_arrays(...)
    fit = dyadflow.btergm("y ~ edges + gwesp(0.5, fixed=TRUE) + memory", panel, R=100)
    print(fit.summary())
"""

from dyadflow.storage import Panel, Period, ingest, load_spec, open_panel, read_manifest
from dyadflow.tergm import Fit, btergm, ergm, fit_design, mple

__all__ = [
    "Fit",
    "Panel",
    "Period",
    "btergm",
    "ergm",
    "fit_design",
    "ingest",
    "load_spec",
    "mple",
    "open_panel",
    "read_manifest",
]
