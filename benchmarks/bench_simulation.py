"""Simulation benchmarks (issue 9).

1. proposals/s per core of the TNT sampler for the study's model (edges + gwesp + gwdegree + a dyadic
   covariate + memory) on one 230-node period of the seeded synthetic panel of bench_btergm.py, at the
   model's MPLE; baseline in the same run: an edges-only chain on the same period (ergm's edges-only TNT
   runs about 10 M/s).
2. GOF with nsim = 100 for every period of the demo panel (storage.demo, 230 nodes x 31 periods, the CLI
   demo's formula), run on --threads threads (the chains release the GIL), default interval/burnin.
3. MCMC-MLE of faux.mesa.high ~ edges + nodematch("Grade") + gwesp(0.5, fixed = TRUE) against ergm's
   recorded 71.6 s (tests/data/reference/results/ergm_crosssectional.json, same machine class not known).

Everything is compiled (or loaded from numba's cache) before timing. Peak RSS = the process's maximum.

    .venv/bin/python benchmarks/bench_simulation.py [--threads 2] [--skip-gof] [--skip-mle]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_btergm import model_formula, synthetic_panel  # noqa: E402

from dyadflow.tergm.api import btergm, ergm  # noqa: E402
from dyadflow.tergm.simulation import simulate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proposals_per_second(panel, formula, period, proposals):
    fit = btergm(formula, panel, R=1)
    simulate(fit, periods=[period], nsim=2, burnin=100, interval=100, seed=1)  # compile
    start = time.perf_counter()
    sims = simulate(fit, periods=[period], nsim=100, burnin=0, interval=proposals // 100, seed=1)
    wall = time.perf_counter() - start
    draws = sims[period]
    return draws.proposals / wall, draws.acceptance_rate, wall, int(np.diff(draws.tie_ptr).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--proposals", type=int, default=2_000_000)
    parser.add_argument("--skip-gof", action="store_true")
    parser.add_argument("--skip-mle", action="store_true")
    args = parser.parse_args()

    panel = synthetic_panel(230, 31, directed=False)
    period = panel.period_names[-1]
    rate, acc, wall, edges = proposals_per_second(panel, model_formula(False), period, args.proposals)
    print(f"[sampler] study model, 230 nodes, {edges} ties: {rate / 1e6:.3f} M proposals/s "
          f"(acceptance {acc:.3f}, {args.proposals} proposals in {wall:.2f} s, 1 core)")
    rate0, acc0, wall0, edges0 = proposals_per_second(panel, "y ~ edges", period, args.proposals)
    print(f"[sampler] baseline edges only: {rate0 / 1e6:.3f} M proposals/s (acceptance {acc0:.3f}, {edges0} ties)")

    if not args.skip_gof:
        from dyadflow import storage
        from dyadflow.flows.cli import DEMO_FORMULA
        from dyadflow.storage.demo import write_demo_dataset
        from dyadflow.tergm.gof import gof

        with tempfile.TemporaryDirectory() as tmp:
            write_demo_dataset(Path(tmp) / "data")
            storage.ingest(Path(tmp) / "data" / "dataset.toml", Path(tmp) / "data" / "store")
            demo = storage.open_panel(Path(tmp) / "data" / "store")
            fit = btergm(DEMO_FORMULA, demo, R=1)
            gof(fit, periods=[demo.period_names[0]], nsim=2, seed=1)  # compile
            pool = ThreadPoolExecutor(args.threads)
            start = time.perf_counter()
            result = gof(fit, nsim=100, seed=1, map_tasks=lambda fn, items: list(pool.map(fn, items)))
            wall = time.perf_counter() - start
            start = time.perf_counter()
            sims_only = simulate(fit, nsim=100, seed=1, map_tasks=lambda fn, items: list(pool.map(fn, items)))
            wall_sim = time.perf_counter() - start
            pool.shutdown()
            proposals = sum(d.proposals for d in sims_only)
            print(f"[gof] demo panel {len(demo)} periods x 230 nodes, nsim=100, {args.threads} threads: "
                  f"{wall:.1f} s total; simulation alone {wall_sim:.1f} s ({proposals / 1e6:.1f} M proposals); "
                  f"{len(result.table)} table rows; warnings: {len(result.warnings())}")

    if not args.skip_mle:
        reference = json.loads((REPO / "tests/data/reference/results/ergm_crosssectional.json").read_text())
        ergm_sec = reference["fauxmesa_edges_nmGrade_gwesp05_MLE"]["elapsed_sec"]
        ref = REPO / "tests/data/reference/ergm"
        adj = pd.read_csv(ref / "faux.mesa.high_adjacency.csv.gz", index_col=0).to_numpy(np.uint8)
        grade = pd.read_csv(ref / "faux.mesa.high_nodes.csv")["Grade"].to_numpy()
        formula = 'y ~ edges + nodematch("Grade") + gwesp(0.5, fixed = TRUE)'
        start = time.perf_counter()
        fit = ergm(formula, adj, directed=False, node_attributes={"Grade": grade}, estimate="MLE", mcmc={"seed": 1})
        wall = time.perf_counter() - start
        print(f"[mcmle] faux.mesa.high: {wall:.1f} s ({fit.iterations} iterations, converged={fit.converged}); "
              f"ergm recorded {ergm_sec:.1f} s: {ergm_sec / wall:.1f}x")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
