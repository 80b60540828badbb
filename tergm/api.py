"""Public entry points: `btergm` (pooled MPLE over a panel with a period bootstrap) and `ergm`
(cross-sectional MPLE of one network)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial

import numpy as np

from dyadflow.tergm.arguments import check_choice, check_integer
from dyadflow.tergm.bootstrap import ReplicateResult, draw_resamples, fit_replicates, resample_counts
from dyadflow.tergm.design import Design
from dyadflow.tergm.estimate import EstimationError, SeparationWarning, mple
from dyadflow.tergm.results import Fit

MapBatches = Callable[[Callable, list], list]


def _map_locally(fn: Callable, batches: list) -> list:
    return [fn(batch) for batch in batches]


def btergm(
    formula: str,
    panel,
    R: int = 100,
    seed: int = 12345,
    resamples=None,
    map_batches: MapBatches | None = None,
    batch_size: int = 25,
    progress: Callable[[int, int], None] | None = None,
    estimate: str = "MPLE",
    mcmc: Mapping | None = None,
):
    """Fit a TERGM by bootstrapped pseudolikelihood, as R's btergm::btergm (estimate="MLE": then the
    pooled MCMC-MLE started at the MPLE, as btergm's mtergm; `mcmc`: tergm.mcmle.mcmle's arguments).

    formula: ergm-style right-hand side over the panel (see tergm.design.build_design).
    R, seed: bootstrap replicates; period draws come from numpy's Generator(seed) (`draw_resamples`).
    resamples: replay these (R, T) **0-based** period indices instead of drawing (btergm's
        `boot$t` indices are 1-based: subtract 1).
    map_batches(fn, batches) -> list: runs fn on each batch (e.g. on Dask workers) and returns the
        results in order; default runs them here, in order. Batches are fixed by batch_size, never by
        the number of workers, and each replicate's result does not depend on its batch.
    progress(done, total): called as replicate batches finish (locally: after each batch).
    """
    from dyadflow.storage.panel import Panel
    from dyadflow.tergm.design import build_design  # the design builder is a later addition to this layer

    if not isinstance(panel, Panel):
        raise TypeError(
            f"btergm needs a Panel (storage.panel.Panel.from_arrays or storage.open_panel), got {type(panel).__name__}"
        )
    _check_bootstrap_arguments(R, seed, batch_size)  # before the design is built: that can take minutes
    _check_estimate(estimate, mcmc)
    design = build_design(formula, panel, temporal=True)
    fit = fit_design(
        design,
        R=1 if estimate == "MLE" else R,
        seed=seed,
        resamples=resamples,
        map_batches=map_batches,
        batch_size=batch_size,
        progress=progress,
        formula=formula,
    )
    fit = replace(fit, panel=panel, temporal=True)
    if estimate == "MLE":
        from dyadflow.tergm.mcmle import mcmle

        return mcmle(fit, **dict(mcmc or {}))
    return fit


def fit_design(
    design: Design,
    *,
    R: int = 100,
    seed: int = 12345,
    resamples=None,
    map_batches: MapBatches | None = None,
    batch_size: int = 25,
    progress: Callable[[int, int], None] | None = None,
    formula: str | None = None,
) -> Fit:
    """btergm on an already built design: MPLE, then R period-bootstrap replicates (see `btergm`)."""
    R, seed, batch_size = _check_bootstrap_arguments(R, seed, batch_size)
    estimate = mple(design)
    T = design.n_periods
    replayed = resamples is not None
    if resamples is None:
        resamples = draw_resamples(T, R, seed)
    else:
        resamples = np.asarray(resamples)
        resample_counts(resamples, T)  # validates shape and range
        if resamples.shape[1] != T:
            raise EstimationError(f"resamples must draw {T} periods per replicate, got {resamples.shape[1]}")
    if T == 1:
        warnings.warn(
            "only one period: the bootstrap intervals are meaningless (every replicate is the fit)", stacklevel=2
        )
    replicates, converged, diverging = bootstrap_replicates(
        partial(fit_replicates, design, estimate.coef),
        resamples,
        len(design.names),
        batch_size=batch_size,
        map_batches=map_batches,
        progress=progress,
    )
    return Fit(
        mple=estimate,
        design_matrix=design,
        replicates=replicates,
        resamples=resamples,
        replicate_converged=converged,
        formula=formula,
        seed=None if replayed else seed,
        diverging=diverging,
    )


def bootstrap_replicates(
    run: Callable[[np.ndarray], ReplicateResult],
    resamples: np.ndarray,
    p: int,
    *,
    batch_size: int,
    map_batches: MapBatches | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """(replicates (R, p), converged (R,), diverging terms per replicate) of run(batch of resamples),
    run on batches of batch_size resamples (by map_batches, or here one after another). A replicate's
    numbers never depend on its batch; warns when some replicates have no finite MLE."""
    batches = [resamples[lo : lo + batch_size] for lo in range(0, len(resamples), batch_size)]
    if map_batches is None:
        results: list[ReplicateResult] = []
        for batch in batches:
            results.append(run(batch))
            if progress is not None:
                progress(sum(len(r.coef) for r in results), len(resamples))
    else:
        results = list(map_batches(run, batches))
        if len(results) != len(batches):
            raise EstimationError(f"map_batches returned {len(results)} results for {len(batches)} batches")
        if progress is not None:
            progress(len(resamples), len(resamples))
    replicates = np.vstack([r.coef for r in results]) if results else np.zeros((0, p))
    converged = np.concatenate([r.converged for r in results]) if results else np.zeros(0, bool)
    diverging = [names for r in results for names in r.diverging]
    if not converged.all():
        terms = sorted({name for names in diverging for name in names})
        warnings.warn(
            f"{int((~converged).sum())} of {len(converged)} bootstrap replicates have no finite MLE "
            f"(separation or aliasing in terms {terms}); they keep glm.fit's values, as btergm reports them",
            SeparationWarning,
            stacklevel=3,
        )
    return replicates, converged, diverging


def _check_bootstrap_arguments(R, seed, batch_size) -> tuple[int, int, int]:
    return (
        check_integer("R", R, minimum=1, error=EstimationError),
        check_integer("seed", seed, minimum=0, error=EstimationError),
        check_integer("batch_size", batch_size, minimum=1, error=EstimationError),
    )


def _check_estimate(estimate: str, mcmc: Mapping | None) -> None:
    check_choice("estimate", estimate, ("MPLE", "MLE"), error=EstimationError)
    if mcmc is not None and not isinstance(mcmc, Mapping):
        raise EstimationError(f"mcmc must be a dict of tergm.mcmle.mcmle's arguments, got {type(mcmc).__name__}")


def ergm(
    formula: str,
    network,
    *,
    directed: bool,
    nodes: Sequence | None = None,
    node_attributes: Mapping[str, np.ndarray] | None = None,
    dyad_covariates: Mapping[str, np.ndarray] | None = None,
    estimate: str = "MPLE",
    mcmc: Mapping | None = None,
):
    """Cross-sectional fit of one network. estimate="MPLE" (default): intervals are Wald intervals
    from the inverse Hessian, as ergm reports for MPLE. estimate="MLE": MCMC-MLE started at the MPLE
    (tergm.mcmle.mcmle; `mcmc` passes its keyword arguments: samplesize, interval, burnin, seed, ...)."""
    _check_estimate(estimate, mcmc)
    if not isinstance(directed, (bool, np.bool_)):
        raise EstimationError(f"directed must be True or False, got {directed!r}")
    from dyadflow.storage.panel import Panel
    from dyadflow.tergm.design import build_design

    panel = Panel.from_arrays(
        [network],
        directed=directed,
        nodes=None if nodes is None else [nodes],
        node_attributes=node_attributes,
        dyad_covariates=dyad_covariates,
    )
    design = build_design(formula, panel, temporal=False)
    mple_estimate = mple(design)
    fit = replace(Fit.without_replicates(mple_estimate, design, formula), panel=panel, temporal=False)
    if estimate == "MLE":
        from dyadflow.tergm.mcmle import mcmle

        return mcmle(fit, **dict(mcmc or {}))
    return fit
