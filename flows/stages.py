"""The work of each stage, as plain functions (no Prefect): flows/workflow.py wraps them in Prefect
tasks and flows, tests call them directly.

ingest -> changestats (per period, cached in the store by the period's content hash) -> fit ->
bootstrap (batches on Dask) -> report; sensitivity (tergm.sensitivity's refits of rewired networks,
fanned out on Dask).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dyadflow.flows.fanout import Checkpoints, batch_mapper, content_key, map_on_dask
from dyadflow.flows.spec import InterpretationSpec, RunSpec, RunSpecError, SensitivitySpec, ValidationSpec
from dyadflow.kernels import registry
from dyadflow.storage.panel import Panel, Period
from dyadflow.tergm.design import Design, Model, assemble, design_for_period, parse_model, period_cache_parts
from dyadflow.tergm.formula import FormulaError
from dyadflow.tergm.sensitivity import rewiring_sensitivity
from dyadflow.tergm.terms import StructuralTerm, format_level

CHANGESTATS_GROUP = "changestats"


# ------------------------------------------------------------------------------------------ panel


def period_content_hashes(panel: Panel, manifest: dict | None = None) -> list[str]:
    """One content hash per period: the store manifest's `period_hashes`, or hashed here for a panel
    that did not come from a store."""
    stored = (manifest or {}).get("period_hashes") or {}
    if all(name in stored for name in panel.period_names):
        return [str(stored[name]) for name in panel.period_names]
    return [_hash_period(panel[t]) for t in range(len(panel))]


def _hash_period(period: Period) -> str:
    parts = [period.name, period.nodes, period.network]
    parts += [("node", k, np.asarray(v)) for k, v in sorted(period.node_attributes.items())]
    parts += [("dyad", k, np.asarray(v)) for k, v in sorted(period.dyad_covariates.items())]
    return content_key(*[_hashable(p) for p in parts])


def _hashable(part):
    if isinstance(part, tuple):
        return tuple(_hashable(p) for p in part)
    if isinstance(part, np.ndarray) and part.dtype.kind in "OU":
        return [str(v) for v in part.tolist()]
    return part


def dataset_hash(hashes: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()[:24]


# ------------------------------------------------------------------------------------------ engine


def design_bytes(formulas: Mapping[str, str], panel: Panel, nodes: Sequence[np.ndarray]) -> int:
    """What the models' designs would take in the driver (float64 rows and response, every dyad of
    every likelihood period; nodes: each period's node labels, as storage.period_nodes gives them)."""
    total = 0
    for formula in formulas.values():
        model = parse_model(formula, panel, temporal=True)
        pairs = sum(len(nodes[t]) * (len(nodes[t]) - 1) for t in model.likelihood_periods)
        total += (pairs if model.directed else pairs // 2) * (len(model.names) + 1) * 8
    return total


def choose_engine(spec: RunSpec, panel: Panel) -> str:
    """ "memory" (designs built in the driver) or "periods" (each period's rows on a Dask worker,
    flows.periods): [engine] mode, or for "auto" whether the designs exceed design_budget_gb."""
    from dyadflow import storage

    if spec.engine.mode != "auto":
        return spec.engine.mode
    needed = design_bytes(spec.formulas, panel, storage.period_nodes(spec.store))
    return "periods" if needed > spec.engine.design_budget_gb * 1e9 else "memory"


def check_periods_engine(spec: RunSpec) -> None:
    """What the period engine cannot do, refused before anything is fitted."""
    mle = [m.name for m in spec.models if m.estimate == "MLE"]
    if mle:
        raise RunSpecError(
            f"models {mle} are fitted by MCMC-MLE, which needs the design in the driver; this run uses the "
            '[engine] "periods" (its design exceeds design_budget_gb): fit them by MPLE, or set [engine] '
            'mode = "memory" on a machine that holds the design'
        )


# Stages the period engine does not run, and why (recorded in run.json's `skipped`, said in the report).
SKIPPED_ON_PERIODS = {
    "interpretation": "interpretation reads every design row in one process; with the design on the "
    'workers ([engine] "periods") it was not computed',
    "gof": "the goodness of fit simulates every period in the driver's memory, which this panel exceeds "
    '([engine] "periods")',
    "sensitivity": "each rewiring refit rebuilds the whole design in one worker, which this panel exceeds "
    '([engine] "periods")',
    "cluster_se": "cluster-robust standard errors of the plain logits read every design row in one "
    'process ([engine] "periods"); their intervals are the period bootstrap\'s',
}


# ------------------------------------------------------------------------------------ changestats


@dataclass
class ChangestatsResult:
    designs: dict[str, Design]  # per model (spec order): its design, as tergm.design.build_design gives it
    computed: list[str]  # periods whose change statistics were computed now (once per lag group)
    reused: list[str]  # periods read from the cache

    @property
    def design(self) -> Design:
        """The first model's design."""
        return next(iter(self.designs.values()))


def changestats(
    formulas: str | Mapping[str, str],
    panel: Panel,
    hashes: Sequence[str],
    *,
    store=None,
    progress: Callable[[int], None] | None = None,
) -> ChangestatsResult:
    """The design of every model (name -> formula; a bare formula is one model named "model") on
    `panel`, computed period by period for the union of the models' terms and cached in the store;
    each model's design is then the union's columns selected by name, bit for bit the design
    build_design gives for that formula alone.

    Models are grouped by lag (the periods a model's likelihood starts after): within a group every
    model has the same periods and factor levels, so one union design serves them all; a run whose
    models have different lags computes one union per lag. Each period's union rows are cached under
    a key of everything they depend on (tergm.design.period_cache_parts of the union model:
    compiled terms, names, factor levels, time index, lag, kernel sources) and the content hashes of
    the periods they read, so a data update recomputes only the periods it touched (and those whose
    lagged terms read them), and any change of the models, the window or the kernels recomputes."""
    from dyadflow import storage

    if isinstance(formulas, str):
        formulas = {"model": formulas}
    models = {name: parse_model(formula, panel, temporal=True) for name, formula in formulas.items()}
    designs: dict[str, Design] = {}
    computed, reused = [], []
    for union, members in union_models(models, panel):
        pieces: dict[str, list] = {name: [] for name in members}
        columns = {name: [union.names.index(term) for term in models[name].names] for name in members}
        for t in union.likelihood_periods:
            key = content_key(period_cache_parts(union, t), list(hashes[t - union.lag : t + 1]))
            cached = storage.read_derived(store, CHANGESTATS_GROUP, key) if store is not None else None
            if cached is not None:
                X, y, dyads = cached["X"], cached["y"], cached["dyads"]
                reused.append(panel.period_names[t])
            else:
                X, y, dyads = design_for_period(union, panel, t)
                if store is not None:
                    storage.write_derived(store, CHANGESTATS_GROUP, key, {"X": X, "y": y, "dyads": dyads})
                computed.append(panel.period_names[t])
            for name in members:
                # fancy indexing keeps the column-major layout of the selection: copy to row-major
                own = X if columns[name] == list(range(X.shape[1])) else np.ascontiguousarray(X[:, columns[name]])
                pieces[name].append((own, y, dyads))
            if progress:
                progress(1)
        for name in members:
            designs[name] = assemble(models[name], panel, pieces[name])
    return ChangestatsResult({name: designs[name] for name in formulas}, computed, reused)


def union_models(models: Mapping[str, Model], panel: Panel) -> list[tuple[Model, list[str]]]:
    """The models grouped by lag, each group with one model holding the union of its members' terms
    (first-appearance order; a term shared by several models once): [(union model, member names)].

    Terms are shared by coefficient name; two terms giving the same name must be the same term (same
    kernel and parameters, or the same covariate call), else the names would be ambiguous."""
    groups: dict[int, list[str]] = {}
    for name, model in models.items():
        groups.setdefault(model.lag, []).append(name)
    out = []
    for lag, members in groups.items():
        if len(members) == 1:
            out.append((models[members[0]], members))
            continue
        calls, seen = [], {}
        for name in members:
            model = models[name]
            for call, term in zip(model.formula.terms, model.terms, strict=True):
                signature = _term_signature(call, term)
                known = [seen.get(coefficient) for coefficient in term.names]
                if all(k is None for k in known):
                    calls.append(call.text)
                    seen.update({coefficient: (signature, name, call.text) for coefficient in term.names})
                elif any(k is None or k[0] != signature for k in known):
                    other = next(k for k in known if k is not None)
                    raise FormulaError(
                        f"model {name!r} term {call.text} and model {other[1]!r} term {other[2]} give the same "
                        f"coefficient name(s) {list(term.names)} but are different terms: write the same term "
                        "the same way in every model, or rename one"
                    )
        first = models[members[0]].formula
        union = parse_model(f"{first.response or ''} ~ {' + '.join(calls)}", panel, temporal=True)
        if union.lag != lag:
            raise AssertionError(f"the union of lag-{lag} models has lag {union.lag}")
        out.append((union, members))
    return out


def _term_signature(call, term) -> tuple:
    """What a term's columns depend on, to tell whether two models' terms of the same name are one."""
    if isinstance(term, StructuralTerm):
        return ("structural", term.names, registry.entries()[term.code].name, term.kernel_par, term.lag)
    return (
        "covariate",
        term.names,
        call.name,
        _plain(call.args),
        _plain(sorted(call.kwargs.items())),
        term.node_attributes,
        term.dyad_covariates,
        term.lag,
        tuple(format_level(v) for v in term.levels),
    )


def _plain(value):
    """A parsed term argument with bare names as plain strings (edgecov(x) is edgecov('x'))."""
    if isinstance(value, str):
        return ("str", str(value))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return (type(value).__name__, value)


# ----------------------------------------------------------------------------------- fit, bootstrap


def fit(design: Design):
    """The MPLE of the pooled design (tergm.mple's result)."""
    from dyadflow.tergm import mple

    return mple(design)


def encode_replicates(result) -> dict[str, np.ndarray]:
    """A tergm.bootstrap.ReplicateResult as plain arrays for a checkpoint (no pickle)."""
    return {
        "coef": result.coef,
        "iterations": result.iterations,
        "converged": result.converged,
        "diverging": np.asarray(json.dumps(result.diverging)),
    }


def decode_replicates(arrays: dict[str, np.ndarray]):
    from dyadflow.tergm.bootstrap import ReplicateResult

    return ReplicateResult(
        arrays["coef"], arrays["iterations"], arrays["converged"], json.loads(str(arrays["diverging"]))
    )


_MPLE_NUMBERS = ("iterations", "converged", "loglik", "deviance", "null_deviance", "nobs")


def encode_mple(result) -> dict[str, np.ndarray]:
    """A tergm.estimate.MpleResult as plain arrays for a checkpoint (no pickle)."""
    arrays = {"names": np.asarray(result.names, dtype=str), "coef": result.coef}
    arrays |= {"score": result.score, "information": result.information}
    return arrays | {name: np.asarray(getattr(result, name)) for name in _MPLE_NUMBERS}


def decode_mple(arrays: dict[str, np.ndarray]):
    from dyadflow.tergm.estimate import MpleResult

    numbers = {name: arrays[name].item() for name in _MPLE_NUMBERS}
    return MpleResult(
        names=[str(name) for name in arrays["names"]],
        coef=arrays["coef"],
        score=arrays["score"],
        information=arrays["information"],
        **numbers,
    )


def bootstrap(
    client,
    design: Design,
    *,
    R: int,
    seed: int,
    batch_size: int,
    formula: str | None = None,
    checkpoints: Checkpoints | None = None,
    progress: Callable[[int], None] | None = None,
):
    """tergm's Fit with R period-bootstrap replicates, the batches run as Dask tasks (progress(n):
    n more batches finished).

    Batches are fixed by batch_size (tergm.fit_design), so the numbers do not depend on the cluster;
    each batch is checkpointed under (design content, its resamples)."""
    from dyadflow.tergm import fit_design

    mapper = batch_mapper(
        client,
        label="bootstrap",
        key_parts=("bootstrap-v1", design_key(design)),
        checkpoints=checkpoints,
        progress=progress,
        encode=encode_replicates,
        decode=decode_replicates,
    )
    return fit_design(design, R=R, seed=seed, map_batches=mapper, batch_size=batch_size, formula=formula)


def plain_logits(models: Sequence, panel: Panel) -> set[str]:
    """The names of the models without network terms (plain logits, reported with cluster-robust SEs
    by tergm.logit). A model that names `cluster`/`correction` but has network terms is refused here,
    before anything is fitted."""
    from dyadflow.tergm.logit import network_terms

    plain = set()
    for model in models:
        network = network_terms(parse_model(model.formula, panel, temporal=True))
        if not network and model.estimate != "MLE":
            plain.add(model.name)
        elif model.cluster_given:
            raise RunSpecError(
                f"[models.{model.name}] cluster/correction: cluster-robust standard errors are for "
                f"plain logits (no network terms), but this model has {network}"
                + (' and estimate = "MLE"' if model.estimate == "MLE" else "")
            )
    return plain


def logit_results(model, fit, panel: Panel):
    """A plain logit's fit (MPLE and bootstrap replicates) with its conventional and cluster-robust
    standard errors (tergm.logit.logit_from_fit)."""
    from dyadflow.tergm.logit import logit_from_fit

    return logit_from_fit(fit, panel, cluster=model.cluster, correction=model.correction)


def design_key(design: Design) -> str:
    """A content key of a design (names, rows, period layout): what cached results depend on."""
    return content_key("design", list(design.names), design.X, design.y, design.offsets)


# -------------------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class ValidationSplit:
    train: list[str]  # training period names, consecutive
    test: list[str]  # test period names, all after the training ones


def validation_split(spec: ValidationSpec, formulas: Mapping[str, str], panel: Panel) -> ValidationSplit:
    """[validation]'s split resolved against the panel's periods: train = [first, last] (default: every
    period before the first test period), test = [...] or the last holdout_last periods. Refuses, naming
    the key, a period the panel lacks, a test period inside or before the training range, and a
    training range too short for a validated model's lagged terms (none of its periods would enter
    the likelihood)."""
    names = list(panel.period_names)

    def index(label: str, key: str) -> int:
        if label not in names:
            raise RunSpecError(f"[validation] {key}: period {label!r} is not in the panel; its periods are {names}")
        return names.index(label)

    if spec.holdout_last is not None:
        if spec.holdout_last >= len(names):
            raise RunSpecError(
                f"[validation] holdout_last = {spec.holdout_last} leaves no period to train on: "
                f"the panel has {len(names)} periods"
            )
        test = list(range(len(names) - spec.holdout_last, len(names)))
    else:
        test = sorted(index(label, "test") for label in spec.test)
    if spec.train is not None:
        first, last = index(spec.train[0], "train"), index(spec.train[1], "train")
        if first > last:
            raise RunSpecError(f"[validation] train = {list(spec.train)} runs backwards (the panel's periods: {names})")
        train = list(range(first, last + 1))
    else:
        train = list(range(0, test[0]))
        if not train:
            raise RunSpecError(f"[validation]: no period before the first test period {names[test[0]]!r} to train on")
    inside = [names[t] for t in test if train[0] <= t <= train[-1]]
    if inside:
        raise RunSpecError(
            f"[validation] test period(s) {inside} lie inside the training range {names[train[0]]}..{names[train[-1]]}"
        )
    before = [names[t] for t in test if t < train[0]]
    if before:
        raise RunSpecError(
            f"[validation] test period(s) {before} come before the training range "
            f"{names[train[0]]}..{names[train[-1]]}: every test period must follow the training periods"
        )
    for name in spec.models:
        lag = parse_model(formulas[name], panel, temporal=True).lag
        if len(train) <= lag:
            raise RunSpecError(
                f"[validation] train: model {name!r} has lagged terms needing {lag} earlier period(s), so the "
                f"{len(train)} training period(s) {[names[t] for t in train]} leave none in its likelihood; "
                f"train on at least {lag + 1} periods"
            )
    return ValidationSplit([names[t] for t in train], [names[t] for t in test])


def validation(
    spec: ValidationSpec, formulas: Mapping[str, str], panel: Panel, *, seed: int, fit_training_periods=None
):
    """tergm.prediction.validate for [validation]'s models on its split: each model fitted by MPLE on
    the training periods (R = 0: the predictions use the point estimates), every dyad of each test
    period predicted (and, with simulate > 0, simulated), ROC/PR per model, period and pooled.
    fit_training_periods: see validate (the period engine's training fits)."""
    from dyadflow.tergm.prediction import validate

    split = validation_split(spec, formulas, panel)
    return validate(
        {name: formulas[name] for name in spec.models},
        panel,
        train=split.train,
        test=split.test,
        R=0,
        seed=seed,
        simulate=spec.simulate,
        fit_training_periods=fit_training_periods,
    )


# ------------------------------------------------------------------------------------- sensitivity


def sensitivity(
    client,
    formula: str,
    panel: Panel,
    names: Sequence[str],
    baseline,
    spec: SensitivitySpec,
    *,
    data_hash: str,
    checkpoints: Checkpoints | None = None,
    progress: Callable[[int], None] | None = None,
):
    """tergm.sensitivity.rewiring_sensitivity with the refits as plain Dask tasks, checkpointed under
    (data, formula, mode, level, seed, start); returns the table and the raw estimates (levels, sims, p)."""

    def map_jobs(fn, jobs):
        keys = [content_key("refit-v3", data_hash, formula, spec.mode, *job) for job in jobs]
        return map_on_dask(client, fn, jobs, label="refit", keys=keys, checkpoints=checkpoints, progress=progress)

    return rewiring_sensitivity(
        formula,
        panel,
        pd.Series(np.asarray(baseline, dtype=float), index=list(names)),
        levels=spec.levels,
        simulations=spec.simulations,
        seed=spec.seed,
        mode=spec.mode,
        map_jobs=map_jobs,
    )


def check_interpretation(spec: InterpretationSpec, model, fit) -> None:
    """Refuse, before the bootstrap, profiles of statistics the interpreted model does not have."""
    from dyadflow.tergm.interpret import DESCRIPTORS

    if model.estimate == "MLE":
        raise RunSpecError(
            f"[interpretation] model {model.name!r} is fitted by MCMC-MLE; interpretation reads an "
            "MPLE fit's design and bootstrap: choose an MPLE model with [interpretation] model = ..."
        )
    unknown = [name for name in spec.profiles if name not in fit.names and name not in DESCRIPTORS]
    if unknown:
        raise RunSpecError(
            f"[interpretation] profiles: {unknown} are neither terms of model {model.name!r} "
            f"({', '.join(fit.names)}) nor one of {list(DESCRIPTORS)}"
        )


def interpretation(spec: InterpretationSpec, name: str, fit, panel: Panel) -> dict[str, pd.DataFrame]:
    """tergm.interpret on the model's fit: probability profiles (bootstrap and subsample intervals),
    average marginal effects and, if asked, btergm's edge probabilities; tables by results file stem."""
    from dataclasses import replace

    from dyadflow.tergm.interpret import edge_probabilities, marginal_effects, probability_profile

    fit = replace(fit, panel=panel)
    profiles = [
        probability_profile(fit, statistic, subsamples=spec.subsamples, seed=spec.seed, model=name)
        for statistic in spec.profiles
    ]
    tables = {
        "profiles": pd.concat(profiles, ignore_index=True),
        "marginal_effects": marginal_effects(fit, model=name),
    }
    if spec.edge_probabilities:
        tables["edge_probabilities"] = edge_probabilities(fit).assign(model=name)
    return tables


def spec_record(spec: RunSpec) -> dict:
    """The run spec as run.json records it (paths as strings)."""
    return json.loads(json.dumps(spec.source, default=str))
