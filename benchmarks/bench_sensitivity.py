"""Sensitivity benchmark (issue 11, item 4): the rewiring batch of the study, 9 levels x 100 refits of
the demo model on the 230 x 31 demo panel, the refits plain Dask tasks on a local cluster, a few to a
task (as the `run` flow maps them, without checkpoints), wall time and the peak memory of all processes.

Baseline in the same run: refits that rebuild every period's change statistics (design_with_networks
without observed_networks, what a refit did before the incremental update), timed one by one in this
process on the same jobs, against the incremental refits timed the same way; both give the same
estimates, checked bit for bit.

    .venv/bin/python benchmarks/bench_sensitivity.py [--nodes 230 --periods 31 --simulations 100 --workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dyadflow import storage
from dyadflow.cluster import ClusterSpec, dask_client
from dyadflow.flows.cli import DEMO_FORMULA
from dyadflow.flows.fanout import map_on_dask
from dyadflow.storage.demo import write_demo_dataset
from dyadflow.tergm.api import btergm
from dyadflow.tergm.design import design_with_networks
from dyadflow.tergm.estimate import mple_coef
from dyadflow.tergm.sensitivity import RewiredRefit, rewiring_jobs, rewiring_sensitivity

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import PeakMemory

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def full_rebuild(refit: RewiredRefit, job) -> np.ndarray:
    """One refit as before the incremental update: every period's change statistics recomputed."""
    panel, model, observed = refit.observed()
    _, networks = refit.networks(job)
    design = design_with_networks(model, observed, panel.with_networks(networks))
    return mple_coef(design, start=refit.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--periods", type=int, default=31)
    parser.add_argument("--simulations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=18, help="refits timed one by one, each way (2 per level)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        write_demo_dataset(work / "data", nodes=args.nodes, periods=args.periods, seed=20240601)
        storage.ingest(work / "data" / "dataset.toml", work / "store")
        panel = storage.open_panel(work / "store")
        fit = btergm(DEMO_FORMULA, panel, R=1)
        print(f"demo panel {args.nodes} x {args.periods}, {fit.nobs:,} dyad-years, {len(fit.names)} terms")

        refit = RewiredRefit(panel, DEMO_FORMULA, "period", fit.mple.coef)
        jobs = rewiring_jobs(20210101, LEVELS, args.simulations)
        sample = jobs[:: max(1, len(jobs) // args.baseline)][: args.baseline]
        refit(sample[0]), full_rebuild(refit, sample[0])  # compiled and the observed design built
        times = {}
        for name, run in (("incremental", refit), ("full rebuild", lambda job: full_rebuild(refit, job))):
            start = time.perf_counter()
            estimates = [run(job) for job in sample]
            times[name] = (time.perf_counter() - start) / len(sample)
            if name == "incremental":
                expected = estimates
            elif not all(np.array_equal(a, b) for a, b in zip(expected, estimates)):
                raise AssertionError("the incremental refits differ from the full rebuilds")
        for name, seconds in times.items():
            print(f"one refit, {name}, in this process: {seconds:.3f} s (mean of {len(sample)})")

        spec = ClusterSpec.from_mapping({"workers": args.workers})
        # sampled every half second: the batch's memory (each worker's observed and working designs) is
        # allocated once, and a finer poll, a /proc scan each time, takes a core's percent from the refits
        with PeakMemory(interval=0.5) as peak, dask_client(spec) as client:
            start = time.perf_counter()
            table, estimates = rewiring_sensitivity(
                DEMO_FORMULA,
                panel,
                fit.coef,
                levels=LEVELS,
                simulations=args.simulations,
                seed=20210101,
                map_jobs=lambda fn, items: map_on_dask(client, fn, list(items), label="refit"),
            )
            wall = time.perf_counter() - start
        failed = int(np.isnan(estimates).any(axis=2).sum())
        print(
            f"sensitivity batch: {len(jobs)} refits on {args.workers} workers in {wall:.1f} s "
            f"({wall / len(jobs) * args.workers:.3f} worker-s per refit; {failed} failed), "
            f"peak memory of all processes {peak.total / 1e9:.2f} GB"
        )


if __name__ == "__main__":
    main()
