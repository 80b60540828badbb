"""The period as the unit of estimation (issue 11, item 1): in-memory implementation.

A `PeriodContributions` holds one period's design rows and answers, for a batch of coefficient
vectors, what that period adds to each fit's log pseudolikelihood, score and information. The
driver (`combine_periods`, `newton_periods`) adds those pieces in a fixed order, period by period
and, within a period, row block by row block, and runs the same Newton iteration as the in-memory
estimator (`estimate.newton_iterations`). Bootstrap replicates reweight whole periods, so a period's
pieces are multiplied by how often each fit counts it, exactly where the in-memory kernel does.

Why this is bit-identical to `estimate.newton` on the stacked design: the in-memory kernel sums
each (period, block of BLOCK_ROWS rows) on its own, scales the block's sums by the fit's period count
and adds the blocks into the totals in period order, block order. Here a period is evaluated by the
same kernel with each of its blocks posing as a one-block "period" counted once, which reproduces
every block's sums digit for digit (same rows, same lanes, count 1.0 is exact), and the driver
applies the counts and adds the blocks in the same order. Where a period is evaluated (this process,
another thread or another worker) and in which order periods are answered cannot change a bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numba
import numpy as np

from dyadflow.storage.panel import Panel
from dyadflow.tergm.bootstrap import warm_start_totals
from dyadflow.tergm.design import Design, Model, design_for_period
from dyadflow.tergm.estimate import (
    BLOCK_ROWS,
    EstimationError,
    NewtonResult,
    _evaluate,
    _read_only,
    newton_iterations,
)


class PeriodContributions:
    """One period's design rows X (m, p) float64 and responses y (m,) 0/1 float64.

    threads: numba threads for this period's rows. 1 by default: the period is the unit of
    parallelism (the caller's map_fn spreads periods over workers), and one short parallel kernel
    call per period costs more than it gains: measured here, numba's OpenMP threads spin between
    calls and burned 15x the CPU of one thread on 20,000-row calls. The result never depends on it.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, threads: int = 1):
        if not (isinstance(threads, int) and threads >= 1):
            raise EstimationError(f"threads must be a whole number >= 1, got {threads!r}")
        self.threads = threads
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] == 0:
            raise EstimationError(f"X must be an (m, p) array with p >= 1, got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise EstimationError(f"y must have one entry per row of X ({X.shape[0]}), got shape {y.shape}")
        if not ((y == 0.0) | (y == 1.0)).all():
            raise EstimationError("y (the observed ties) must be 0/1; found other values")
        if not np.isfinite(X).all():
            raise EstimationError("X holds non-finite change statistics (nan/inf)")
        self.X, self.y = X, y
        n = X.shape[0]
        # each block of BLOCK_ROWS rows, as the in-memory kernel cuts the period, is one "period" here
        self._block_offsets = np.append(np.arange(0, n, BLOCK_ROWS, dtype=np.int64), np.int64(n))
        if n == 0:
            self._block_offsets = np.zeros(1, np.int64)

    @classmethod
    def from_design(cls, design: Design, t: int, threads: int = 1) -> PeriodContributions:
        """Period t of a stacked design (views, no copy)."""
        rows = design.period_rows(t)
        return cls(design.X[rows], design.y[rows], threads)

    @classmethod
    def build(cls, model: Model, panel: Panel, t: int, threads: int = 1) -> PeriodContributions:
        """Period t computed from the panel (what a worker does with the periods it owns)."""
        X, y, _ = design_for_period(model, panel, t)
        return cls(X, y, threads)

    @property
    def n_terms(self) -> int:
        return self.X.shape[1]

    @property
    def n_blocks(self) -> int:
        return len(self._block_offsets) - 1

    def contributions(self, coef_batch: np.ndarray) -> np.ndarray:
        """(b, n_blocks, 1+p+q) the sums [loglik, score (p), packed upper-triangular information (q)]
        of each row block of this period at each of the b coefficient vectors (b, p), counted once."""
        coef = np.ascontiguousarray(coef_batch, dtype=np.float64)
        p = self.n_terms
        if coef.ndim != 2 or coef.shape[1] != p:
            raise EstimationError(f"coef_batch must be a (b, {p}) array, got shape {coef.shape}")
        b, k = coef.shape[0], self.n_blocks
        width = 1 + p + p * (p + 1) // 2
        if b == 0 or k == 0:
            return np.zeros((b, k, width))
        ptr = np.arange(0, k * b + 1, b, dtype=np.int64)  # block j counts fits j*b .. j*b+b-1, once each
        fits = np.arange(k * b, dtype=np.int64)
        ones = np.ones(k * b)
        calling_threads = numba.get_num_threads()  # numba's setting is per calling thread
        numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        try:
            # read-only views, as tergm.estimate passes them: one compiled _evaluate serves both paths
            totals = _evaluate(
                _read_only(self.X),
                _read_only(self.y),
                _read_only(self._block_offsets),
                ptr,
                fits,
                ones,
                np.tile(coef, (k, 1)),
                k * b,
            )
        finally:
            numba.set_num_threads(calling_threads)
        return totals.reshape(k, b, width).transpose(1, 0, 2)


def combine_periods(answers: Sequence[np.ndarray], counts: np.ndarray) -> np.ndarray:
    """(b, 1+p+q) totals of b fits from each period's `contributions` (answers[t]: (b_t, blocks, width)
    for the fits with counts[:, t] > 0, in fit order), weighted by the counts and added in period
    order, block order: the in-memory kernel's order."""
    counts = np.asarray(counts, dtype=np.int64)
    b, T = counts.shape
    if len(answers) != T:
        raise EstimationError(f"{len(answers)} period answers for {T} periods")
    width = next((a.shape[2] for a in answers if a.size), 1)
    totals = np.zeros((b, width))
    for t in range(T):
        members = np.flatnonzero(counts[:, t] > 0)
        answer = answers[t]
        if answer.shape[0] != len(members):
            raise EstimationError(f"period {t} answered for {answer.shape[0]} fits, {len(members)} count it")
        weight = counts[members, t].astype(np.float64)[:, None]
        for block in range(answer.shape[1]):
            totals[members] += weight * answer[:, block]
    return totals


Mapper = Callable[[Callable, Iterable], Iterable]


def newton_periods(
    periods: Sequence[PeriodContributions],
    counts: np.ndarray,
    start: np.ndarray,
    max_iter: int,
    start_totals: np.ndarray | None = None,
    map_fn: Mapper = map,
) -> NewtonResult:
    """`estimate.newton` over periods: b fits with (b, T) period counts from (b, p) starts.

    map_fn(function, items) evaluates the periods (built-in map: one after another; an executor's
    map: concurrently); the answers are combined in period order, so it cannot change the result.
    """
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[1] != len(periods):
        raise EstimationError(f"counts must be (b, {len(periods)}): one column per period, got {counts.shape}")
    if (counts < 0).any():
        raise EstimationError("counts must be >= 0 (how often each fit counts each period)")
    terms = {period.n_terms for period in periods}
    if len(terms) > 1:
        raise EstimationError(f"the periods have different numbers of terms: {sorted(terms)}")
    start = np.asarray(start, dtype=np.float64)
    if start.shape != (counts.shape[0], *terms) or not np.isfinite(start).all():
        raise EstimationError(
            f"start must be {counts.shape[0]} x {sorted(terms)} finite numbers (one row per fit), "
            f"got shape {start.shape}"
        )

    def run(fits: np.ndarray, coef: np.ndarray) -> np.ndarray:
        sub = counts[fits]
        jobs = [(period, coef[sub[:, t] > 0]) for t, period in enumerate(periods)]
        answers = list(map_fn(lambda job: job[0].contributions(job[1]), jobs))
        return combine_periods(answers, sub)

    return newton_iterations(run, counts, start, max_iter, start_totals)


def replicates_periods(
    periods: Sequence[PeriodContributions], start: np.ndarray, counts: np.ndarray, max_iter: int, map_fn: Mapper = map
) -> NewtonResult:
    """Bootstrap replicates ((b, T) period counts) warm-started at `start` (p,) over periods, as
    `bootstrap.fit_replicates` fits them: each period's sums at the start are computed once and
    shared by the replicates (bootstrap.warm_start_totals), then `newton_periods`. Replicates that
    do not converge are returned as such (fit_replicates hands them to the glm.fit emulation)."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    start = np.asarray(start, dtype=np.float64)
    T = len(periods)
    at_start = list(map_fn(lambda period: period.contributions(start[None, :]), periods))
    per_period = combine_periods(at_start, np.eye(T, dtype=np.int64))
    starts = np.repeat(start[None, :], counts.shape[0], axis=0)
    return newton_periods(periods, counts, starts, max_iter, warm_start_totals(per_period, counts), map_fn)
