"""The period as the unit of estimation (issue 11, item 1).

A `PeriodContributions` holds one period's design rows and answers, for a batch of fits (each a
coefficient vector and how often the fit counts the period), what the period adds to each fit's log
pseudolikelihood, score and information. A period set (`LocalPeriods` here; `dyadflow.flows.periods`
holds them on Dask workers, built there from the store) answers for all its periods; the driver adds
the answers in period order (`combine_periods`) and runs the in-memory estimator's Newton iteration
(`estimate.newton_iterations`), so the MPLE (`mple_periods`), the bootstrap replicates
(`replicates_periods`) and the whole btergm fit (`fit_periods`) are bit for bit those of the stacked
design (`estimate.mple`, `bootstrap.fit_replicates`, `api.fit_design`).

Why bit-identical: the in-memory kernel (`estimate._evaluate`) sums each fit's rows block by block,
adds a period's count-weighted block sums into the period's own sums, starting from zero, and adds
the periods' sums into the totals in period order. A period's sums thus depend on the period's rows,
the fit's coefficients and its count only; the same kernel computes them for one period wherever the
period lives (another thread, process or worker), and the driver adds them in the same order.

The driver never holds the design: only (fits x (1 + p + p(p+1)/2)) numbers per period and request.
The rare diagnostics that need rows (a suspected collinearity, a separation report, btergm's glm.fit
emulation for a replicate without an MLE) gather the design (`gather`), as the in-memory path reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import numba
import numpy as np

from dyadflow.storage.panel import Panel
from dyadflow.tergm.api import _check_bootstrap_arguments, bootstrap_replicates
from dyadflow.tergm.bootstrap import (
    REPLICATE_MAX_ITER,
    ReplicateResult,
    draw_resamples,
    replicates_without_mle,
    resample_counts,
    warm_start_totals,
)
from dyadflow.tergm.design import Design, Model, design_for_period
from dyadflow.tergm.estimate import (
    CONVERGED,
    EstimationError,
    MpleResult,
    NewtonResult,
    _evaluate,
    _read_only,
    check_identified,
    gram_identified,
    mple_result,
    newton_iterations,
    separation_error,
)

Mapper = Callable[[Callable, Iterable], Iterable]


@dataclass(frozen=True)
class PeriodSummary:
    """What the MPLE's checks need of a period besides its sums: rows, ties and the Gram matrix X'X."""

    rows: int
    ties: float
    gram: np.ndarray  # (p, p)


class PeriodContributions:
    """One period's design rows X (m, p) float64 and responses y (m,) 0/1 float64.

    threads: numba threads for this period's rows. 1 by default: the period is the unit of
    parallelism (the period set spreads periods over threads or workers), and one short parallel
    kernel call per period costs more than it gains: measured here, numba's OpenMP threads spin
    between calls and burned 15x the CPU of one thread on 20,000-row calls. The result never depends on it.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, threads: int = 1):
        if not (isinstance(threads, int) and threads >= 1):
            raise EstimationError(f"threads must be a whole number >= 1, got {threads!r}")
        X = np.asarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] == 0:
            raise EstimationError(f"X must be an (m, p) array with p >= 1, got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise EstimationError(f"y must have one entry per row of X ({X.shape[0]}), got shape {y.shape}")
        if not ((y == 0.0) | (y == 1.0)).all():
            raise EstimationError("y (the observed ties) must be 0/1; found other values")
        if not np.isfinite(X).all():
            raise EstimationError("X holds non-finite change statistics (nan/inf)")
        # The compact exact form: a column whose every value a float32 holds (constants, counts,
        # covariates stored as float32) is kept as float32 and read back exactly by the kernel.
        exact = (X.astype(np.float32).astype(np.float64) == X).all(axis=0)
        # column j is X64[:, c] for c = columns[j] >= 0, else X32[:, -c - 1]
        columns = np.where(exact, -np.cumsum(exact), np.cumsum(~exact) - 1).astype(np.int64)
        self._setup(
            np.ascontiguousarray(X[:, ~exact]), np.ascontiguousarray(X[:, exact], dtype=np.float32), columns, y, threads
        )
        self._summary = PeriodSummary(len(y), float(y.sum()), X.T @ X)  # X'X as estimate.check_identified forms it

    def _setup(self, X64, X32, columns, y, threads) -> None:
        self.X64, self.X32, self.columns, self.y, self.threads = X64, X32, columns, y, threads

    def parts(self) -> dict[str, np.ndarray]:
        """The compact form's arrays (float64 columns, float32 columns, the column map, y)."""
        return {"X64": self.X64, "X32": self.X32, "columns": self.columns, "y": self.y}

    @classmethod
    def from_parts(cls, parts, summary: PeriodSummary, threads: int = 1) -> PeriodContributions:
        """A period from `parts()` of one checked before (a spilled period read back): no checks again."""
        period = cls.__new__(cls)
        period._setup(parts["X64"], parts["X32"], parts["columns"], parts["y"], threads)
        period._summary = summary
        return period

    @property
    def X(self) -> np.ndarray:
        """The (m, p) float64 rows, assembled from the compact form."""
        X = np.empty((len(self.y), len(self.columns)))
        for j, column in enumerate(self.columns):
            X[:, j] = self.X64[:, column] if column >= 0 else self.X32[:, -column - 1]
        return X

    @classmethod
    def from_design(cls, design: Design, t: int, threads: int = 1) -> PeriodContributions:
        """Period t of a stacked design (views, no copy)."""
        rows = design.period_rows(t)
        return cls(design.X[rows], design.y[rows], threads)

    @classmethod
    def build(cls, model: Model, panel: Panel, t: int, threads: int = 1) -> PeriodContributions:
        """Panel period t's rows computed from the panel (what a worker does with the periods it owns)."""
        X, y, _ = design_for_period(model, panel, t)
        return cls(X, y, threads)

    @property
    def n_terms(self) -> int:
        return len(self.columns)

    @property
    def nbytes(self) -> int:
        return self.X64.nbytes + self.X32.nbytes + self.y.nbytes

    def summary(self) -> PeriodSummary:
        return self._summary

    def contributions(self, coef_batch: np.ndarray, counts: np.ndarray, information: bool = True) -> np.ndarray:
        """(b, 1+p+q) this period's sums [loglik, score (p), packed upper-triangular information (q)]
        for b fits: coefficients (b, p), and how often each fit counts the period (b,) >= 1; the
        information 0 unless asked for (see estimate.newton_iterations' final_information)."""
        coef = np.ascontiguousarray(coef_batch, dtype=np.float64)
        p = self.n_terms
        if coef.ndim != 2 or coef.shape[1] != p:
            raise EstimationError(f"coef_batch must be a (b, {p}) array, got shape {coef.shape}")
        b = coef.shape[0]
        counts = np.asarray(counts)
        if counts.shape != (b,) or (counts < 1).any():
            raise EstimationError(f"counts must be {b} whole numbers >= 1 (one per fit), got {counts!r}")
        calling_threads = numba.get_num_threads()  # numba's setting is per calling thread
        numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        try:
            # read-only views, as tergm.estimate passes them: one compiled _evaluate serves both paths
            return _evaluate(
                _read_only(self.X64),
                _read_only(self.X32),
                _read_only(self.columns),
                _read_only(self.y),
                _read_only(np.array([0, len(self.y)], dtype=np.int64)),
                np.array([0, b], dtype=np.int64),
                np.arange(b, dtype=np.int64),
                counts.astype(np.float64),
                coef,
                b,
                bool(information),
            )
        finally:
            numba.set_num_threads(calling_threads)


# (coefficients (b, p), counts (b,), whether the information is wanted) of the fits counting a period
Request = tuple[np.ndarray, np.ndarray, bool]


class LocalPeriods:
    """A period set held in this process. map_fn(function, items) evaluates the periods (built-in
    map: one after another; an executor's map: concurrently); it cannot change a result."""

    def __init__(self, periods: Sequence[PeriodContributions], names: Sequence[str], map_fn: Mapper = map):
        self.periods = list(periods)
        self.names = list(names)
        terms = {period.n_terms for period in self.periods}
        if terms - {len(self.names)}:
            raise EstimationError(f"the periods have {sorted(terms)} terms for {len(self.names)} names {self.names}")
        self.map_fn = map_fn

    @classmethod
    def from_design(cls, design: Design, map_fn: Mapper = map, threads: int = 1) -> LocalPeriods:
        periods = [PeriodContributions.from_design(design, t, threads) for t in range(design.n_periods)]
        return cls(periods, design.names, map_fn)

    @property
    def n_periods(self) -> int:
        return len(self.periods)

    def contributions(self, requests: Sequence[Request | None]) -> list[np.ndarray | None]:
        """Per period, its sums for the fits of its request (None: no fit counts the period)."""
        jobs = [(period, request) for period, request in zip(self.periods, requests) if request is not None]
        answers = iter(list(self.map_fn(lambda job: job[0].contributions(*job[1]), jobs)))
        return [None if request is None else next(answers) for request in requests]

    def summaries(self) -> list[PeriodSummary]:
        return list(self.map_fn(PeriodContributions.summary, self.periods))

    def gather(self) -> Design:
        """The stacked rows (names, X, y, offsets; no dyad index) for the diagnostics that need rows."""
        return stacked_design(self.names, [(period.X, period.y) for period in self.periods])


def stacked_design(names: Sequence[str], rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> Design:
    """A Design of the estimator's inputs only (X, y, offsets, names) from per-period (X, y)."""
    offsets = np.concatenate([[0], np.cumsum([len(y) for _, y in rows])]).astype(np.int64)
    return Design(
        names=list(names),
        X=np.concatenate([X for X, _ in rows]) if rows else np.empty((0, len(names))),
        y=np.concatenate([y for _, y in rows]) if rows else np.empty(0),
        offsets=offsets,
        periods=[str(t) for t in range(len(rows))],
        dyads=np.empty((0, 2), np.int64),
        nodes=[],
        directed=False,
    )


def _requests(counts: np.ndarray, coef: np.ndarray, information: bool = True) -> list[Request | None]:
    requests: list[Request | None] = []
    for t in range(counts.shape[1]):
        members = counts[:, t] > 0
        requests.append((coef[members], counts[members, t], information) if members.any() else None)
    return requests


def combine_periods(answers: Sequence[np.ndarray | None], counts: np.ndarray) -> np.ndarray:
    """(b, 1+p+q) totals of b fits from each period's answer (answers[t]: (b_t, width) for the fits
    with counts[:, t] > 0, in fit order), added in period order: the in-memory kernel's order."""
    counts = np.asarray(counts, dtype=np.int64)
    b, T = counts.shape
    if len(answers) != T:
        raise EstimationError(f"{len(answers)} period answers for {T} periods")
    width = next((a.shape[1] for a in answers if a is not None), 1)
    totals = np.zeros((b, width))
    for t, answer in enumerate(answers):
        members = np.flatnonzero(counts[:, t] > 0)
        rows = 0 if answer is None else answer.shape[0]
        if rows != len(members):
            raise EstimationError(f"period {t} answered for {rows} fits, {len(members)} count it")
        if rows:
            totals[members] += answer
    return totals


def _check_counts(periods, counts: np.ndarray) -> np.ndarray:
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[1] != periods.n_periods:
        raise EstimationError(f"counts must be (b, {periods.n_periods}): one column per period, got {counts.shape}")
    if (counts < 0).any():
        raise EstimationError("counts must be >= 0 (how often each fit counts each period)")
    return counts


def newton_periods(
    periods,
    counts: np.ndarray,
    start: np.ndarray,
    max_iter: int,
    start_totals: np.ndarray | None = None,
    *,
    final_information: bool = True,
) -> NewtonResult:
    """`estimate.newton` over a period set: b fits with (b, T) period counts from (b, p) starts."""
    counts = _check_counts(periods, counts)
    start = np.asarray(start, dtype=np.float64)
    p = len(periods.names)
    if start.shape != (counts.shape[0], p) or not np.isfinite(start).all():
        raise EstimationError(
            f"start must be {counts.shape[0]} x {p} finite numbers (one row per fit), got shape {start.shape}"
        )

    def run(fits: np.ndarray, coef: np.ndarray, information: bool = True) -> np.ndarray:
        sub = counts[fits]
        return combine_periods(periods.contributions(_requests(sub, coef, information)), sub)

    return newton_iterations(run, counts, start, max_iter, start_totals, final_information=final_information)


def mple_periods(periods, max_iter: int = 50) -> MpleResult:
    """`estimate.mple` (every period counted once, Newton from 0) over a period set, bit for bit."""
    p, T = len(periods.names), periods.n_periods
    if T == 0:
        raise EstimationError("the period set has no periods")
    summaries = periods.summaries()
    gram = np.zeros((p, p))
    for summary in summaries:
        gram += np.int64(1) * summary.gram  # check_identified's sum with every weight 1
    ones = np.ones(T, np.int64)
    if not gram_identified(periods.names, gram):
        check_identified(periods.gather(), ones)  # the exact check reads the rows, as in memory
    result = newton_periods(periods, ones[None, :], np.zeros((1, p)), max_iter)
    if result.status[0] != CONVERGED:
        raise separation_error(periods.gather(), ones, result)
    rows = sum(summary.rows for summary in summaries)
    ties = sum(summary.ties for summary in summaries)  # whole numbers below 2**53: any order is exact
    return mple_result(periods.names, result, float(rows), ties)


def replicates_periods(periods, start: np.ndarray, counts: np.ndarray, max_iter: int = REPLICATE_MAX_ITER):
    """Bootstrap replicates ((b, T) period counts) warm-started at `start` (p,), as
    `bootstrap.fit_replicates` fits them: each period's sums at the start are computed once and
    shared by the replicates (bootstrap.warm_start_totals), then `newton_periods`. Returns the
    NewtonResult; `fit_replicates_periods` adds btergm's handling of replicates without an MLE."""
    counts = _check_counts(periods, counts)
    start = np.asarray(start, dtype=np.float64)
    T = periods.n_periods
    each_once = np.eye(T, dtype=np.int64)  # fit t counts period t once: every period's sums at the start
    at_start = periods.contributions(_requests(each_once, np.repeat(start[None, :], T, axis=0)))
    per_period = combine_periods(at_start, each_once)
    starts = np.repeat(start[None, :], counts.shape[0], axis=0)
    totals = warm_start_totals(per_period, counts)
    # replicates are estimates only: no information at their last points, as in bootstrap.fit_replicates
    return newton_periods(periods, counts, starts, max_iter, totals, final_information=False)


def fit_replicates_periods(periods, start: np.ndarray, resamples: np.ndarray) -> ReplicateResult:
    """`bootstrap.fit_replicates` over a period set, bit for bit."""
    start = np.asarray(start, dtype=np.float64)
    p = len(periods.names)
    if start.shape != (p,) or not np.isfinite(start).all():
        raise EstimationError(f"start must be {p} finite numbers (the full-sample estimate), got {start}")
    counts = resample_counts(resamples, periods.n_periods)
    if counts.shape[0] == 0:
        return ReplicateResult(np.zeros((0, p)), np.zeros(0, np.int64), np.zeros(0, bool), [])
    result = replicates_periods(periods, start, counts)
    return replicates_without_mle(result, counts, periods.names, periods.gather)


@dataclass(frozen=True)
class PeriodFit:
    """`api.fit_design`'s numbers from a period set: the MPLE and R period-bootstrap replicates."""

    mple: MpleResult
    replicates: np.ndarray  # (R, p)
    resamples: np.ndarray  # (R, T) 0-based period indices each replicate drew
    replicate_converged: np.ndarray  # (R,)
    diverging: list[list[str]]


def fit_periods(
    periods,
    *,
    R: int = 100,
    seed: int = 12345,
    batch_size: int = 25,
    progress: Callable[[int, int], None] | None = None,
    map_batches: Mapper | None = None,
    mple_of: Callable[[object], MpleResult] = mple_periods,
) -> PeriodFit:
    """btergm over a period set: the MPLE, then R replicates in batches of batch_size (the batching
    cannot change a number: each replicate's sums are its own), as `api.fit_design` gives them.
    R = 0: the MPLE alone (no replicates).

    map_batches(fn, batches): how the batches are run (default: one after another here), e.g. each
    loaded from a checkpoint when there is one (dyadflow.flows.periods). mple_of(periods): the MPLE
    (default `mple_periods`; a caller may serve a checkpointed one)."""
    if R == 0:
        estimate = mple_of(periods)
        p, T = len(periods.names), periods.n_periods
        return PeriodFit(estimate, np.zeros((0, p)), np.zeros((0, T), np.int64), np.zeros(0, bool), [])
    R, seed, batch_size = _check_bootstrap_arguments(R, seed, batch_size)
    estimate = mple_of(periods)
    resamples = draw_resamples(periods.n_periods, R, seed)
    replicates, converged, diverging = bootstrap_replicates(
        partial(fit_replicates_periods, periods, estimate.coef),
        resamples,
        len(periods.names),
        batch_size=batch_size,
        map_batches=map_batches,
        progress=progress,
    )
    return PeriodFit(estimate, replicates, resamples, converged, diverging)
