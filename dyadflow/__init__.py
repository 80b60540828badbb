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
    plain = dyadflow.logit("y ~ edges + edgecov(trade)", panel, cluster="dyad")  # clustered SEs

Every fit (btergm, ergm, their MCMC-MLE, logit) reads the same way: coef (a Series by term), vcov,
ci(level), to_frame(), summary() (a string), nobs -- see dyadflow.tergm.results.ModelResults.
"""

from dyadflow.storage import Panel, Period, ingest, load_spec, open_panel, read_manifest
from dyadflow.tergm import Fit, LogitFit, ModelResults, btergm, ergm, fit_design, logit, mple

__all__ = [
    "Fit",
    "LogitFit",
    "ModelResults",
    "Panel",
    "Period",
    "btergm",
    "ergm",
    "fit_design",
    "ingest",
    "load_spec",
    "logit",
    "mple",
    "open_panel",
    "read_manifest",
]
