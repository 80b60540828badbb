"""Maximum pseudolikelihood: pooled logistic regression of each dyad's tie on its change statistics.

One Newton-Raphson engine fits both the full sample and bootstrap replicates. A "batch" is a set of
fits that share the design and differ only in how often each period counts (`counts`, shape (b, T)):
the full fit is a batch of one with every period counted once; a bootstrap replicate that drew a
period twice counts it twice. The kernel walks the periods in order and each period's rows in
fixed-size blocks, so every fit's sums are taken in the same order whether it is computed alone or
with any other fits, on any number of threads: results are bit-identical across batchings.

R's glm.fit is reproduced separately (`glm_compatible_fit`) for the one case where its answer is not
the MLE: under separation the MLE does not exist and glm.fit reports whatever iterate its deviance
criterion stopped at; btergm's bootstrap intervals include those numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from dyadflow.tergm.design import Design

BLOCK_ROWS = 2048  # rows per partial sum; fixed (never derived from the thread count) for reproducibility
_ITEMS_PER_CHUNK = 4  # blocks per parallel task (any grouping gives the same sums: each block has its own)

CONVERGED, NOT_CONVERGED, SINGULAR = 0, 1, 2
_STEP_FLOOR = 1e-13  # relative Newton step at which the fit is at rounding level
_HALVINGS = 40


class EstimationError(ValueError):
    """A design that cannot be fitted; the message names the terms and the problem."""


class CollinearityError(EstimationError):
    """The change statistics are linearly dependent: some coefficients are not identified."""

    def __init__(self, message: str, terms: list[str]):
        super().__init__(message)
        self.terms = terms


class SeparationError(EstimationError):
    """The pseudolikelihood has no maximum: some coefficients diverge (fitted probabilities 0 or 1)."""

    def __init__(self, message: str, terms: list[str]):
        super().__init__(message)
        self.terms = terms


class SeparationWarning(UserWarning):
    """Some bootstrap replicates have no finite MLE; their reported values are glm.fit's stopping point."""


@dataclass(frozen=True)
class MpleResult:
    names: list[str]
    coef: np.ndarray  # (p,)
    iterations: int  # Newton steps taken
    converged: bool
    loglik: float  # log pseudolikelihood at coef
    deviance: float  # -2 loglik (the response is binary, so the saturated loglik is 0)
    null_deviance: float  # deviance of the model with every probability equal to the weighted tie rate
    score: np.ndarray  # (p,) gradient of loglik at coef (rounding level at convergence)
    information: np.ndarray  # (p, p) negative Hessian of loglik at coef
    nobs: int  # dyads in the likelihood, each counted with its period weight

    @property
    def covariance(self) -> np.ndarray:
        """Inverse of the information matrix (ergm's MPLE "invHess" covariance)."""
        return np.linalg.inv(self.information)

    @property
    def std_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))

    @property
    def aic(self) -> float:
        return self.deviance + 2 * len(self.coef)


# --------------------------------------------------------------------------------------------------
# Kernel: log pseudolikelihood, score and information of many fits at once.


_MIN_PAD = 16  # a block's rows are padded to a power of two, at least this
_LOG_TERMS = 8  # logs per block in the log pseudolikelihood (_pairwise_log_product)
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125  # ln 2 split so that n * _LN2_HI is exact for |n| <= 1022
_LN2_LO = 1.4286068203094172e-06
_EXP_COEF = (
    1.0 / 6227020800.0,
    1.0 / 479001600.0,
    1.0 / 39916800.0,
    1.0 / 3628800.0,
    1.0 / 362880.0,
    1.0 / 40320.0,
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
)


# Every sum over a block's rows is pairwise in a fixed order: row i is added to row i + n/2, the first
# half to its second quarter, ... down to one number (n a power of two; padding rows are zeros). Each
# halving is an elementwise loop, which LLVM vectorises without reordering anything (numba leaves SLP
# vectorisation off, so lane-interleaved accumulators stay scalar: measured 2.7x slower), and no FMA
# contraction happens without fastmath: the same numbers on any x86 or ARM core and any vector width.


@njit(cache=True, error_model="numpy")
def _pairwise_total(tmp, h):
    """Fold tmp[:2h] pairwise (h a power of two) into tmp[0] and return it."""
    while h > 1:
        h //= 2
        for i in range(h):
            tmp[i] = tmp[i] + tmp[i + h]
    return tmp[0]


# The first three halvings are fused into one pass over the rows (n >= 8): out of rows i + k n/8,
# k = 0..7, the pairs (k, k+4), then (k, k+2), then (k, k+1), exactly as three separate halvings
# would add them, without writing and rereading the intermediate halves (measured 15-20 % faster).


@njit(cache=True, error_model="numpy")
def _pairwise_sum(a, n, tmp):
    """sum(a[:n]), pairwise; n a power of two >= 16, tmp scratch of n/8."""
    e = n // 8
    for i in range(e):
        tmp[i] = ((a[i] + a[i + 4 * e]) + (a[i + 2 * e] + a[i + 6 * e])) + (
            (a[i + e] + a[i + 5 * e]) + (a[i + 3 * e] + a[i + 7 * e])
        )
    return _pairwise_total(tmp, e)


@njit(cache=True, error_model="numpy")
def _pairwise_dot(a, b, n, tmp):
    """sum(a[:n] * b[:n]), pairwise."""
    e = n // 8
    for i in range(e):
        p0, p1, p2, p3 = a[i] * b[i], a[i + e] * b[i + e], a[i + 2 * e] * b[i + 2 * e], a[i + 3 * e] * b[i + 3 * e]
        k = i + 4 * e
        p4, p5, p6, p7 = a[k] * b[k], a[k + e] * b[k + e], a[k + 2 * e] * b[k + 2 * e], a[k + 3 * e] * b[k + 3 * e]
        tmp[i] = ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7))
    return _pairwise_total(tmp, e)


@njit(cache=True, error_model="numpy")
def _pairwise_log_product(a, n, tmp):
    """sum(log(a[:n])) for factors in [1, 2]: multiplied pairwise down to _LOG_TERMS products (each of
    at most BLOCK_ROWS / _LOG_TERMS = 256 factors, so below 2**256: no overflow), whose logs are
    added pairwise: _LOG_TERMS logs per block instead of one per row."""
    h = n // 2
    for i in range(h):
        tmp[i] = a[i] * a[i + h]
    while h > _LOG_TERMS:
        h //= 2
        for i in range(h):
            tmp[i] = tmp[i] * tmp[i + h]
    for i in range(h):
        tmp[i] = math.log(tmp[i])
    return _pairwise_total(tmp, h)


@njit(cache=True, parallel=True, error_model="numpy")  # no ZeroDivisionError branch: it stops SIMD
def _evaluate(X, X32, columns, y, offsets, member_ptr, member_fit, member_count, B, n_fits, information):
    """Sums over rows for each fit: [loglik, score (p), packed upper-triangular information (q)]; the
    information is left 0 unless `information` (its q products per row are a third of the work).

    The design's p columns are columns[j] >= 0: X[:, columns[j]] (float64), else X32[:, -columns[j] - 1]
    (float32 columns, read exactly as float64: tergm.engine keeps a period's float32-exact columns so).

    member_ptr (T+1) / member_fit / member_count list, per period, the fits that count it and how often.
    B (n_fits, p) holds each fit's coefficients. Work items are (period, row block); each item writes
    its own partial sums; per fit, a period's blocks are added in block order into the period's sums,
    and the periods' sums into the totals in period order. Within a block,
    rows are transposed so that every per-row step runs over contiguous rows (SIMD); exp(-|eta|) is
    a branch-free Cody-Waite reduction + degree-13 polynomial (~1 ulp) so that it vectorises too.
    """
    p = columns.shape[0]
    q = p * (p + 1) // 2
    width = 1 + p + q
    n_periods = offsets.shape[0] - 1
    # enumerate work items and where each one's partial sums live
    n_items = 0
    for t in range(n_periods):
        if member_ptr[t + 1] > member_ptr[t]:
            n_items += (offsets[t + 1] - offsets[t] + BLOCK_ROWS - 1) // BLOCK_ROWS
    item_period = np.empty(n_items, np.int64)
    item_start = np.empty(n_items, np.int64)
    item_offset = np.empty(n_items + 1, np.int64)
    k = 0
    item_offset[0] = 0
    for t in range(n_periods):
        members = member_ptr[t + 1] - member_ptr[t]
        if members == 0:
            continue
        start = offsets[t]
        while start < offsets[t + 1]:
            item_period[k] = t
            item_start[k] = start
            item_offset[k + 1] = item_offset[k] + members * width
            start += BLOCK_ROWS
            k += 1
    partial = np.zeros(item_offset[n_items], np.float64)

    n_chunks = (n_items + _ITEMS_PER_CHUNK - 1) // _ITEMS_PER_CHUNK
    for chunk in prange(n_chunks):
        first_item = chunk * _ITEMS_PER_CHUNK
        last_item = min(n_items, first_item + _ITEMS_PER_CHUNK)
        # Block scratch, allocated once per chunk and used up to each block's n_pad: a fresh
        # (p, BLOCK_ROWS) array per block costs an mmap and its page faults wherever malloc's mmap
        # threshold is fixed, as Dask fixes it on its workers (measured: 2x slower refits there).
        xt = np.empty((p, BLOCK_ROWS))
        wx = np.empty(BLOCK_ROWS)  # w x_j of the information's column j
        yb = np.empty(BLOCK_ROWS)
        valid = np.empty(BLOCK_ROWS)
        eta = np.empty(BLOCK_ROWS)
        reduced = np.empty(BLOCK_ROWS)
        bits = np.empty(BLOCK_ROWS, np.int64)
        scale = bits.view(np.float64)  # 2**n assembled from its exponent bits
        resid = np.empty(BLOCK_ROWS)
        weight = np.empty(BLOCK_ROWS)
        linear = np.empty(BLOCK_ROWS)
        onepz = np.empty(BLOCK_ROWS)
        tmp = np.empty(BLOCK_ROWS // 2)  # pairwise sums
        for item in range(first_item, last_item):
            _evaluate_block(
                X,
                X32,
                columns,
                y,
                offsets,
                member_ptr,
                member_fit,
                member_count,
                B,
                item_period[item],
                item_start[item],
                item_offset[item],
                partial,
                p,
                width,
                xt,
                wx,
                yb,
                valid,
                eta,
                reduced,
                bits,
                scale,
                resid,
                weight,
                linear,
                onepz,
                tmp,
                information,
            )

    # Each period's blocks are added into the period's own sums, which are then added into the totals in
    # period order: a period's sums do not depend on the periods before it, so a worker holding the
    # period computes them bit for bit (tergm.engine) and the driver adds them in this same order.
    totals = np.zeros((n_fits, width))
    period_sum = np.empty(width)
    item = 0
    while item < n_items:
        t = item_period[item]
        last = item
        while last < n_items and item_period[last] == t:
            last += 1
        m0 = member_ptr[t]
        for m in range(member_ptr[t + 1] - m0):
            period_sum[:] = 0.0
            for block in range(item, last):
                out = item_offset[block] + m * width
                for col in range(width):
                    period_sum[col] += partial[out + col]
            f = member_fit[m0 + m]
            for col in range(width):
                totals[f, col] += period_sum[col]
        item = last
    return totals


@njit(cache=True, inline="always", error_model="numpy")  # compiled into _evaluate's parallel loop, as if written there
def _evaluate_block(
    X,
    X32,
    columns,
    y,
    offsets,
    member_ptr,
    member_fit,
    member_count,
    B,
    t,
    lo,
    base,
    partial,
    p,
    width,
    xt,
    wx,
    yb,
    valid,
    eta,
    reduced,
    bits,
    scale,
    resid,
    weight,
    linear,
    onepz,
    tmp,
    information,
):
    """One work item of _evaluate: the rows lo.. of period t (at most BLOCK_ROWS), for every fit that
    counts the period, into partial[base:]; the arrays after `width` are scratch of BLOCK_ROWS (tmp: half)."""
    n_rows = min(lo + BLOCK_ROWS, offsets[t + 1]) - lo
    n_pad = _MIN_PAD  # a power of two, for the pairwise sums; padding rows are zeros with weight 0
    while n_pad < n_rows:
        n_pad *= 2
    for i in range(n_pad):
        valid[i] = 1.0 if i < n_rows else 0.0
        yb[i] = y[lo + i] if i < n_rows else 0.0
    for j in range(p):
        column = columns[j]
        if column >= 0:
            for i in range(n_rows):
                xt[j, i] = X[lo + i, column]
        else:
            for i in range(n_rows):
                xt[j, i] = X32[lo + i, -column - 1]
        for i in range(n_rows, n_pad):
            xt[j, i] = 0.0
    m0 = member_ptr[t]
    M = member_ptr[t + 1] - m0
    for m in range(M):
        fit = member_fit[m0 + m]
        for i in range(n_pad):
            eta[i] = 0.0
        # eta = ((0 + x_0 b_0) + x_1 b_1) + ..., two columns per pass over eta (the same roundings)
        for j in range(0, p - 1, 2):
            bj, bk = B[fit, j], B[fit, j + 1]
            for i in range(n_pad):
                eta[i] = (eta[i] + xt[j, i] * bj) + xt[j + 1, i] * bk
        if p % 2 == 1:
            bj = B[fit, p - 1]
            for i in range(n_pad):
                eta[i] += xt[p - 1, i] * bj
        for i in range(n_pad):
            x = max(-abs(eta[i]), -708.0)
            n = math.floor(x * _LOG2E + 0.5)
            reduced[i] = (x - n * _LN2_HI) - n * _LN2_LO
            bits[i] = (np.int64(n) + 1023) << 52
        for i in range(n_pad):
            r = reduced[i]
            # Horner written out: a loop over _EXP_COEF gives the same numbers but measured ~10% slower here.
            poly = _EXP_COEF[0]
            poly = poly * r + _EXP_COEF[1]
            poly = poly * r + _EXP_COEF[2]
            poly = poly * r + _EXP_COEF[3]
            poly = poly * r + _EXP_COEF[4]
            poly = poly * r + _EXP_COEF[5]
            poly = poly * r + _EXP_COEF[6]
            poly = poly * r + _EXP_COEF[7]
            poly = poly * r + _EXP_COEF[8]
            poly = poly * r + _EXP_COEF[9]
            poly = poly * r + _EXP_COEF[10]
            poly = poly * r + _EXP_COEF[11]
            poly = poly * r + _EXP_COEF[12]
            poly = poly * r + _EXP_COEF[13]
            z = poly * scale[i]  # exp(-|eta|)
            inv = 1.0 / (1.0 + z)
            e = eta[i]
            prob = inv if e >= 0.0 else z * inv
            v = valid[i]
            # y - p written as (y - 1) + (1 - p) for eta >= 0: 1 - p = z/(1+z) keeps its digits where p rounds to 1.
            resid[i] = v * ((yb[i] - 1.0) + z * inv if e >= 0.0 else yb[i] - prob)
            weight[i] = v * (z * inv * inv)
            linear[i] = v * (yb[i] * e - max(e, 0.0))
            onepz[i] = 1.0 + v * z
        logsum = _pairwise_log_product(onepz, n_pad, tmp)  # sum of log(1 + exp(-|eta|))
        cm = member_count[m0 + m]
        out = base + m * width
        partial[out] = cm * (_pairwise_sum(linear, n_pad, tmp) - logsum)
        for j in range(p):
            partial[out + 1 + j] = cm * _pairwise_dot(xt[j], resid, n_pad, tmp)
        if not information:
            continue
        # information_jl = sum of (w x_j) x_l, w x_j formed once per column and kept for its p - j sums
        # (measured: the information a quarter cheaper than (x_j x_l) w per pair). Each fit forms its
        # own, so a fit's sums never depend on the other fits of its batch.
        idx = 0
        for j in range(p):
            for i in range(n_pad):
                wx[i] = weight[i] * xt[j, i]
            for l in range(j, p):
                partial[out + 1 + p + idx] = cm * _pairwise_dot(wx, xt[l], n_pad, tmp)
                idx += 1


@njit(cache=True)
def _newton_steps(totals, p):
    """Newton step H^{-1} g for each fit by Cholesky; ok[f] is False where H is not positive definite."""
    n = totals.shape[0]
    steps = np.zeros((n, p))
    ok = np.ones(n, np.bool_)
    L = np.empty((p, p))
    for f in range(n):
        idx = 0
        for j in range(p):
            for l in range(j, p):
                L[l, j] = totals[f, 1 + p + idx]
                idx += 1
        for j in range(p):
            s = L[j, j]
            for k in range(j):
                s -= L[j, k] * L[j, k]
            if not s > 0.0:
                ok[f] = False
                break
            L[j, j] = math.sqrt(s)
            for i in range(j + 1, p):
                s = L[i, j]
                for k in range(j):
                    s -= L[i, k] * L[j, k]
                L[i, j] = s / L[j, j]
        if not ok[f]:
            continue
        v = np.empty(p)
        for i in range(p):
            s = totals[f, 1 + i]
            for k in range(i):
                s -= L[i, k] * v[k]
            v[i] = s / L[i, i]
        for i in range(p - 1, -1, -1):
            s = v[i]
            for k in range(i + 1, p):
                s -= L[k, i] * steps[f, k]
            steps[f, i] = s / L[i, i]
    return steps, ok


def _members(counts: np.ndarray, fits: np.ndarray):
    """Per period, the fits (positions in `fits`) with a positive count and that count, as CSR arrays
    in period order, then fit order."""
    period_major = counts[fits].T
    periods, positions = np.nonzero(period_major > 0)
    ptr = np.zeros(counts.shape[1] + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(periods, minlength=counts.shape[1]))
    return ptr, positions.astype(np.int64), period_major[periods, positions].astype(np.float64)


def _float64_columns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_evaluate's (X, X32, columns) for an all-float64 design: every column read from X."""
    return _read_only(X), _read_only(np.empty((X.shape[0], 0), np.float32)), _read_only(np.arange(X.shape[1]))


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view. The design reaches _evaluate writable in the driver and read-only on a Dask
    worker (deserialised from an immutable buffer); numba compiles once per array type, so every
    call passes read-only views and _evaluate is compiled once, and cached once."""
    view = array.view()
    view.flags.writeable = False
    return view


def evaluate(design: Design, counts: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """(b, 1+p+q) sums [loglik, score, packed information] of b fits at their coefficients (b, p)."""
    counts = np.asarray(counts, dtype=np.int64)
    fits = np.arange(counts.shape[0])
    ptr, member_fit, member_count = _members(counts, fits)
    return _evaluate(
        *_float64_columns(design.X),
        _read_only(design.y),
        _read_only(np.asarray(design.offsets, dtype=np.int64)),
        ptr,
        member_fit,
        member_count,
        np.ascontiguousarray(coef, dtype=np.float64),
        counts.shape[0],
        True,
    )


def fit_needs_compiling() -> bool:
    """Whether the first fit in this process will compile numba code rather than load it from the disk
    cache (a first run: tens of seconds, which a progress display should say)."""
    from dyadflow.kernels.cache import needs_compiling

    return needs_compiling(_evaluate, _newton_steps)


def unpack_information(totals_row: np.ndarray, p: int) -> np.ndarray:
    H = np.empty((p, p))
    idx = 1 + p
    for j in range(p):
        for l in range(j, p):
            H[j, l] = H[l, j] = totals_row[idx]
            idx += 1
    return H


@dataclass(frozen=True)
class NewtonResult:
    coef: np.ndarray  # (b, p)
    totals: np.ndarray  # (b, 1+p+q) at coef
    iterations: np.ndarray  # (b,)
    status: np.ndarray  # (b,) CONVERGED / NOT_CONVERGED / SINGULAR
    last_step: np.ndarray  # (b, p) the last Newton step computed (direction of divergence if not converged)


def newton(
    design: Design,
    counts: np.ndarray,
    start: np.ndarray,
    max_iter: int,
    start_totals: np.ndarray | None = None,
    *,
    final_information: bool = True,
) -> NewtonResult:
    """Newton-Raphson with step-halving for b fits that differ in their period counts.

    Each fit stops when its relative Newton step max|d_k|/(1+|b_k|) falls to rounding level
    (<= 1e-13) or stops shrinking once below 1e-6 (the rounding floor of an ill-conditioned fit).
    A fit's arithmetic never depends on which other fits are in the batch.
    final_information: see newton_iterations.
    """
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    run = _design_evaluator(design, counts)
    return newton_iterations(run, counts, start, max_iter, start_totals, final_information=final_information)


def _design_evaluator(design: Design, counts: np.ndarray):
    """newton_iterations' run(fits, coef, information=True) on the in-memory design."""
    X, y = _float64_columns(design.X), _read_only(design.y)
    offsets = _read_only(np.asarray(design.offsets, dtype=np.int64))

    def run(fits: np.ndarray, coef: np.ndarray, information: bool = True) -> np.ndarray:
        ptr, member_pos, member_count = _members(counts, fits)
        coef = np.ascontiguousarray(coef)
        return _evaluate(*X, y, offsets, ptr, member_pos, member_count, coef, len(fits), information)

    return run


# Below this relative step the next one is expected at rounding level (Newton's error squares: steps of
# the study's refits run 3e-2, 1e-4, 1e-8, 1e-15), so without final_information the next evaluation
# skips the information.
_QUASI_STEP = 1e-7
# Without a final evaluation, a last step is taken unconfirmed when the next one is predicted this far
# below the floor (a hundredth of it).
_PREDICTED_STEP = 1e-15


def newton_iterations(
    run,
    counts: np.ndarray,
    start: np.ndarray,
    max_iter: int,
    start_totals: np.ndarray | None = None,
    *,
    final_information: bool = True,
    final_evaluation: bool = True,
) -> NewtonResult:
    """The Newton loop of `newton`, over any evaluator: run(fits, coef, information=True) returns the
    (len(fits), 1+p+q) sums [loglik, score, packed information] of the fits `fits` (positions in
    `counts`) at `coef` (the information 0 when not asked for). The in-memory design and the period
    engine (tergm.engine) share it, so equal sums give equal fits.

    final_information=False (a caller that needs only the estimates): once a fit's step falls below
    _QUASI_STEP, its next point is evaluated without the information, and the step there is taken with
    the previous point's information -- trusted only to say that the fit has converged (a step at
    rounding level either way); otherwise the point is evaluated again in full and the iteration goes
    on as with final_information. The estimates are then those of final_information=True unless the
    two steps fall on either side of the 1e-13 floor; the returned totals of such a fit hold the
    previous point's information.

    final_evaluation=False (with final_information=False: a caller that needs only the estimates, from
    a step at rounding level): a fit whose step is below _QUASI_STEP after a quadratic contraction that
    puts the next one below _PREDICTED_STEP takes it and stops without evaluating the point it reaches,
    which the next evaluation would only confirm (or move by a step at rounding level); its totals are
    the previous point's."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    n = counts.shape[0]
    B = np.array(start, dtype=np.float64, copy=True).reshape(n, -1)
    p = B.shape[1]
    totals = start_totals.copy() if start_totals is not None else run(np.arange(n), B)
    iterations = np.zeros(n, np.int64)
    status = np.full(n, NOT_CONVERGED, np.int64)
    last_step = np.zeros((n, p))
    previous = np.full(n, np.inf)
    stale = np.zeros(n, np.bool_)  # totals holding the previous point's information
    active = np.arange(n)
    for _ in range(max_iter + 1):
        if active.size == 0:
            break
        steps, ok = _newton_steps(totals[active], p)
        relative = np.max(np.abs(steps) / (1.0 + np.abs(B[active])), axis=1)
        recheck = stale[active] & ~(ok & (relative <= _STEP_FLOOR))
        if recheck.any():  # a stale step that does not show convergence: the exact one decides
            fits = active[recheck]
            totals[fits] = run(fits, B[fits])
            stale[fits] = False
            steps[recheck], ok[recheck] = _newton_steps(totals[fits], p)
            relative[recheck] = np.max(np.abs(steps[recheck]) / (1.0 + np.abs(B[fits])), axis=1)
        status[active[~ok]] = SINGULAR
        keep = ok.copy()
        last_step[active[ok]] = steps[ok]
        done = ok & ((relative <= _STEP_FLOOR) | ((previous[active] < 1e-6) & (relative > 0.1 * previous[active])))
        status[active[done]] = CONVERGED
        keep &= ~done & (iterations[active] < max_iter)
        if not final_evaluation:
            # Newton's error squares each step: after a contraction from `previous` to `relative` the next
            # step is about relative**3 / previous**2, and far below the floor this one lands at rounding
            # level: taken without evaluating where it lands
            before = previous[active]  # inf before a fit's first step: no contraction seen yet
            last = keep & (relative <= _QUASI_STEP) & np.isfinite(before)
            last &= relative**3 <= _PREDICTED_STEP * before**2
            if last.any():
                fits = active[last]
                B[fits] += steps[last]
                iterations[fits] += 1
                status[fits] = CONVERGED
                keep &= ~last
        previous[active] = relative
        quick = not final_information and bool(np.all(relative[keep] <= _QUASI_STEP))
        steps = steps[keep]
        active = active[keep]
        if active.size == 0:
            break
        old_ll = totals[active, 0]
        trial = B[active] + steps
        new_totals = run(active, trial, not quick)
        # step-halving: a step that lowers the log pseudolikelihood is shortened until it does not
        tolerance = 1e-10 * (1.0 + np.abs(old_ll))
        worse = ~(new_totals[:, 0] >= old_ll - tolerance)
        halvings = 0
        while worse.any() and halvings < _HALVINGS:
            steps[worse] *= 0.5
            trial[worse] = B[active[worse]] + steps[worse]
            new_totals[worse] = run(active[worse], trial[worse], not quick)
            worse = ~(new_totals[:, 0] >= old_ll - tolerance)
            halvings += 1
        if quick:
            new_totals[:, 1 + p :] = totals[active, 1 + p :]
        stale[active] = quick
        B[active] = trial
        totals[active] = new_totals
        iterations[active] += 1
    return NewtonResult(B, totals, iterations, status, last_step)


# --------------------------------------------------------------------------------------------------
# Input checks and diagnostics


def validate_design(design: Design, *, finite: bool = True) -> None:
    """Raise EstimationError for a malformed design. finite=False leaves the scan for nan/inf to the
    caller (mple: check_identified's Gram matrix reads every row anyway, and a non-finite value shows
    on its diagonal; one pass over the design instead of two)."""
    X, y = design.X, design.y
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype != np.float64 or not X.flags.c_contiguous:
        raise EstimationError("design.X must be a C-contiguous (N, p) float64 array")
    n, p = X.shape
    if p != len(design.names):
        raise EstimationError(f"design.X has {p} columns for {len(design.names)} names {design.names}")
    if p == 0:
        raise EstimationError("the design has no terms")
    if y.shape != (n,) or y.dtype != np.float64:
        raise EstimationError(f"design.y must be a float64 array of shape ({n},), got {y.dtype} {y.shape}")
    offsets = np.asarray(design.offsets)
    if offsets.ndim != 1 or offsets[0] != 0 or offsets[-1] != n or np.any(np.diff(offsets) < 0):
        raise EstimationError(f"design.offsets must rise from 0 to {n} (the row count), got {offsets}")
    if len(offsets) != len(design.periods) + 1:
        raise EstimationError(f"design.offsets has {len(offsets)} entries for {len(design.periods)} periods")
    if not _all_binary(y):
        raise EstimationError("the response must be 0/1; found other values")
    # A nan or inf anywhere makes the sum of all entries non-finite: one contiguous pass (10x faster than
    # per-column sums, which reduce across rows), the exact scan only then.
    if finite and not np.isfinite(X.sum()):
        require_finite(design)


def require_finite(design: Design) -> None:
    """Raise EstimationError naming the terms with nan/inf change statistics, if any."""
    bad = ~np.isfinite(design.X).all(axis=0)
    if bad.any():
        raise EstimationError(f"non-finite change statistics (nan/inf) in terms {_names(design, bad)}")


@njit(cache=True)
def _all_binary(y):
    """Whether every entry is 0 or 1: one pass, no temporaries (((y == 0) | (y == 1)).all() made three
    of the design's length, each an mmap and page faults where malloc's thresholds are fixed). Blocks
    of rows without an early exit inside, so that the test vectorises (measured 3.7x faster)."""
    n = y.shape[0]
    for lo in range(0, n, 4096):
        bad = False
        for i in range(lo, min(n, lo + 4096)):
            bad |= (y[i] != 0.0) & (y[i] != 1.0)
        if bad:
            return False
    return True


def validate_period_weights(design: Design, period_weights) -> np.ndarray:
    T = design.n_periods
    if period_weights is None:
        return np.ones(T, np.int64)
    weights = np.asarray(period_weights)
    if weights.shape != (T,):
        raise EstimationError(f"period_weights must have one entry per period ({T}), got shape {weights.shape}")
    if weights.dtype.kind == "f" and not np.all(weights == np.round(weights)):
        raise EstimationError(f"period_weights must be whole numbers (how often each period counts), got {weights}")
    weights = weights.astype(np.int64)
    if (weights < 0).any() or weights.sum() == 0:
        raise EstimationError(f"period_weights must be >= 0 with at least one positive, got {weights}")
    return weights


def _names(design: Design, mask) -> list[str]:
    return [name for name, flag in zip(design.names, mask) if flag]


def _row_weights(design: Design, weights: np.ndarray) -> np.ndarray:
    return np.repeat(weights.astype(np.float64), np.diff(design.offsets))


def check_identified(design: Design, weights: np.ndarray) -> None:
    """Raise CollinearityError when the weighted change statistics are linearly dependent
    (EstimationError when some are nan or inf, in any period: see validate_design).

    Pivoted QR of the column-normalised design (rows of weight 0 dropped): a column whose residual
    after projecting out the earlier pivots is below 1e-7 of its norm is aliased, glm.fit's criterion.
    The message names each aliased term and the terms it is a combination of.
    """
    from scipy.linalg import qr

    names = design.names
    # The weighted Gram matrix, period by period on views of X (no copy of the design): enough to
    # settle the usual full-rank case; only a suspect design pays for the weighted copy and QR below.
    # Every period's is formed, weighted or not: a nan or inf in its rows shows on its diagonal, so
    # this pass is also validate_design's scan (a finite overflow there costs only the exact scan).
    gram = np.zeros((len(names), len(names)))
    for t, weight in enumerate(weights):
        rows_t = design.X[design.offsets[t] : design.offsets[t + 1]]
        gram_t = rows_t.T @ rows_t
        if not np.isfinite(np.diagonal(gram_t)).all():
            require_finite(design)
        if weight > 0:
            gram += weight * gram_t
    if gram_identified(names, gram):
        return
    row_w = _row_weights(design, weights)
    rows = row_w > 0
    X = design.X[rows] * np.sqrt(row_w[rows])[:, None]
    norms = np.sqrt((X * X).sum(axis=0))
    R_full = _tall_r(X / norms)
    _, R, piv = qr(R_full, pivoting=True, mode="economic")
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > 1e-7 * diag[0]))
    if rank == len(names):
        return
    kept, aliased = piv[:rank], piv[rank:]
    # coefficients expressing each aliased column in the kept ones (in normalised units)
    combo = np.linalg.lstsq(R[:rank, :rank], R[:rank, rank:], rcond=None)[0]
    parts = []
    for a, column in enumerate(aliased):
        scale = norms[column] / norms[kept]
        pieces = [f"{combo[k, a] * scale[k]:+.6g}*{names[kept[k]]}" for k in range(rank) if abs(combo[k, a]) > 1e-8]
        parts.append(f"{names[column]} = {' '.join(pieces) if pieces else '0'}")
    raise CollinearityError(
        "collinear change statistics: terms "
        + str([names[c] for c in aliased])
        + " are linear combinations of other terms ("
        + "; ".join(parts)
        + "); drop one of each group",
        [names[c] for c in aliased] + [names[kept[k]] for k in range(rank) if np.any(np.abs(combo[k]) > 1e-8)],
    )


def gram_identified(names: list[str], gram: np.ndarray) -> bool:
    """True when the (weighted) Gram matrix X'X certainly has full rank; False when only the exact
    check can tell. Raises CollinearityError for terms that are zero on every row."""
    norms = np.sqrt(np.diag(gram))
    zero = norms == 0
    if zero.any():
        terms = [name for name, flag in zip(names, zero) if flag]
        raise CollinearityError(
            f"terms {terms} are zero for every dyad in the likelihood: their coefficients are not identified "
            "(drop them)",
            terms,
        )
    return _gram_well_conditioned(gram / np.outer(norms, norms))


def _gram_well_conditioned(G: np.ndarray) -> bool:
    """Fast path: pivoted Cholesky of the Gram matrix of unit-norm columns (unit diagonal). Its pivots
    are the squared QR residual norms, resolved to ~1e-15; all above 1e-8 means rank is certainly full
    (QR's 1e-7 threshold is 1e-14 here), otherwise the exact pivoted QR decides."""
    G = G.copy()
    p = G.shape[0]
    remaining = list(range(p))
    while remaining:
        k = max(remaining, key=lambda c: G[c, c])
        pivot = G[k, k]
        if not pivot > 1e-8:
            return False
        remaining.remove(k)
        for c in remaining:
            for d in remaining:
                G[c, d] -= G[c, k] * G[k, d] / pivot
    return True


def _tall_r(X: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """R factor of a tall matrix by QR of row chunks (memory stays at one chunk)."""
    R = np.zeros((0, X.shape[1]))
    for lo in range(0, X.shape[0], chunk):
        R = np.linalg.qr(np.vstack([R, X[lo : lo + chunk]]), mode="r")
    return R


def diverging_terms(names: list[str], step: np.ndarray) -> list[str]:
    """Terms along which the (non-converging) Newton iteration keeps moving."""
    size = np.abs(step)
    if not np.isfinite(size).all() or size.max() == 0:
        return list(names)
    return [name for name, s in zip(names, size) if s >= 0.05 * size.max()]


# --------------------------------------------------------------------------------------------------
# Public estimators


def mple(design: Design, period_weights=None, start=None, max_iter: int = 50) -> MpleResult:
    """Maximum pseudolikelihood estimate: pooled logit of ties on change statistics, Newton-Raphson
    from `start` (default 0) to machine precision.

    period_weights: how often each period counts (integers; default 1 each).
    Raises CollinearityError (linearly dependent terms) or SeparationError (coefficients diverge).
    """
    validate_design(design, finite=False)
    weights = validate_period_weights(design, period_weights)
    check_identified(design, weights)  # also the scan for nan/inf
    start = _start(start, len(design.names))
    result = newton(design, weights[None, :], start[None, :], max_iter)
    if result.status[0] != CONVERGED:
        raise separation_error(design, weights, result)
    # weighted row and tie counts, whole numbers, so exact in any order: per period, without a
    # row-weight vector of the design's length
    ties = [design.y[design.offsets[t] : design.offsets[t + 1]].sum() for t in range(design.n_periods)]
    return mple_result(design.names, result, float(weights @ np.diff(design.offsets)), float(weights @ ties))


def mple_coef(design: Design, start=None, max_iter: int = 50) -> np.ndarray:
    """The MPLE's coefficients alone, every period counted once, for a caller that needs nothing else
    (a sensitivity refit): `mple`'s Newton iterates, at about two passes over the design fewer.

    - Identification is read off the information at `start`, which the first Newton step evaluates
      anyway: X'WX with positive weights W has the null space of X'X, so where its normalised
      pivots show full rank with room to spare (gram_identified) check_identified's Gram pass is not
      needed; otherwise (or with a nan or inf in it) check_identified decides, as in `mple`.
    - The information is left out where the step is at rounding level anyway, and the last step is
      taken without evaluating the point it reaches (newton_iterations' final_information and
      final_evaluation): the estimate is `mple`'s bit for bit, or at most a step at rounding level
      (below 1e-13 relative) from it.
    Raises as `mple` does.
    """
    validate_design(design, finite=False)
    weights = np.ones(design.n_periods, np.int64)
    p = len(design.names)
    start = _start(start, p)
    counts = weights[None, :]
    run = _design_evaluator(design, counts)
    totals = run(np.arange(1), start[None, :])
    try:
        identified = bool(np.isfinite(totals).all()) and gram_identified(design.names, unpack_information(totals[0], p))
    except CollinearityError:  # a column that is 0 on every row, which check_identified names
        identified = False
    if not identified:
        check_identified(design, weights)
    result = newton_iterations(
        run, counts, start[None, :], max_iter, totals, final_information=False, final_evaluation=False
    )
    if result.status[0] != CONVERGED:
        raise separation_error(design, weights, result)
    return result.coef[0]


def _start(start, p: int) -> np.ndarray:
    start = np.zeros(p) if start is None else np.asarray(start, dtype=np.float64)
    if start.shape != (p,) or not np.isfinite(start).all():
        raise EstimationError(f"start must be {p} finite numbers, got {start}")
    return start


def separation_error(design: Design, weights: np.ndarray, result: NewtonResult) -> SeparationError:
    """The error of a full-sample fit (the first of `result`) whose Newton iteration did not converge."""
    terms = diverging_terms(design.names, result.last_step[0])
    eta_extreme = _extreme_fitted(design, weights, result.coef[0])
    return SeparationError(
        f"the pseudolikelihood has no finite maximum: after {result.iterations[0]} Newton steps the "
        f"coefficients of {terms} keep growing and {eta_extreme} dyads have fitted probabilities "
        "numerically 0 or 1 (separation). Drop or recode these terms.",
        terms,
    )


def mple_result(names: list[str], result: NewtonResult, total: float, ties: float) -> MpleResult:
    """The MpleResult of a converged full-sample fit (the first of `result`) on `total` weighted rows
    with `ties` weighted ties."""
    coef, totals = result.coef[0], result.totals[0]
    p = len(names)
    rate = ties / total
    null_deviance = 0.0
    if 0 < rate < 1:
        null_deviance = -2 * (ties * math.log(rate) + (total - ties) * math.log1p(-rate))
    return MpleResult(
        names=list(names),
        coef=coef,
        iterations=int(result.iterations[0]),
        converged=True,
        loglik=float(totals[0]),
        deviance=float(-2 * totals[0]),
        null_deviance=null_deviance,
        score=totals[1 : 1 + p].copy(),
        information=unpack_information(totals, p),
        nobs=int(total),
    )


def _extreme_fitted(design: Design, weights: np.ndarray, coef: np.ndarray) -> int:
    rows = _row_weights(design, weights) > 0
    eta = design.X[rows] @ coef
    return int(np.sum(np.abs(eta) > 30))


# --------------------------------------------------------------------------------------------------
# R's glm.fit, step for step (binomial family, logit link, default control)

_GLM_EPSILON = 1e-8
_GLM_MAXIT = 25
_GLM_QR_TOL = min(1e-7, _GLM_EPSILON / 1000)  # glm.fit's tolerance for Cdqrls
_DBL_EPSILON = np.finfo(np.float64).eps
_THRESH = 30.0


def _r_linkinv(eta):
    tmp = np.where(
        eta < -_THRESH, _DBL_EPSILON, np.where(eta > _THRESH, 1 / _DBL_EPSILON, np.exp(np.clip(eta, -_THRESH, _THRESH)))
    )
    return tmp / (1 + tmp)


def _r_mu_eta(eta):
    opexp = 1 + np.exp(np.clip(eta, -_THRESH, _THRESH))
    return np.where(
        (eta > _THRESH) | (eta < -_THRESH), _DBL_EPSILON, np.exp(np.clip(eta, -_THRESH, _THRESH)) / (opexp * opexp)
    )


def _r_deviance(y, mu, weights):
    with np.errstate(divide="ignore"):
        return float(np.sum(2 * weights * np.where(y == 1, np.log(1 / mu), np.log(1 / (1 - mu)))))


@dataclass(frozen=True)
class GlmResult:
    coef: np.ndarray  # (p,) nan where aliased
    iterations: int
    converged: bool  # glm.fit's deviance criterion was met within maxit
    deviance: float
    fitted_boundary: bool  # fitted probabilities numerically 0 or 1 occurred (glm.fit's warning)
    last_step: np.ndarray  # (p,) change of coef in the last iteration


def compressed_rows(design: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ergmMPLE's compression: per period, the distinct (response, change statistics) rows and their
    counts. Returns (representative row index, count, period) for every distinct row."""
    index, count, period = [], [], []
    for t in range(design.n_periods):
        rows = design.period_rows(t)
        block = np.column_stack([design.y[rows], design.X[rows]])
        _, first, counts = np.unique(block, axis=0, return_index=True, return_counts=True)
        index.append(first + rows.start)
        count.append(counts)
        period.append(np.full(len(first), t))
    return np.concatenate(index), np.concatenate(count).astype(np.float64), np.concatenate(period)


def glm_compatible_fit(design: Design, period_weights=None, compressed=None) -> GlmResult:
    """What btergm's `glm.fit(y, x, weights, family = binomial)` returns for these period weights.

    btergm hands glm.fit the compressed design (distinct rows with counts as prior weights), stacking
    a period's rows once per draw. glm.fit starts from mu = (w*y + 0.5)/(w + 1), runs IRLS (= Newton
    for the logit link) and stops at the first iterate whose deviance changed by less than 1e-8
    relative. Where the MLE exists this equals `mple` to ~1e-8; under separation it is an arbitrary
    iterate, which this reproduces (R's clamping of eta beyond +-30 included).
    """
    from scipy.linalg import qr, solve_triangular

    weights = validate_period_weights(design, period_weights)
    index, count, period = compressed if compressed is not None else compressed_rows(design)
    draws = weights[period]
    keep = draws > 0
    rep = np.repeat(np.arange(len(index))[keep], draws[keep])  # a period drawn twice is stacked twice
    X = design.X[index[rep]]
    y = design.y[index[rep]]
    w = count[rep]
    p = X.shape[1]
    mu = (w * y + 0.5) / (w + 1)
    eta = np.log(mu / (1 - mu))
    mu = _r_linkinv(eta)
    devold = _r_deviance(y, mu, w)
    coef = np.zeros(p)
    coefold = np.full(p, np.nan)
    converged = False
    iterations = 0
    for iterations in range(1, _GLM_MAXIT + 1):  # noqa: B007  (read after the loop: glm.fit's count)
        mu_eta = _r_mu_eta(eta)
        good = (w > 0) & (mu_eta != 0)
        z = eta[good] + (y[good] - mu[good]) / mu_eta[good]
        sw = np.sqrt(w[good] * mu_eta[good] ** 2 / (mu[good] * (1 - mu[good])))
        A = X[good] * sw[:, None]
        norms = np.sqrt((A * A).sum(axis=0))
        norms[norms == 0] = 1.0
        Q, R, piv = qr(A / norms, pivoting=True, mode="economic")
        diag = np.abs(np.diag(R))
        rank = int(np.sum(diag > _GLM_QR_TOL * max(diag[0], 1e-300)))
        coef = np.full(p, np.nan)
        solved = solve_triangular(R[:rank, :rank], Q[:, :rank].T @ (z * sw))
        coef[piv[:rank]] = solved / norms[piv[:rank]]
        eta = X @ np.nan_to_num(coef)
        mu = _r_linkinv(eta)
        dev = _r_deviance(y, mu, w)
        if abs(dev - devold) / (abs(dev) + 0.1) < _GLM_EPSILON:
            converged = True
            break
        devold = dev
        coefold = coef
    eps10 = 10 * _DBL_EPSILON
    return GlmResult(
        coef=coef,
        iterations=iterations,
        converged=converged,
        deviance=dev,
        fitted_boundary=bool(np.any(mu > 1 - eps10) or np.any(mu < eps10)),
        last_step=np.nan_to_num(coef - coefold),
    )
