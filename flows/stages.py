"""The work of each stage, as plain functions (no Prefect): flows/workflow.py wraps them in Prefect
tasks and flows, tests call them directly.

ingest -> changestats (per period, cached in the store by the period's content hash) -> fit ->
bootstrap (batches on Dask) -> report; sensitivity (refits of rewired networks on Dask).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dyadflow.flows.fanout import Checkpoints, batch_mapper, content_key, map_on_dask
from dyadflow.flows.spec import RunSpec, SensitivitySpec
from dyadflow.storage.panel import Panel, Period
from dyadflow.tergm.design import (
    Design,
    assemble,
    build_design,
    design_for_period,
    design_with_networks,
    parse_model,
    period_cache_parts,
)
from dyadflow.tergm.rewire import rewire_networks
from dyadflow.tergm.sensitivity import aggregate, simulation_seeds

CHANGESTATS_GROUP = "changestats"


# ------------------------------------------------------------------------------------------ panel


def panel_parts(panel: Panel) -> tuple[bool, list[str], list[Period]]:
    """The panel as plain data (directedness, period names, loaded periods) that ships to Dask
    workers: a Panel itself holds a cached loader (and, from a store, file handles) and does not."""
    return panel.directed, list(panel.period_names), [panel[t] for t in range(len(panel))]


def panel_from_parts(parts: tuple[bool, list[str], list[Period]]) -> Panel:
    directed, names, periods = parts
    return Panel(directed=directed, period_names=names, load=periods.__getitem__)


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


class RewiredRefit:
    """One sensitivity refit per call: rewire with the job's seed, recompute what depends on the
    networks, fit from `start` (the baseline estimate: a few Newton steps from the answer, the same
    start on every worker); NaNs if the rewired panel has no finite MPLE.

    Shipped to each worker once; the observed design it updates is built there on first use and
    kept for the worker's later refits, and each worker thread overwrites one working copy of it
    refit after refit (neither is serialised)."""

    def __init__(self, parts, formula: str, mode: str, start: np.ndarray):
        self.parts, self.formula, self.mode = parts, formula, mode
        self.start = np.asarray(start, dtype=np.float64)
        self._observed = None
        self._working = threading.local()  # per worker thread: the design the last refit overwrote

    def __getstate__(self):
        return {**self.__dict__, "_observed": None, "_working": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _working=threading.local())

    def observed(self):
        """(panel, model, design) of the observed networks."""
        if self._observed is None:
            panel = panel_from_parts(self.parts)
            model = parse_model(self.formula, panel, temporal=True)
            self._observed = panel, model, build_design(model.formula, panel)
        return self._observed

    def __call__(self, job: tuple[float, int]) -> np.ndarray:
        from dyadflow.tergm import EstimationError, mple

        panel, model, observed = self.observed()
        share, seed = job
        networks = rewire_networks(
            [panel[t].network for t in range(len(panel))],
            share,
            np.random.default_rng(int(seed)),
            directed=panel.directed,
            mode=self.mode,
            nodes=[panel[t].nodes for t in range(len(panel))],
        )
        design = design_with_networks(model, observed, panel.with_networks(networks),
                                      reuse=getattr(self._working, "design", None))
        self._working.design = design
        try:
            return np.asarray(mple(design, start=self.start).coef, dtype=float)
        except EstimationError:  # separation or collinearity in this rewired panel: counted as failed
            return np.full(len(design.names), np.nan)


def sensitivity(
    client,
    formula: str,
    panel: Panel,
    names: Sequence[str],
    baseline: np.ndarray,
    spec: SensitivitySpec,
    *,
    data_hash: str,
    checkpoints: Checkpoints | None = None,
    progress: Callable[[int], None] | None = None,
):
    """The sensitivity table (tergm.sensitivity.aggregate) and the raw estimates (levels, sims, p).

    Every refit is one Dask task seeded by (spec.seed, level index, simulation), checkpointed under
    (data, formula, mode, level, seed)."""
    seeds = simulation_seeds(spec.seed, spec.levels, spec.simulations)
    jobs, keys = [], []
    for i, level in enumerate(spec.levels):
        for s in range(spec.simulations):
            jobs.append((float(level), int(seeds[i, s])))
            keys.append(content_key("refit-v2", data_hash, formula, spec.mode, float(level), int(seeds[i, s])))
    fn = RewiredRefit(panel_parts(panel), formula, spec.mode, baseline)
    results = map_on_dask(client, fn, jobs, label="refit", keys=keys, checkpoints=checkpoints, progress=progress)
    estimates = np.asarray(results, dtype=float).reshape(len(spec.levels), spec.simulations, len(names))
    table = aggregate(
        dict(zip(names, np.asarray(baseline, dtype=float))),
        {level: estimates[i] for i, level in enumerate(spec.levels)},
        names,
    )
    return table, estimates


def spec_record(spec: RunSpec) -> dict:
    """The run spec as run.json records it (paths as strings)."""
    return json.loads(json.dumps(spec.source, default=str))
