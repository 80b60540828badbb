"""Prefect flows: `run` (ingest -> changestats -> fit -> bootstrap -> sensitivity -> gof -> prediction
-> report, for every model of the run spec), `predict` (the [validation] alone) and `refresh` (the
served flow: re-ingest, re-estimate only when the data's hash changed).

Prefect sees stages (one task each); the refits inside the bootstrap and sensitivity stages are plain
Dask futures (flows/fanout.py). Stages checkpoint into the output directory, so a re-run after a crash
reuses finished stages and batches.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import dyadflow.flows  # noqa: F401  (Prefect's environment defaults, before prefect is imported)
from dyadflow.cluster import dask_client
from dyadflow.flows import stages
from dyadflow.flows.fanout import Checkpoints
from dyadflow.flows.progress import stage_progress
from dyadflow.flows.report import publish_artifacts, write_html_report, write_report
from dyadflow.flows.spec import ModelSpec, RunSpec, RunSpecError, load_run_spec

STATE_FILE = "state.json"


@dataclass
class RunOutcome:
    output: Path
    fits: dict[str, object]  # model name -> tergm.Fit (MPLE + bootstrap replicates) or MleFit, spec order
    data_hash: str
    designs: dict[str, object] = field(default_factory=dict)  # model name -> tergm.design.Design
    sensitivity: object | None = None  # pandas DataFrame (tergm.sensitivity.aggregate)
    sensitivity_estimates: np.ndarray | None = None  # (levels, simulations, p)
    sensitivity_model: str | None = None  # the model rewired and refitted
    gof_model: str | None = None  # the model whose fit was simulated
    validation: object | None = None  # tergm.prediction.ValidationResult
    logits: dict[str, object] = field(default_factory=dict)  # plain-logit models -> tergm.logit.LogitFit
    interpretation: dict[str, object] = field(default_factory=dict)  # results file stem -> DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = "memory"  # where the designs lived: "memory" (the driver) or "periods" (the workers)
    skipped: dict[str, str] = field(default_factory=dict)  # stage -> why this run did not run it

    @property
    def fit(self):
        """The first model's fit."""
        return next(iter(self.fits.values()))

    @property
    def names(self) -> list[str]:
        return self.fit.names

    @property
    def coef(self) -> pd.Series:
        """The fit's estimates by term (every model family's `coef`)."""
        return self.fit.coef


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


def _gof_compiles(formula: str, panel) -> bool:
    """Will the chains or the per-draw statistics compile numba kernels (a first run)?"""
    from dyadflow.kernels.cache import needs_compiling
    from dyadflow.tergm.gof import _draw_counts
    from dyadflow.tergm.simulation import chains_need_compiling

    return chains_need_compiling(formula, panel) or needs_compiling(_draw_counts)


@task(name="changestats", cache_policy=NO_CACHE)
def changestats_task(spec: RunSpec, panel, hashes):
    """Every model's design from one set of stored change statistics (the union of their terms)."""
    compiling = any(_design_compiles(formula, panel) for formula in spec.formulas.values())
    with stage_progress("changestats", len(panel), compiling=compiling) as advance:
        return stages.changestats(spec.formulas, panel, hashes, store=spec.store, progress=advance)


@task(name="fit", cache_policy=NO_CACHE)
def fit_task(model: ModelSpec, design):
    """The MPLE alone, as a Fit without replicates (Wald intervals)."""
    from dyadflow.flows.warmup import wait_for_warmup, warmup_running
    from dyadflow.tergm import Fit
    from dyadflow.tergm.estimate import fit_needs_compiling

    with stage_progress("fit", 1, compiling=warmup_running() or fit_needs_compiling()) as advance:
        wait_for_warmup()  # a first run's background compile of this stage's kernels (flows/warmup.py)
        mple = stages.fit(design)
        advance(1)
    return Fit.without_replicates(mple, design, model.formula)


@task(name="bootstrap", cache_policy=NO_CACHE)
def bootstrap_task(client, model: ModelSpec, design, checkpoints: Checkpoints):
    batches = -(-model.R // model.batch_size)
    with stage_progress(f"bootstrap {model.name}"[:14], batches) as advance:
        return stages.bootstrap(
            client,
            design,
            R=model.R,
            seed=model.seed,
            batch_size=model.batch_size,
            formula=model.formula,
            checkpoints=checkpoints,
            progress=advance,
        )


@task(name="fit", cache_policy=NO_CACHE)
def periods_fit_task(client, spec: RunSpec, model: ModelSpec, checkpoints: Checkpoints, data_key: list[str]):
    """The MPLE and the bootstrap of one model by the period engine: each period built and held on a
    Dask worker (flows.periods), the driver combining their answers; the rows are freed at the end.
    The MPLE and each bootstrap batch are checkpointed under the periods' content (data_key)."""
    from dyadflow.flows.periods import fit_on_workers

    batches = -(-model.R // model.batch_size)
    spill = spec.output / ".periods" if spec.engine.spill else None
    with stage_progress(f"fit {model.name}"[:14], batches + 1) as advance:
        fit = fit_on_workers(
            client,
            spec.store,
            model.formula,
            R=model.R,
            seed=model.seed,
            batch_size=model.batch_size,
            spill=spill,
            progress=lambda done, total: advance(1),
            checkpoints=checkpoints,
            data_key=data_key,
        )
        advance(1)
    return fit


@task(name="sensitivity", cache_policy=NO_CACHE)
def sensitivity_task(client, spec: RunSpec, panel, fit, data_hash, checkpoints: Checkpoints):
    total = len(spec.sensitivity.levels) * spec.sensitivity.simulations
    with stage_progress("sensitivity", total) as advance:
        return stages.sensitivity(
            client,
            spec.model(spec.sensitivity.model).formula,
            panel,
            fit.names,
            np.asarray(fit.mple.coef, dtype=float),
            spec.sensitivity,
            data_hash=data_hash,
            checkpoints=checkpoints,
            progress=advance,
        )


@task(name="interpretation", cache_policy=NO_CACHE)
def interpretation_task(spec: RunSpec, name: str, fit, panel):
    """Probability profiles, marginal effects (and edge probabilities) of one model (tergm.interpret)."""
    with stage_progress("interpretation", 1) as advance:
        tables = stages.interpretation(spec.interpretation, name, fit, panel)
        advance(1)
    return tables


@task(name="gof", cache_policy=NO_CACHE)
def gof_task(client, spec: RunSpec, fit, panel, data_hash, checkpoints: Checkpoints):
    """Simulation goodness of fit of the [gof] model (default the first): one chain per period as a
    plain Dask task, checkpointed by content (data, formula, coefficients, gof settings, period)."""
    from dyadflow.flows.fanout import batch_mapper
    from dyadflow.tergm.gof import gof, write_gof

    g = spec.gof
    model = spec.model(g.model)
    key = (data_hash, model.formula, np.asarray(fit.mple.coef, float), g.nsim, g.burnin, g.interval, g.seed)
    with stage_progress("gof", len(panel), compiling=_gof_compiles(model.formula, panel)) as advance:
        mapper = batch_mapper(client, label="gof", key_parts=key, checkpoints=checkpoints, progress=advance)
        result = gof(
            replace(fit, panel=panel) if hasattr(fit, "design_matrix") else fit,
            nsim=g.nsim,
            burnin=g.burnin,
            interval=g.interval,
            seed=g.seed,
            panel=panel,
            model=model.name,
            map_tasks=lambda fn, items: mapper(fn, list(items)),
        )
    write_gof(result, spec.output)
    return result


@task(name="mcmle", cache_policy=NO_CACHE)
def mcmle_task(client, model: ModelSpec, fit, panel):
    from dyadflow.flows.fanout import map_on_dask
    from dyadflow.tergm.mcmle import mcmle

    return mcmle(
        replace(fit, panel=panel, temporal=True),
        seed=model.seed,
        panel=panel,
        map_tasks=lambda fn, items: map_on_dask(client, fn, list(items), label="mcmle"),
    )


@task(name="prediction", cache_policy=NO_CACHE)
def prediction_task(spec: RunSpec, panel, client=None):
    """[validation]: tergm.prediction.validate on the spec's split, its tables written to the output;
    with a client, the training fits run on the period engine (the designs stay on the workers)."""
    fit_training_periods = None
    if client is not None:
        from dyadflow.flows.periods import fit_on_workers

        def fit_training_periods(name, formula, split):
            return fit_on_workers(client, spec.store, formula, R=0, seed=spec.seed, batch_size=1, select=split.train)

    result = stages.validation(
        spec.validation, spec.formulas, panel, seed=spec.seed, fit_training_periods=fit_training_periods
    )
    result.write(spec.output)
    return result


@task(name="report", cache_policy=NO_CACHE)
def report_task(spec: RunSpec, outcome: RunOutcome, seeds: dict, hashes: dict[str, str]):
    return write_report(spec, outcome, seeds=seeds, period_hashes=hashes)


def run_pipeline(
    spec: RunSpec,
    *,
    bootstrap: bool = True,
    sensitivity: bool = True,
    ingested=None,
    gof: bool | None = None,
    validation: bool = True,
) -> RunOutcome:
    """The body of the `run` flow (call it inside a flow so its tasks are tracked).

    Every model of the spec is fitted on one set of stored change statistics and bootstrapped with
    its seed (the same for all unless a [models.<name>] table overrides it); the sensitivity batch
    and the goodness of fit run for one model ([sensitivity] / [gof] model, default the first); the
    validation ([validation]) fits its models on the training periods and predicts the test periods.

    ingested: the result of ingest_task when the caller already ingested (the refresh flow).
    gof: None runs the goodness of fit when the spec has [gof]; True always (defaults without [gof]); False never.
    validation: False skips [validation]."""
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
    run_validation = validation and spec.validation is not None
    if run_validation:  # a split that cannot work fails now, not after the bootstrap
        stages.validation_split(spec.validation, spec.formulas, panel)
    lap("ingest")
    engine = stages.choose_engine(spec, panel)
    if engine == "periods":
        stages.check_periods_engine(spec)
    run_sensitivity = sensitivity and spec.sensitivity is not None
    run_gof = gof is not False and spec.gof is not None
    plain_logits = stages.plain_logits(spec.models, panel)
    outcome = RunOutcome(output, {}, data_hash, timings=timings, engine=engine)
    if engine == "periods":
        # The stages that read every design row in one process do not run; the run says so.
        asked = {
            "interpretation": spec.interpretation is not None,
            "gof": run_gof,
            "sensitivity": run_sensitivity,
            "cluster_se": bool(plain_logits),
        }
        outcome.skipped = {stage: stages.SKIPPED_ON_PERIODS[stage] for stage, on in asked.items() if on}
        for stage, reason in outcome.skipped.items():
            logging.getLogger(__name__).warning("%s skipped: %s", stage, reason)
        with dask_client(spec.cluster) as client:
            lap("cluster_startup")
            for model in spec.models:
                fitted = model if bootstrap else replace(model, R=0)
                outcome.fits[model.name] = periods_fit_task(
                    client, spec, fitted, Checkpoints(checkpoints / "periods"), hashes
                )
                outcome.designs[model.name] = outcome.fits[model.name].design_matrix
            lap("fit")
            if run_validation:
                outcome.validation = prediction_task(spec, panel, client)
                lap("prediction")
    else:
        _estimate_in_memory(spec, outcome, panel, hashes, checkpoints, bootstrap, run_sensitivity, run_gof, lap)
        if spec.interpretation is not None:
            interpreted = spec.model(spec.interpretation.model)
            outcome.interpretation = interpretation_task(spec, interpreted.name, outcome.fits[interpreted.name], panel)
            lap("interpretation")
        for model in spec.models:  # the fit with its bootstrap, plus conventional and cluster-robust SEs
            if model.name in plain_logits:
                outcome.logits[model.name] = stages.logit_results(model, outcome.fits[model.name], panel)
        if run_validation:
            outcome.validation = prediction_task(spec, panel)
            lap("prediction")
    seeds = {"bootstrap": spec.seed}
    if spec.sensitivity is not None:
        seeds["sensitivity"] = spec.sensitivity.seed
    report_task(spec, outcome, seeds, dict(zip(panel.period_names, hashes)))
    lap("report")
    publish(spec, outcome)
    return outcome


def _estimate_in_memory(spec, outcome, panel, hashes, checkpoints, bootstrap, run_sensitivity, run_gof, lap):
    """Designs in the driver: change statistics (cached in the store), each model's fit, then the
    bootstrap, MCMC-MLE, sensitivity and goodness of fit on Dask."""
    built = changestats_task(spec, panel, hashes)
    lap("changestats")
    outcome.timings["changestats_periods_computed"] = len(built.computed)
    outcome.timings["changestats_periods_reused"] = len(built.reused)
    outcome.designs = built.designs
    outcome.fits = {model.name: fit_task(model, built.designs[model.name]) for model in spec.models}
    if spec.interpretation is not None:
        interpreted = spec.model(spec.interpretation.model)
        stages.check_interpretation(spec.interpretation, interpreted, outcome.fits[interpreted.name])
    lap("fit")
    mle = [m for m in spec.models if m.estimate == "MLE"]
    boot = [m for m in spec.models if bootstrap and m.estimate != "MLE" and m.R > 0]
    if not (boot or run_sensitivity or run_gof or mle):
        return
    with dask_client(spec.cluster) as client:
        lap("cluster_startup")
        for model in mle:  # MCMC-MLE replaces the bootstrap: its SEs come from the simulated information
            outcome.fits[model.name] = mcmle_task(client, model, outcome.fits[model.name], panel)
        if mle:
            lap("mcmle")
        for model in boot:
            outcome.fits[model.name] = bootstrap_task(
                client, model, built.designs[model.name], Checkpoints(checkpoints / "bootstrap")
            )
        if boot:
            lap("bootstrap")
        if run_sensitivity:
            outcome.sensitivity_model = spec.model(spec.sensitivity.model).name
            outcome.sensitivity, outcome.sensitivity_estimates = sensitivity_task(
                client,
                spec,
                panel,
                outcome.fits[outcome.sensitivity_model],
                outcome.data_hash,
                Checkpoints(checkpoints / "refit"),
            )
            lap("sensitivity")
        if run_gof:
            outcome.gof_model = spec.model(spec.gof.model).name
            gof_task(
                client,
                spec,
                outcome.fits[outcome.gof_model],
                panel,
                outcome.data_hash,
                Checkpoints(checkpoints / "gof"),
            )
            lap("gof")


def publish(spec: RunSpec, outcome: RunOutcome) -> Path | None:
    """The run in the Prefect UI (a table artifact of the coefficients, a markdown artifact with the
    AUC table, the sensitivity headline and where report.html is) and report.html itself when the
    report package is installed; returns report.html's path (None without the report package)."""
    html = write_html_report(outcome.output)
    publish_artifacts(spec, outcome, html)
    return html


@flow(name="dyadflow-run", log_prints=False)
def run_flow(
    spec_path: str,
    cluster_address: str | None = None,
    bootstrap: bool = True,
    sensitivity: bool = True,
    gof: bool | None = None,
    validation: bool = True,
):
    """Everything the run spec asks for (the flags skip stages); returns the output directory."""
    spec = load_run_spec(spec_path, cluster_address=cluster_address)
    outcome = run_pipeline(spec, bootstrap=bootstrap, sensitivity=sensitivity, gof=gof, validation=validation)
    return str(outcome.output)


@flow(name="dyadflow-predict", log_prints=False)
def predict_flow(spec_path: str) -> dict:
    """[validation] alone, on the stored panel (ingest first: a no-op when the store is current): fit
    each validated model on the training periods and predict the test periods, in this process.
    Writes predictions.parquet, rocpr.parquet, auc.csv/.parquet into the output directory; returns
    {"output": its path, "summary": the AUC table as text}."""
    spec = load_run_spec(spec_path)
    if spec.validation is None:
        raise RunSpecError(f"run spec {spec_path} has no [validation] table: nothing to predict")
    _, panel, _ = ingest_task(spec)
    stages.validation_split(spec.validation, spec.formulas, panel)
    spec.output.mkdir(parents=True, exist_ok=True)
    result = prediction_task(spec, panel)
    return {"output": str(spec.output), "summary": result.summary()}


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
