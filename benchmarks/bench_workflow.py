"""Workflow benchmark on the paper-scale demo panel (230 states x 31 years, 1.6M ordered dyad-years).

Part 1 — `dyadflow demo`'s stages: runs the `run` flow (Prefect local mode, LocalCluster) on the demo
spec and prints the wall time of each stage from run.json, Prefect's start-up (the first flow run's
overhead: its temporary API server) and the cluster's start-up separately.
Part 2 — the sensitivity batch (levels x simulations refits, fresh change statistics each) run
directly on a LocalCluster with 1 and with 2 workers (no checkpoints), and the speed-up.

Prints wall times and peak memory (this process and, separately, its finished children: the workers).

    python benchmarks/bench_workflow.py [--directory bench-workflow] [--nodes 230] [--periods 31]
        [--R 100] [--simulations 100] [--scaling-simulations 20] [--skip-demo]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import dyadflow.flows  # noqa: F401  (Prefect environment defaults)


def peak_mib(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, default=Path("bench-workflow"))
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--periods", type=int, default=31)
    parser.add_argument("--R", type=int, default=100)
    parser.add_argument("--simulations", type=int, default=100, help="refits per level in the demo run")
    parser.add_argument("--scaling-simulations", type=int, default=100, help="refits per level, 1 vs 2 workers")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()

    from dyadflow import storage
    from dyadflow.cluster import ClusterSpec, dask_client
    from dyadflow.flows import stages
    from dyadflow.flows.cli import DEMO_FORMULA, write_demo_spec
    from dyadflow.flows.spec import SensitivitySpec, load_run_spec
    from dyadflow.storage.demo import write_demo_dataset

    directory = args.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    dataset = write_demo_dataset(directory / "data", nodes=args.nodes, periods=args.periods, seed=20240601)
    print(f"demo data written: {time.perf_counter() - start:.1f} s")
    spec_path = write_demo_spec(directory, dataset, R=args.R, simulations=args.simulations, workers=args.workers)
    spec = load_run_spec(spec_path)
    shutil.rmtree(spec.output, ignore_errors=True)  # no checkpoints from an earlier run
    shutil.rmtree(spec.store, ignore_errors=True)  # nor cached change statistics

    if not args.skip_demo:
        from prefect import flow

        @flow(name="noop")
        def noop():
            return None

        start = time.perf_counter()
        noop()
        prefect_startup = time.perf_counter() - start

        from dyadflow.flows.workflow import run_flow

        start = time.perf_counter()
        run_flow(str(spec_path))
        total = time.perf_counter() - start
        record = json.loads((spec.output / "run.json").read_text())
        timings = record["timings_s"]
        print(
            f"\n== dyadflow demo: {args.nodes} nodes x {args.periods} periods, {record['design']['rows']:,} "
            f"dyad-rows in the likelihood (undirected), p = {len(record['design']['terms'])}; "
            f"{args.workers} workers"
        )
        print(f"Prefect start-up (first flow run, temporary server) : {prefect_startup:7.2f} s")
        for stage, seconds in timings.items():
            if not stage.startswith("changestats_periods"):
                print(f"  {stage:<22}: {seconds:7.2f} s")
        boot = timings["changestats"] + timings["fit"] + timings["cluster_startup"] + timings["bootstrap"]
        print(
            f"changestats + fit + cluster start + R={args.R} bootstrap : {boot:7.2f} s "
            f"(+ ingest {timings['ingest']:.2f} s, + Prefect start-up {prefect_startup:.2f} s)"
        )
        print(f"run flow total (ingest..report)                        : {total:7.2f} s")
        if "sensitivity" in timings:
            refits = 9 * args.simulations
            print(
                f"sensitivity {refits} refits on {args.workers} workers             : {timings['sensitivity']:7.2f} s "
                f"({timings['sensitivity'] / refits * 1000:.0f} ms per refit)"
            )

    panel = storage.open_panel(spec.store) if spec.store.exists() else None
    if panel is None:
        storage.ingest(spec.dataset, spec.store)
        panel = storage.open_panel(spec.store)
    design = stages.build_design(DEMO_FORMULA, panel)
    baseline = stages.fit(design).coef
    sensitivity = SensitivitySpec(
        levels=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
        simulations=args.scaling_simulations,
        mode="period",
        seed=20210101,
    )
    refits = 9 * args.scaling_simulations
    print(f"\n== sensitivity batch: {refits} refits, period rewiring")
    walls, results = {}, {}
    for workers in (1, 2):
        with dask_client(ClusterSpec(workers=workers)) as client:
            # Warm-up (not timed): every worker imports dyadflow and loads the numba kernels once.
            warm = SensitivitySpec(levels=(0.5,), simulations=2 * workers, mode="period", seed=1)
            stages.sensitivity(client, DEMO_FORMULA, panel, design.names, baseline, warm, data_hash="warm")
            start = time.perf_counter()
            table, estimates = stages.sensitivity(
                client, DEMO_FORMULA, panel, design.names, baseline, sensitivity, data_hash="bench"
            )
            walls[workers] = time.perf_counter() - start
            results[workers] = estimates
        print(f"  {workers} worker(s): {walls[workers]:7.2f} s  ({walls[workers] / refits * 1000:.0f} ms per refit)")
    import numpy as np

    identical = np.array_equal(results[1], results[2], equal_nan=True)
    print(f"  speed-up 1 -> 2 workers: x{walls[1] / walls[2]:.2f}; estimates identical: {identical}")
    print(
        f"\npeak RSS: this process {peak_mib():.0f} MiB; largest finished child (a worker) "
        f"{peak_mib(resource.RUSAGE_CHILDREN):.0f} MiB"
    )


if __name__ == "__main__":
    main()
