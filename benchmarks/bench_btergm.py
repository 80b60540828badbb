"""End-to-end btergm benchmark at the reference study's size.

Builds a seeded 230-node x 31-period panel (persistent ties, triadic closure, a continuous dyadic
covariate) and runs the btergm pipeline stage by stage, as `tergm.btergm` does:

    changestats  build_design: change statistics of every period + covariate columns
    fit          mple: the pooled MPLE (Newton from 0)
    bootstrap    R replicates in batches of 25, warm-started at the MPLE (tergm.bootstrap.fit_replicates)
    engine       the same fit + replicates through the period engine (tergm.engine.fit_periods: the
                 periods answered by a thread each, added in period order); checked bit-identical

and also `btergm()` in one call. Each is repeated (--repeats) and reported as the median wall and CPU
time (CPU = all threads of this process: on 2 cores, CPU > wall means both were used). The baseline,
in the same run, refits replicates one by one from scratch (Newton from 0, what btergm does with
glm.fit); it is timed on --baseline-replicates of them and extrapolated to R. Peak RSS is the
process's maximum resident set size. Everything is compiled (or loaded from numba's cache) on a
3-period panel before any timing.

    .venv/bin/python benchmarks/bench_btergm.py [--directed] [--nodes 230] [--periods 31] [--R 100]
        [--repeats 3] [--baseline-replicates 5] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from dyadflow.storage.panel import Panel
from dyadflow.tergm import btergm, mple
from dyadflow.tergm.bootstrap import draw_resamples, fit_replicates
from dyadflow.tergm.design import build_design
from dyadflow.tergm.engine import LocalPeriods, fit_periods

BATCH_SIZE = 25  # btergm()'s default batch of replicates


def synthetic_panel(nodes: int, periods: int, directed: bool, seed: int = 20240601) -> Panel:
    """Ties persist (95 %), new ties form more often between partners' partners and near neighbours."""
    rng = np.random.default_rng(seed)
    position = rng.normal(size=(nodes, 2))
    distance = np.sqrt(((position[:, None, :] - position[None, :, :]) ** 2).sum(-1))
    covariate = np.log1p(rng.gamma(2.0, 2.0, size=(nodes, nodes)))
    if not directed:
        covariate = (covariate + covariate.T) / 2
    networks = []
    adj = np.zeros((nodes, nodes), dtype=np.uint8)
    for _ in range(periods):
        shared = (adj.astype(np.float64) @ adj) > 0
        logit = -5.0 + 1.2 * shared - 0.8 * distance + 0.3 * covariate
        new = rng.random((nodes, nodes)) < 1 / (1 + np.exp(-logit))
        keep = (adj == 1) & (rng.random((nodes, nodes)) < 0.95)
        adj = (keep | new).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1)
            adj = adj | adj.T
        np.fill_diagonal(adj, 0)
        networks.append(adj.copy())
    return Panel.from_arrays(
        networks,
        directed=directed,
        period_names=[str(1990 + t) for t in range(periods)],
        dyad_covariates={"log_trade": covariate},
    )


def model_formula(directed: bool) -> str:
    degree_terms = (
        "gwidegree(0.1, fixed=TRUE) + gwodegree(0.1, fixed=TRUE)" if directed else "gwdegree(0.1, fixed=TRUE)"
    )
    return f"y ~ edges + gwesp(0.5, fixed=TRUE) + {degree_terms} + edgecov(log_trade) + memory(type='stability')"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    """(result, wall seconds, CPU seconds of every thread of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bootstrap(design, coef, resamples):
    """The replicate stage of btergm(): fixed batches, fitted one after another."""
    return np.vstack(
        [
            fit_replicates(design, coef, resamples[lo : lo + BATCH_SIZE]).coef
            for lo in range(0, len(resamples), BATCH_SIZE)
        ]
    )


def engine_fit(design, R: int):
    """MPLE and replicates through the period engine (tergm.engine.fit_periods), the periods
    answered by a thread per core (each period's kernel call runs one numba thread)."""
    with ThreadPoolExecutor(numba.get_num_threads()) as pool:
        fit = fit_periods(LocalPeriods.from_design(design, pool.map), R=R, seed=12345, batch_size=BATCH_SIZE)
    return fit.mple.coef, fit.replicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directed", action="store_true")
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--periods", type=int, default=31)
    parser.add_argument("--R", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-replicates", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: numba's)")
    args = parser.parse_args()
    if args.threads is not None:
        numba.set_num_threads(args.threads)

    formula = model_formula(args.directed)
    panel = synthetic_panel(args.nodes, args.periods, args.directed)
    for _ in panel:  # materialise the panel outside the timings
        pass
    small = panel.select(range(3))
    _, compile_s, _ = timed(lambda: btergm(formula, small, R=2, seed=1))  # compile or load every kernel

    stages: dict[str, list[tuple[float, float]]] = {
        "changestats": [],
        "fit": [],
        "bootstrap": [],
        "btergm()": [],
        "engine fit+R": [],
    }
    resamples = draw_resamples(args.periods - 1, args.R, 12345)  # memory(): the first period only lags
    for _ in range(args.repeats):
        design, wall, cpu = timed(lambda: build_design(formula, panel))
        stages["changestats"].append((wall, cpu))
        full, wall, cpu = timed(lambda: mple(design))
        stages["fit"].append((wall, cpu))
        replicates, wall, cpu = timed(lambda: bootstrap(design, full.coef, resamples))
        stages["bootstrap"].append((wall, cpu))
        fit, wall, cpu = timed(lambda: btergm(formula, panel, R=args.R, seed=12345))
        stages["btergm()"].append((wall, cpu))
        (engine_coef, engine_replicates), wall, cpu = timed(lambda: engine_fit(design, args.R))
        stages["engine fit+R"].append((wall, cpu))
    if not (np.array_equal(engine_coef, full.coef) and np.array_equal(engine_replicates, replicates)):
        raise AssertionError("the period engine and the in-memory estimator disagree")
    if not np.array_equal(fit.replicates, replicates):
        raise AssertionError("btergm() and the staged pipeline disagree")

    baseline = draw_resamples(design.n_periods, args.baseline_replicates, 7)
    wall, cpu = time.perf_counter(), time.process_time()
    for draw in baseline:
        mple(design, period_weights=np.bincount(draw, minlength=design.n_periods))
    scale = args.R / args.baseline_replicates
    base_wall, base_cpu = (time.perf_counter() - wall) * scale, (time.process_time() - cpu) * scale

    kind = "directed" if args.directed else "undirected"
    print(
        f"panel: {args.nodes} nodes x {args.periods} periods, {kind}; {design.X.shape[0]:,} dyad-rows in the "
        f"likelihood, p = {design.X.shape[1]}; numba threads: {numba.get_num_threads()}"
    )
    print(f"formula: {formula}")
    print(f"first call on 3 periods (compile / load cache): {compile_s:.2f} s")
    print(f"median of {args.repeats}            wall s    CPU s   (each run)")
    for name, runs in stages.items():
        walls, cpus = zip(*runs)
        detail = " ".join(f"{w:.2f}" for w in walls)
        print(f"  {name:14s}        {statistics.median(walls):7.3f}  {statistics.median(cpus):7.3f}   ({detail})")
    print(f"  (MPLE: {full.iterations} Newton iterations; replicates: R = {args.R} in batches of {BATCH_SIZE})")
    bootstrap_wall = statistics.median(w for w, _ in stages["bootstrap"])
    fit_wall = statistics.median(w for w, _ in stages["fit"])
    rows = design.X.shape[0]
    print(
        f"  fit + R = {args.R}: {fit_wall + bootstrap_wall:.3f} s wall; bootstrap "
        f"{bootstrap_wall / (rows * args.R) * 1e9:.1f} ns per row and replicate; period engine bit-identical"
    )
    print(
        f"baseline: R={args.R} refits one by one from scratch (extrapolated from {args.baseline_replicates}): "
        f"{base_wall:.2f} s wall, {base_cpu:.2f} s CPU -> batched bootstrap x{base_wall / bootstrap_wall:.1f} faster"
    )
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    fit.summary()  # prints itself, as R does


if __name__ == "__main__":
    main()
