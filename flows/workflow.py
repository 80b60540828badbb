"""Prefect flows: `run` (ingest -> changestats -> fit -> bootstrap -> sensitivity -> report) and
`refresh` (the served flow: re-ingest, re-estimate only when the data's hash changed).

Prefect sees stages (one task each); the refits inside the bootstrap and sensitivity stages are plain
Dask futures (flows/fanout.py). Stages checkpoint into the output directory, so a re-run after a crash
reuses finished stages and batches.
"""

from __future__ import annotations

import dyadflow.flows  # noqa: F401  (Prefect's environment defaults, before prefect is imported)

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dyadflow.cluster import dask_client
from dyadflow.flows import stages
from dyadflow.flows.fanout import Checkpoints
from dyadflow.flows.progress import stage_progress
from dyadflow.flows.report import write_report
from dyadflow.flows.spec import RunSpec, load_run_spec

STATE_FILE = "state.json"


@dataclass
class RunOutcome:
    output: Path
    fit: object  # tergm.Fit: the MPLE and its bootstrap replicates (none when the bootstrap was skipped)
    data_hash: str
    sensitivity: object | None = None  # pandas DataFrame (tergm.sensitivity.aggregate)
    sensitivity_estimates: np.ndarray | None = None  # (levels, simulations, p)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return self.fit.names

    @property
    def coef(self) -> np.ndarray:
        return np.asarray(self.fit.mple.coef, dtype=float)


# Prefect tasks: one per stage. NO_CACHE: inputs are large arrays and a Dask client, which Prefect
# must not try to hash; caching is done by content keys inside the stages.


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_task(spec: RunSpec):
    from dyadflow import storage

    report = storage.ingest(spec.dataset, spec.store)
    panel = storage.open_panel(spec.store)
    manifest = storage.read_manifest(spec.store)
    return report, panel, manifest


def _design_compiles(formula: str, panel) -> bool:
    """Will the first period's change statistics compile numba kernels (a first run)?"""
    from dyadflow.kernels.dispatch import design_needs_compiling
    from dyadflow.tergm.design import parse_model
    from dyadflow.tergm.formula import FormulaError

    try:
        return design_needs_compiling(parse_model(formula, panel, temporal=True).codes)
    except FormulaError:
        return False  # stages.changestats reports the problem


@task(name="changestats", cache_policy=NO_CACHE)
def changestats_task(spec: RunSpec, panel, hashes):
    with stage_progress("changestats", len(panel), compiling=_design_compiles(spec.formula, panel)) as advance:
        return stages.changestats(spec.formula, panel, hashes, store=spec.store, progress=advance)


@task(name="fit", cache_policy=NO_CACHE)
def fit_task(spec: RunSpec, design):
    """The MPLE alone, as a Fit without replicates (Wald intervals)."""
    from dyadflow.tergm import Fit
    from dyadflow.tergm.estimate import fit_needs_compiling

    p, T = len(design.names), design.n_periods
    with stage_progress("fit", 1, compiling=fit_needs_compiling()) as advance:
        mple = stages.fit(design)
        advance(1)
    return Fit(mple=mple, design_matrix=design, replicates=np.zeros((0, p)),
               resamples=np.zeros((0, T), dtype=np.int64), replicate_converged=np.zeros(0, dtype=bool),
               formula=spec.formula)


@task(name="bootstrap", cache_policy=NO_CACHE)
def bootstrap_task(client, spec: RunSpec, design, checkpoints: Checkpoints):
    batches = -(-spec.R // spec.batch_size)
    with stage_progress("bootstrap", batches) as advance:
        return stages.bootstrap(
            client, design, R=spec.R, seed=spec.seed, batch_size=spec.batch_size, formula=spec.formula,
            checkpoints=checkpoints, progress=advance,
        )


@task(name="sensitivity", cache_policy=NO_CACHE)
def sensitivity_task(client, spec: RunSpec, panel, names, coef, data_hash, checkpoints: Checkpoints):
    total = len(spec.sensitivity.levels) * spec.sensitivity.simulations
    with stage_progress("sensitivity", total) as advance:
        return stages.sensitivity(
            client, spec.formula, panel, names, coef, spec.sensitivity,
            data_hash=data_hash, checkpoints=checkpoints, progress=advance,
        )


@task(name="gof", cache_policy=NO_CACHE)
def gof_task(client, spec: RunSpec, fit, panel, data_hash, checkpoints: Checkpoints):
    """Simulation goodness of fit: one chain per period as a plain Dask task, checkpointed by content
    (data, formula, coefficients, gof settings, period)."""
    from dyadflow.flows.fanout import batch_mapper
    from dyadflow.tergm.gof import gof, write_gof

    g = spec.gof
    key = (data_hash, spec.formula, np.asarray(fit.mple.coef, float), g.nsim, g.burnin, g.interval, g.seed)
    with stage_progress("gof", len(panel)) as advance:
        mapper = batch_mapper(client, label="gof", key_parts=key, checkpoints=checkpoints, progress=advance)
        result = gof(replace(fit, panel=panel) if hasattr(fit, "design_matrix") else fit, nsim=g.nsim,
                     burnin=g.burnin, interval=g.interval, seed=g.seed, panel=panel,
                     map_tasks=lambda fn, items: mapper(fn, list(items)))
    write_gof(result, spec.output)
    return result


@task(name="mcmle", cache_policy=NO_CACHE)
def mcmle_task(client, spec: RunSpec, fit, panel):
    from dyadflow.flows.fanout import map_on_dask
    from dyadflow.tergm.mcmle import mcmle

    return mcmle(replace(fit, panel=panel, temporal=True), seed=spec.seed, panel=panel,
                 map_tasks=lambda fn, items: map_on_dask(client, fn, list(items), label="mcmle"))


@task(name="report", cache_policy=NO_CACHE)
def report_task(spec: RunSpec, outcome: RunOutcome, design, seeds: dict, hashes: dict[str, str]):
    return write_report(spec, outcome, design, seeds=seeds, period_hashes=hashes)


def run_pipeline(spec: RunSpec, *, bootstrap: bool = True, sensitivity: bool = True, ingested=None,
                 gof: bool | None = None) -> RunOutcome:
    """The body of the `run` flow (call it inside a flow so its tasks are tracked).

    ingested: the result of ingest_task when the caller already ingested (the refresh flow).
    gof: None runs the goodness of fit when the spec has [gof]; True always (defaults without [gof]); False never."""
    if gof is True and spec.gof is None:
        from dyadflow.flows.spec import GofSpec

        spec = replace(spec, gof=GofSpec())
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    output = spec.output
    output.mkdir(parents=True, exist_ok=True)
    checkpoints = output / ".checkpoints"

    report, panel, manifest = ingested if ingested is not None else ingest_task(spec)
    hashes = stages.period_content_hashes(panel, manifest)
    data_hash = getattr(report, "dataset_hash", None) or stages.dataset_hash(hashes)
    lap("ingest")
    built = changestats_task(spec, panel, hashes)
    design = built.design
    lap("changestats")
    timings["changestats_periods_computed"] = len(built.computed)
    timings["changestats_periods_reused"] = len(built.reused)
    outcome = RunOutcome(output, fit_task(spec, design), data_hash, timings=timings)
    lap("fit")
    run_sensitivity = sensitivity and spec.sensitivity is not None
    run_gof = gof is not False and spec.gof is not None
    mle = spec.estimate == "MLE"
    if (bootstrap and spec.R > 0) or run_sensitivity or run_gof or mle:
        with dask_client(spec.cluster) as client:
            lap("cluster_startup")
            if mle:  # MCMC-MLE replaces the bootstrap: its SEs come from the simulated information
                outcome.fit = mcmle_task(client, spec, outcome.fit, panel)
                lap("mcmle")
            elif bootstrap and spec.R > 0:
                outcome.fit = bootstrap_task(client, spec, design, Checkpoints(checkpoints / "bootstrap"))
                lap("bootstrap")
            if run_sensitivity:
                outcome.sensitivity, outcome.sensitivity_estimates = sensitivity_task(
                    client, spec, panel, outcome.names, outcome.coef, data_hash, Checkpoints(checkpoints / "refit")
                )
                lap("sensitivity")
            if run_gof:
                gof_task(client, spec, outcome.fit, panel, data_hash, Checkpoints(checkpoints / "gof"))
                lap("gof")
    seeds = {"bootstrap": spec.seed}
    if spec.sensitivity is not None:
        seeds["sensitivity"] = spec.sensitivity.seed
    report_task(spec, outcome, design, seeds, dict(zip(panel.period_names, hashes)))
    lap("report")
    return outcome


@flow(name="dyadflow-run", log_prints=False)
def run_flow(spec_path: str, cluster_address: str | None = None, bootstrap: bool = True, sensitivity: bool = True,
             gof: bool | None = None):
    """Everything the run spec asks for; returns the output directory."""
    spec = load_run_spec(spec_path, cluster_address=cluster_address)
    outcome = run_pipeline(spec, bootstrap=bootstrap, sensitivity=sensitivity, gof=gof)
    return str(outcome.output)


@flow(name="dyadflow-refresh", log_prints=False)
def refresh_flow(spec_path: str, cluster_address: str | None = None) -> dict:
    """Re-ingest; re-estimate (fit, bootstrap, sensitivity, report) only if the data's hash changed
    since the last estimate recorded in the output directory's state.json."""
    spec = load_run_spec(spec_path, cluster_address=cluster_address)
    ingested = ingest_task(spec)
    report = ingested[0]
    data_hash = report.dataset_hash
    state_path = spec.output / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("dataset_hash") == data_hash:
        return {"estimated": False, "dataset_hash": data_hash, "changed_periods": []}
    run_pipeline(spec, ingested=ingested)
    state = {
        "dataset_hash": data_hash,
        "estimations": int(state.get("estimations", 0)) + 1,
        "estimated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    state_path.write_text(json.dumps(state, indent=2))
    return {"estimated": True, "dataset_hash": data_hash, "changed_periods": list(report.changed_periods)}
