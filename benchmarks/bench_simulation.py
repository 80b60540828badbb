"""Simulation benchmarks (issue 9).

1. proposals/s per core of the TNT sampler for the study's model (edges + gwesp + gwdegree + a dyadic
   covariate + memory) on one 230-node period of the seeded synthetic panel of bench_btergm.py, at the
   model's MPLE, per CPU second in the chain's loop, and per CPU and wall second with the chain's setup; baselines in the same run: the same chain on the
   generic kernels (the sampler before the fast path) and an edges-only chain on the same period
   (ergm's edges-only TNT runs about 10 M/s).
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

import numba
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_btergm import model_formula, synthetic_panel

from dyadflow.tergm import simulation
from dyadflow.tergm.api import btergm, ergm
from dyadflow.tergm.simulation import simulate

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proposals_per_second(fit, period, proposals, fast=True):
    """(proposals per wall second, per CPU second, per CPU second in the chain's loop, acceptance rate,
    wall s, mean ties) of one chain of `proposals`. CPU time (time.process_time: this process, one
    thread here) is the per-core figure that survives a loaded machine; wall time is quoted beside it.
    The loop's rate leaves out the chain's fixed setup (the period's inputs, observed statistics,
    two-path counts): the CPU time of a chain of proposals / 10 is subtracted from this one's."""
    simulation.FAST_PATH = fast
    try:
        simulate(fit, periods=[period], nsim=2, burnin=100, interval=100, seed=1)  # compile
        short = time.process_time()
        simulate(fit, periods=[period], nsim=100, burnin=0, interval=proposals // 1000, seed=1)
        short = time.process_time() - short
        start, cpu = time.perf_counter(), time.process_time()
        sims = simulate(fit, periods=[period], nsim=100, burnin=0, interval=proposals // 100, seed=1)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        simulation.FAST_PATH = True
    draws = sims[period]
    return (
        draws.proposals / wall,
        draws.proposals / cpu,
        0.9 * draws.proposals / max(cpu - short, 1e-9),
        draws.acceptance_rate,
        wall,
        int(np.diff(draws.tie_ptr).mean()),
    )


def cpu_seconds() -> float:
    """CPU seconds of every thread of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--proposals", type=int, default=2_000_000)
    parser.add_argument("--skip-gof", action="store_true")
    parser.add_argument("--skip-mle", action="store_true")
    args = parser.parse_args()

    panel = synthetic_panel(230, 31, directed=False)
    period = panel.period_names[-1]
    study = btergm(model_formula(False), panel, R=1)
    edges_only = btergm("y ~ edges", panel, R=1)
    rows = [
        ("study model, fast path", study, True, args.proposals),
        ("study model, generic kernels (before)", study, False, args.proposals // 10),
        ("edges only, fast path", edges_only, True, args.proposals),
    ]
    for label, fit, fast, proposals in rows:
        rate, cpu_rate, loop_rate, acc, wall, edges = proposals_per_second(fit, period, proposals, fast)
        print(
            f"[sampler] {label}, 230 nodes, {edges} ties: {loop_rate / 1e6:.3f} M proposals per CPU second "
            f"in the chain's loop; {cpu_rate / 1e6:.3f} M/CPU s, {rate / 1e6:.3f} M/s wall with the chain's "
            f"setup (acceptance {acc:.3f}, {proposals} proposals, 1 core)"
        )

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
            numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
            pool = ThreadPoolExecutor(args.threads)
            start, cpu = time.perf_counter(), cpu_seconds()
            result = gof(fit, nsim=100, seed=1, map_tasks=lambda fn, items: list(pool.map(fn, items)))
            wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
            start, cpu_sim = time.perf_counter(), cpu_seconds()
            sims_only = simulate(fit, nsim=100, seed=1, map_tasks=lambda fn, items: list(pool.map(fn, items)))
            wall_sim, cpu_sim = time.perf_counter() - start, cpu_seconds() - cpu_sim
            pool.shutdown()
            proposals = sum(d.proposals for d in sims_only)
            print(
                f"[gof] demo panel {len(demo)} periods x 230 nodes, nsim=100, {args.threads} threads: "
                f"{wall:.1f} s wall, {cpu:.1f} CPU s in total; simulation alone {wall_sim:.1f} s wall, "
                f"{cpu_sim:.1f} CPU s ({proposals / 1e6:.1f} M proposals); {len(result.table)} table rows; "
                f"warnings: {len(result.warnings())}"
            )

    if not args.skip_mle:
        reference = json.loads((REPO / "tests/data/reference/results/ergm_crosssectional.json").read_text())
        ergm_sec = reference["fauxmesa_edges_nmGrade_gwesp05_MLE"]["elapsed_sec"]
        ref = REPO / "tests/data/reference/ergm"
        adj = pd.read_csv(ref / "faux.mesa.high_adjacency.csv.gz", index_col=0).to_numpy(np.uint8)
        grade = pd.read_csv(ref / "faux.mesa.high_nodes.csv")["Grade"].to_numpy()
        formula = 'y ~ edges + nodematch("Grade") + gwesp(0.5, fixed = TRUE)'
        ergm(formula, adj, directed=False, node_attributes={"Grade": grade})  # compile the MPLE path
        start, cpu = time.perf_counter(), cpu_seconds()
        fit = ergm(formula, adj, directed=False, node_attributes={"Grade": grade}, estimate="MLE", mcmc={"seed": 1})
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        print(
            f"[mcmle] faux.mesa.high: {wall:.1f} s wall, {cpu:.1f} CPU s ({fit.iterations} iterations, "
            f"converged={fit.converged}); ergm recorded {ergm_sec:.1f} s: {ergm_sec / wall:.1f}x by wall, "
            f"{ergm_sec / cpu:.1f}x by CPU time"
        )
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
