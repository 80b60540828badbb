"""The period engine on a Dask cluster (issue 11, item 1): a period set whose periods live on workers.

Each period's design rows are built on a worker from the ingested store (`open_panel` there: the
driver ships the store's path and the compiled model, never a panel or a design) and stay on that
worker as a Dask result. The estimator's requests (per period, the fits that count it) go to where
each period lives; the answers are small ((fits, 1 + p + p(p+1)/2) per period) and the driver adds
them in period order (tergm.engine), so any number of workers gives the numbers of the in-memory fit.

A worker that dies takes its periods with it; Dask rebuilds them from the store (the build task is
pure: store, model, period) on another worker and the fit goes on with the same numbers.

spill: a directory where each period's rows are written once, as a Zarr group of one chunk per
array, and read back for every request; the workers then hold no design between requests, for
designs larger than the cluster's memory.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from dyadflow.flows.fanout import Checkpoints, content_key
from dyadflow.tergm.design import Design, DesignOutline, Model
from dyadflow.tergm.engine import PeriodContributions, PeriodSummary, Request, stacked_design
from dyadflow.tergm.results import Fit


class SpilledPeriod:
    """A period whose compact rows (PeriodContributions.parts) live in a Zarr group, one chunk per array."""

    def __init__(self, path: str, summary: PeriodSummary, threads: int = 1):
        self.path, self._summary, self.threads = path, summary, threads

    @classmethod
    def write(cls, period: PeriodContributions, path: Path) -> SpilledPeriod:
        import zarr

        # Written beside the target and renamed into place: a rebuild after a lost worker, or a
        # crash mid-write, never leaves a half-written period where a reader would find it.
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        group = zarr.open_group(zarr.storage.LocalStore(str(partial)), mode="w")
        for name, values in period.parts().items():
            chunks = tuple(max(1, size) for size in values.shape)
            array = group.create_array(name, shape=values.shape, chunks=chunks, dtype=values.dtype, compressors=None)
            array[...] = values
        if path.exists():
            shutil.rmtree(path)
        partial.rename(path)
        return cls(str(path), period.summary(), period.threads)

    def read(self) -> PeriodContributions:
        import zarr

        group = zarr.open_group(zarr.storage.LocalStore(self.path), mode="r")
        parts = {name: group[name][...] for name in ("X64", "X32", "columns", "y")}
        return PeriodContributions.from_parts(parts, self._summary, self.threads)

    def summary(self) -> PeriodSummary:
        return self._summary

    def contributions(self, coef_batch: np.ndarray, counts: np.ndarray, information: bool = True) -> np.ndarray:
        return self.read().contributions(coef_batch, counts, information)


def _build(store: str, model: Model, t: int, spill: str | None, select: list[int] | None = None):
    """Panel period t's rows, built on the worker from the store (and spilled there if asked);
    select: the panel's periods the model was compiled on (default all), t indexing them."""
    from dyadflow.storage import open_panel

    panel = open_panel(store)
    period = PeriodContributions.build(model, panel if select is None else panel.select(select), t)
    if spill is None:
        return period
    return SpilledPeriod.write(period, Path(spill) / f"period-{t}")


def _answer(period, coef: np.ndarray, counts: np.ndarray, information: bool) -> np.ndarray:
    return period.contributions(coef, counts, information)


def _summary(period) -> PeriodSummary:
    return period.summary()


def _rows(period) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(period, SpilledPeriod):
        period = period.read()
    return period.X, period.y


class DaskPeriods:
    """The likelihood periods of `model` on the store at `store`, built and held on the workers of
    `client`. Use as a context manager (or call `release`) to free them on the workers.

    select: the store panel's period indices `model` was compiled on (a training window), default all."""

    def __init__(
        self,
        client,
        store: str | Path,
        model: Model,
        *,
        spill: str | Path | None = None,
        retries: int = 3,
        select: Sequence[int] | None = None,
    ):
        self.client, self.names, self.retries = client, list(model.names), retries
        spill_directory = None
        if spill is not None:
            Path(spill).mkdir(parents=True, exist_ok=True)
            spill_directory = str(Path(spill).resolve())
        token = uuid.uuid4().hex[:12]
        self._periods = [
            client.submit(
                _build,
                str(Path(store).resolve()),
                model,
                t,
                spill_directory,
                None if select is None else [int(k) for k in select],
                key=f"period-{token}-{t}",
                retries=retries,
            )
            for t in model.likelihood_periods
        ]

    def __enter__(self) -> DaskPeriods:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        self.client.cancel(self._periods)
        self._periods = []

    @property
    def n_periods(self) -> int:
        return len(self._periods)

    def _gather(self, function, periods, *args) -> list:
        futures = self.client.map(function, periods, *args, pure=False, retries=self.retries)
        try:
            return self.client.gather(futures)
        finally:
            self.client.cancel(futures)

    def contributions(self, requests: Sequence[Request | None]) -> list[np.ndarray | None]:
        asked = [t for t, request in enumerate(requests) if request is not None]
        answers = self._gather(
            _answer,
            [self._periods[t] for t in asked],
            [requests[t][0] for t in asked],  # type: ignore[index]
            [requests[t][1] for t in asked],  # type: ignore[index]
            [requests[t][2] for t in asked],  # type: ignore[index]
        )
        by_period: list[np.ndarray | None] = [None] * len(requests)
        for t, answer in zip(asked, answers):
            by_period[t] = answer
        return by_period

    def summaries(self) -> list[PeriodSummary]:
        return self._gather(_summary, self._periods)

    def gather(self) -> Design:
        """The stacked rows, for the diagnostics that read them (see tergm.engine)."""
        return stacked_design(self.names, self._gather(_rows, self._periods))


def fit_on_workers(
    client,
    store: str | Path,
    formula: str,
    *,
    R: int,
    seed: int,
    batch_size: int,
    spill: str | Path | None = None,
    select: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    checkpoints: Checkpoints | None = None,
    data_key: Sequence[str] = (),
) -> Fit:
    """btergm of `formula` on the store's panel (or its period indices `select`) by the period engine:
    tergm.api.btergm's numbers bit for bit, while each period's rows exist only on the worker that
    built them. The driver reads one period to compile the formula and the periods' node lists; the
    Fit keeps the design's outline (tergm.design.DesignOutline), not its rows.

    checkpoints: the MPLE and every bootstrap batch are saved there as they finish, keyed by
    (data_key: the content hashes of the store's periods, formula, select, the batch's draws), and
    loaded instead of recomputed by a later call with the same key (a rerun after a crash)."""
    from dyadflow.storage import open_panel, period_nodes
    from dyadflow.tergm.design import parse_model
    from dyadflow.tergm.engine import fit_periods

    panel = open_panel(store)  # a panel of its own, let go with what it loaded when this returns
    if select is not None:
        panel = panel.select(select)
    model = parse_model(formula, panel, temporal=True)
    resumable = {}
    if checkpoints is not None:
        key = ("periods-v1", formula, list(data_key), None if select is None else [int(t) for t in select])
        resumable = _checkpointed(checkpoints, key, progress)
        progress = None  # the checkpointed batches report themselves
    with DaskPeriods(client, store, model, spill=spill, select=select) as periods:
        fitted = fit_periods(periods, R=R, seed=seed, batch_size=batch_size, progress=progress, **resumable)
        rows = [summary.rows for summary in periods.summaries()]
    nodes = period_nodes(store)
    chosen = list(range(len(nodes))) if select is None else [int(t) for t in select]
    likelihood = [chosen[t] for t in model.likelihood_periods]
    outline = DesignOutline(
        names=list(model.names),
        offsets=np.concatenate([[0], np.cumsum(rows)]).astype(np.int64),
        periods=[panel.period_names[t] for t in model.likelihood_periods],
        nodes=[nodes[t] for t in likelihood],
        directed=model.directed,
    )
    return Fit(
        mple=fitted.mple,
        design_matrix=outline,
        replicates=fitted.replicates,
        resamples=fitted.resamples,
        replicate_converged=fitted.replicate_converged,
        formula=formula,
        seed=seed,
        diverging=fitted.diverging,
    )


def _checkpointed(checkpoints: Checkpoints, key, progress: Callable[[int, int], None] | None) -> dict:
    """fit_periods' map_batches and mple_of, each result loaded from `checkpoints` when there and
    saved when computed (the same encodings as the in-memory flow's bootstrap checkpoints)."""
    from dyadflow.flows.stages import decode_mple, decode_replicates, encode_mple, encode_replicates
    from dyadflow.tergm.engine import mple_periods

    def mple_of(periods):
        return checkpoints.fetch(content_key("mple", key), lambda: mple_periods(periods), encode_mple, decode_mple)

    def map_batches(fn, batches):
        batches, results = list(batches), []
        total = sum(len(batch) for batch in batches)
        for batch in batches:
            name = content_key("bootstrap", key, batch)
            results.append(checkpoints.fetch(name, partial(fn, batch), encode_replicates, decode_replicates))
            if progress is not None:
                progress(sum(len(r.coef) for r in results), total)
        return results

    return {"mple_of": mple_of, "map_batches": map_batches}
