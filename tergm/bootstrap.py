"""Bootstrap over time periods, as btergm does: each replicate draws T periods with replacement and
refits the pooled MPLE on every row of the drawn periods (a period drawn twice counts twice).

Replicates differ only in their period counts, so they are fitted together (`fit_replicates`):
warm-started at the full-sample estimate, whose per-period sums are computed once and shared, then
Newton steps for all unconverged replicates in one pass over the data per iteration. Every
replicate's numbers are bit-identical whether it is fitted alone or in any batch, so replicates may
be split over any number of workers.

Intervals and standard errors follow R exactly: `percentile_interval` is boot.ci(type = "perc")
(boot's norm.inter), `btergm_standard_errors` is btergm's btergm.se.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import norm

from dyadflow.tergm.design import Design
from dyadflow.tergm.estimate import (
    CONVERGED,
    EstimationError,
    NewtonResult,
    compressed_rows,
    diverging_terms,
    evaluate,
    glm_compatible_fit,
    newton,
    validate_design,
)

REPLICATE_MAX_ITER = 25  # glm.fit's maxit: a replicate still moving after this many steps has no finite MLE


def draw_resamples(n_periods: int, R: int, seed: int) -> np.ndarray:
    """(R, T) 0-based period indices drawn with replacement from numpy's Generator(seed).

    Drawn once for the whole run, before any replicate is fitted, so the draws do not depend on how
    replicates are later split into batches or workers."""
    if n_periods < 1:
        raise EstimationError(f"cannot resample {n_periods} periods")
    if R < 1:
        raise EstimationError(f"the number of bootstrap replicates R must be >= 1, got {R}")
    return np.random.default_rng(seed).integers(0, n_periods, size=(R, n_periods), dtype=np.int64)


def resample_counts(resamples: np.ndarray, n_periods: int) -> np.ndarray:
    """(R, T) how often each replicate drew each period."""
    resamples = np.asarray(resamples)
    if resamples.ndim != 2 or resamples.dtype.kind not in "iu":
        raise EstimationError(
            f"resamples must be an (R, T) integer array of period indices, got {resamples.dtype} {resamples.shape}"
        )
    if resamples.size and (resamples.min() < 0 or resamples.max() >= n_periods):
        raise EstimationError(
            f"resamples hold period indices outside 0..{n_periods - 1} (they are 0-based; "
            f"subtract 1 from btergm's 1-based indices); found {resamples.min()}..{resamples.max()}"
        )
    counts = np.zeros((resamples.shape[0], n_periods), np.int64)
    for column in resamples.T:
        counts[np.arange(resamples.shape[0]), column] += 1
    return counts


@dataclass(frozen=True)
class ReplicateResult:
    coef: np.ndarray  # (b, p); nan for coefficients glm.fit would report as NA (aliased in that replicate)
    iterations: np.ndarray  # (b,) Newton steps (glm.fit iterations for replicates without an MLE)
    converged: np.ndarray  # (b,) True: the replicate's MLE, to machine precision
    diverging: list[list[str]]  # per replicate, the terms whose coefficients diverge (empty when converged)


def fit_replicates(design: Design, start: np.ndarray, resamples: np.ndarray) -> ReplicateResult:
    """Fit the replicates given by `resamples` ((b, T) 0-based period indices), warm-started at `start`.

    Replicates whose Newton iteration does not reach a maximum (separation, or a term constant in the
    drawn periods) are refitted the way btergm did, with glm.fit's own iteration: its answer is what
    btergm reports (an arbitrary iterate, or NA for an aliased term), flagged by converged=False.
    """
    validate_design(design)
    T, p = design.n_periods, len(design.names)
    start = np.asarray(start, dtype=np.float64)
    if start.shape != (p,) or not np.isfinite(start).all():
        raise EstimationError(f"start must be {p} finite numbers (the full-sample estimate), got {start}")
    counts = resample_counts(resamples, T)
    b = counts.shape[0]
    if b == 0:
        return ReplicateResult(np.zeros((0, p)), np.zeros(0, np.int64), np.zeros(0, bool), [])
    # the sums at the warm start differ between replicates only by period counts: compute them per period
    per_period = evaluate(design, np.eye(T, dtype=np.int64), np.repeat(start[None, :], T, axis=0))
    start_totals = warm_start_totals(per_period, counts)
    starts = np.repeat(start[None, :], b, axis=0)
    # replicates are estimates only: no information at their last points (newton_iterations)
    result = newton(design, counts, starts, REPLICATE_MAX_ITER, start_totals, final_information=False)
    return replicates_without_mle(result, counts, design.names, lambda: design)


def replicates_without_mle(
    result: NewtonResult, counts: np.ndarray, names: list[str], design: Callable[[], Design]
) -> ReplicateResult:
    """The replicates of `result` ((b, T) period counts), those without an MLE refitted by btergm's
    glm.fit; design() gives the rows, asked for only when some replicate needs them."""
    coef = result.coef.copy()
    iterations = result.iterations.copy()
    converged = result.status == CONVERGED
    diverging: list[list[str]] = [[] for _ in range(len(coef))]
    if not converged.all():
        rows = design()
        compressed = compressed_rows(rows)
        for r in np.flatnonzero(~converged):
            glm = glm_compatible_fit(rows, counts[r], compressed=compressed)
            coef[r] = glm.coef
            iterations[r] = glm.iterations
            aliased = [name for name, value in zip(names, glm.coef) if np.isnan(value)]
            diverging[r] = aliased or diverging_terms(names, glm.last_step)
    return ReplicateResult(coef, iterations, converged, diverging)


def warm_start_totals(per_period: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(b, 1+p+q) each replicate's sums at the common warm start, from every period's own sums there
    ((T, 1+p+q), each period counted once): weighted by the replicate's counts, added in period order."""
    start_totals = np.zeros((counts.shape[0], per_period.shape[1]))
    for t in range(counts.shape[1]):
        start_totals += counts[:, t : t + 1] * per_period[t]
    return start_totals


def replicate_batch(design: Design, start: np.ndarray, resamples: np.ndarray) -> np.ndarray:
    """(b, p) replicate estimates for the (b, T) period draws `resamples` (0-based)."""
    return fit_replicates(design, start, resamples).coef


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """boot.ci(type = "perc") for one coefficient: boot's norm.inter, i.e. the order statistics at
    (R+1)*alpha, interpolated on the normal-quantile scale when (R+1)*alpha is not an integer.
    Non-finite replicates are dropped first, as boot does."""
    if not 0 < level < 1:
        raise EstimationError(f"level must be in (0, 1), got {level}")
    t = np.sort(np.asarray(replicates, dtype=np.float64)[np.isfinite(replicates)])
    R = len(t)
    if R == 0:
        return (np.nan, np.nan)
    out = []
    for alpha in ((1 - level) / 2, (1 + level) / 2):
        rk = (R + 1) * alpha
        k = int(np.trunc(rk))
        if k == rk and 0 < k <= R:
            out.append(t[k - 1])
        elif k <= 0:
            out.append(t[0])
        elif k >= R:
            out.append(t[R - 1])
        else:
            lo_q, hi_q = ndtri(k / (R + 1)), ndtri((k + 1) / (R + 1))
            out.append(t[k - 1] + (ndtri(alpha) - lo_q) / (hi_q - lo_q) * (t[k] - t[k - 1]))
    return float(out[0]), float(out[1])


def btergm_standard_errors(replicates: np.ndarray, estimate: np.ndarray) -> dict[str, np.ndarray]:
    """btergm.se: the standard error is the root mean squared deviation of the replicates from the
    estimate (not their sd); z = (0 - mean of replicates) / se; two-sided normal p-value.
    Also the replicates' mean and sd (n-1 denominator, R's sd)."""
    t = np.asarray(replicates, dtype=np.float64)
    se = np.sqrt(np.mean((t - estimate) ** 2, axis=0))
    mean = t.mean(axis=0)
    z = (0 - mean) / se
    return {
        "boot_mean": mean,
        "boot_sd": t.std(axis=0, ddof=1),
        "se": se,
        "z": z,
        "p": 2 * norm.sf(np.abs(z)),
    }
