"""The work of each stage, as plain functions (no Prefect): flows/workflow.py wraps them in Prefect
tasks and flows, tests call them directly.

ingest -> changestats (per period, cached in the store by the period's content hash) -> fit ->
bootstrap (batches on Dask) -> report; sensitivity (tergm.sensitivity's refits of rewired networks,
fanned out on Dask).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dyadflow.flows.fanout import Checkpoints, batch_mapper, content_key, map_on_dask
from dyadflow.flows.spec import RunSpec, SensitivitySpec
from dyadflow.storage.panel import Panel, Period
from dyadflow.tergm.design import Design, assemble, design_for_period, parse_model, period_cache_parts
from dyadflow.tergm.sensitivity import rewiring_sensitivity

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


# ------------------------------------------------------------------------------------ changestats


@dataclass
class ChangestatsResult:
    design: Design
    computed: list[str]  # periods whose change statistics were computed now
    reused: list[str]  # periods read from the cache


def changestats(
    formula: str,
    panel: Panel,
    hashes: Sequence[str],
    *,
    store=None,
    progress: Callable[[int], None] | None = None,
) -> ChangestatsResult:
    """The design of `formula` on `panel`, period by period; each period's rows are cached in the
    store under a key of everything they depend on (tergm.design.period_cache_parts: compiled terms,
    names, factor levels, time index, lag, kernel sources) and the content hashes of the periods they
    read, so a data update recomputes only the periods it touched (and those whose lagged terms read
    them) and any change of the model, the window or the kernels recomputes them all."""
    from dyadflow import storage

    model = parse_model(formula, panel, temporal=True)
    pieces, computed, reused = [], [], []
    for t in model.likelihood_periods:
        key = content_key(period_cache_parts(model, t), list(hashes[t - model.lag : t + 1]))
        cached = storage.read_derived(store, CHANGESTATS_GROUP, key) if store is not None else None
        if cached is not None:
            pieces.append((cached["X"], cached["y"], cached["dyads"]))
            reused.append(panel.period_names[t])
        else:
            X, y, dyads = design_for_period(model, panel, t)
            if store is not None:
                storage.write_derived(store, CHANGESTATS_GROUP, key, {"X": X, "y": y, "dyads": dyads})
            pieces.append((X, y, dyads))
            computed.append(panel.period_names[t])
        if progress:
            progress(1)
    return ChangestatsResult(assemble(model, panel, pieces), computed, reused)


# ----------------------------------------------------------------------------------- fit, bootstrap


def fit(design: Design):
    """The MPLE of the pooled design (tergm.mple's result)."""
    from dyadflow.tergm import mple

    return mple(design)


def _encode_replicates(result) -> dict[str, np.ndarray]:
    """A tergm.bootstrap.ReplicateResult as plain arrays for a checkpoint (no pickle)."""
    return {
        "coef": result.coef,
        "iterations": result.iterations,
        "converged": result.converged,
        "diverging": np.asarray(json.dumps(result.diverging)),
    }


def _decode_replicates(arrays: dict[str, np.ndarray]):
    from dyadflow.tergm.bootstrap import ReplicateResult

    return ReplicateResult(
        arrays["coef"], arrays["iterations"], arrays["converged"], json.loads(str(arrays["diverging"]))
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
        encode=_encode_replicates,
        decode=_decode_replicates,
    )
    return fit_design(design, R=R, seed=seed, map_batches=mapper, batch_size=batch_size, formula=formula)


def design_key(design: Design) -> str:
    """A content key of a design (names, rows, period layout): what cached results depend on."""
    return content_key("design", list(design.names), design.X, design.y, design.offsets)


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
    """tergm.sensitivity.rewiring_sensitivity with every refit as one Dask task, checkpointed under
    (data, formula, mode, level, seed); returns the table and the raw estimates (levels, sims, p)."""

    def map_jobs(fn, jobs):
        keys = [content_key("refit-v2", data_hash, formula, spec.mode, level, seed) for level, seed in jobs]
        return map_on_dask(client, fn, jobs, label="refit", keys=keys, checkpoints=checkpoints, progress=progress)

    return rewiring_sensitivity(
        formula, panel, pd.Series(np.asarray(baseline, dtype=float), index=list(names)),
        levels=spec.levels, simulations=spec.simulations, seed=spec.seed, mode=spec.mode, map_jobs=map_jobs,
    )


def spec_record(spec: RunSpec) -> dict:
    """The run spec as run.json records it (paths as strings)."""
    return json.loads(json.dumps(spec.source, default=str))
