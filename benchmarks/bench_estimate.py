"""MPLE and bootstrap benchmark at the target size: 31 periods x 230*229 ordered dyads (1.63M rows).

A seeded synthetic design with p = 5 (edges, a gwesp-like shared-partner count, a gwdegree-like
value, a continuous dyadic covariate, memory +-1 with persistence; density ~7 %). Times the full
fit and R = 100 bootstrap replicates (batched, warm-started), and as a same-run baseline the
replicates refitted one by one from scratch with the same Newton (a handful timed, extrapolated).
Prints wall time per stage and peak memory.

    python benchmarks/bench_estimate.py [--nodes 230] [--periods 31] [--R 100] [--baseline 5]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from dyadflow.tergm.api import fit_design
from dyadflow.tergm.bootstrap import draw_resamples, fit_replicates, resample_counts
from dyadflow.tergm.design import Design
from dyadflow.tergm.estimate import mple


def synthetic_design(nodes: int, periods: int, seed: int = 20240601) -> Design:
    rng = np.random.default_rng(seed)
    n_dyads = nodes * (nodes - 1)
    tails, heads = np.nonzero(~np.eye(nodes, dtype=bool))
    true = np.array([-2.2, 0.45, -0.8, 0.35, 1.1])  # edges, shared partners, degree, covariate, memory
    covariate = rng.normal(size=n_dyads)
    previous = rng.random(n_dyads) < 0.07
    X_blocks, y_blocks = [], []
    for _ in range(periods):
        shared = rng.poisson(0.4 + 2.5 * previous)  # partners' partners are more common around ties
        degree = np.exp(-0.1 * rng.poisson(12, size=n_dyads)) + 0.1 * rng.random(n_dyads)
        memory = np.where(previous, 1.0, -1.0)
        X = np.column_stack([np.ones(n_dyads), shared, degree, covariate, memory])
        y = rng.random(n_dyads) < 1 / (1 + np.exp(-(X @ true)))
        X_blocks.append(X)
        y_blocks.append(y)
        previous = y
    return Design(
        names=["edges", "gwesp.fixed.0.5", "gwdeg.fixed.0.5", "edgecov.distance", "edgecov.memory[[i]]"],
        X=np.ascontiguousarray(np.vstack(X_blocks)),
        y=np.concatenate(y_blocks).astype(np.float64),
        offsets=np.arange(periods + 1, dtype=np.int64) * n_dyads,
        periods=[str(1990 + t) for t in range(periods)],
        dyads=np.tile(np.column_stack([tails, heads]), (periods, 1)).astype(np.int64),
        nodes=[np.arange(nodes).astype(str)] * periods,
        directed=True,
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--periods", type=int, default=31)
    parser.add_argument("--R", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=5, help="replicates refitted from scratch (extrapolated)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    design = synthetic_design(args.nodes, args.periods)
    print(
        f"design: {design.X.shape[0]:,} rows x {design.X.shape[1]} terms, density {design.y.mean():.3f}, "
        f"built in {time.perf_counter() - t0:.2f} s, peak {peak_mb():.0f} MB"
    )

    # warm the numba caches so timings measure the work, not compilation
    small = synthetic_design(20, 3, seed=1)
    fit_design(small, R=4, seed=1)

    t0, c0 = time.perf_counter(), time.process_time()
    fit = mple(design)
    t_fit = time.perf_counter() - t0
    print(
        f"mple: {t_fit:.3f} s wall, {time.process_time() - c0:.3f} s CPU (all threads; wall is inflated "
        f"when the cores are shared) ({fit.iterations} Newton steps), peak {peak_mb():.0f} MB"
    )

    resamples = draw_resamples(design.n_periods, args.R, seed=12345)
    t0, c0 = time.perf_counter(), time.process_time()
    batched = [fit_replicates(design, fit.coef, resamples[lo : lo + 25]) for lo in range(0, args.R, 25)]
    t_boot = time.perf_counter() - t0
    iterations = np.concatenate([b.iterations for b in batched])
    print(
        f"{args.R} replicates (batches of 25, warm start): {t_boot:.3f} s wall, "
        f"{time.process_time() - c0:.3f} s CPU, Newton steps "
        f"{iterations.min()}-{iterations.max()}, peak {peak_mb():.0f} MB"
    )
    print(f"fit + replicates: {t_fit + t_boot:.3f} s")

    t0 = time.perf_counter()
    counts = resample_counts(resamples[: args.baseline], design.n_periods)
    for r in range(args.baseline):
        mple(design, period_weights=counts[r])
    per = (time.perf_counter() - t0) / args.baseline
    print(
        f"baseline (one by one from scratch, {args.baseline} timed): {per:.3f} s per replicate, "
        f"{per * args.R:.1f} s extrapolated for {args.R}; speed-up {per * args.R / t_boot:.1f}x"
    )
    print(f"peak memory: {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
