"""Scale benchmark (issue 11): the demo panel from raw files to bootstrap results through the period
engine on a local Dask cluster (flows.periods.DaskPeriods, tergm.engine.fit_periods).

Stages, each timed (wall):
    ingest       raw files (storage.demo, written untimed) -> the Zarr store
    changestats  every worker builds the change statistics of its periods from the store
    fit          the MPLE (Newton from 0; each iteration asks every period for its sums)
    bootstrap    R period-bootstrap replicates, warm-started, in batches of 25
Peak memory: the largest sum of the resident memory of the driver and all its worker processes,
sampled every 0.1 s, and each worker's largest resident memory.

--workers takes several counts: one row per count (the scaling table), on the same store.
--in-memory adds the one-process path in the same run (build_design + fit_design in the driver),
timed and checked bit for bit against every engine row (at 2,000 x 50 it needs ~15 GB and ~20 min).
--directed reads the same files as a directed panel (each agreement a tie from state_a to state_b)
and fits edges, gwesp (OTP), gwidegree, gwodegree and the covariates.

    .venv/bin/python benchmarks/bench_scale.py --nodes 2000 --periods 50 --workers 2 [--spill]
    .venv/bin/python benchmarks/bench_scale.py --nodes 300 --periods 20 --workers 1 2 4 --in-memory
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from dyadflow import storage
from dyadflow.cluster import ClusterSpec, dask_client
from dyadflow.flows.periods import DaskPeriods
from dyadflow.storage.demo import write_demo_dataset
from dyadflow.tergm.api import fit_design
from dyadflow.tergm.design import build_design, parse_model
from dyadflow.tergm.engine import fit_periods, mple_periods

UNDIRECTED = (
    "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE) + nodecov('polyarchy')"
    " + absdiff('polyarchy') + edgecov(contiguity) + edgecov(log_trade) + edgecov(mlat)"
)
DIRECTED = (
    "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwidegree(0.5, fixed=TRUE) + gwodegree(0.5, fixed=TRUE)"
    " + nodecov('polyarchy') + absdiff('polyarchy') + edgecov(contiguity) + edgecov(log_trade) + edgecov(mlat)"
)


class PeakMemory:
    """Samples the resident memory of this process and its children every `interval` seconds."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.total, self.per_child = interval, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if process.pid != me.pid:
                    self.per_child[process.pid] = max(self.per_child.get(process.pid, 0), rss)
            self.total = max(self.total, total)
            self._stop.wait(self.interval)


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def engine_run(store: Path, formula: str, workers: int, R: int, spill: Path | None) -> dict:
    model = parse_model(formula, storage.open_panel(store))  # the panel (and what it loaded) is let go
    row: dict = {"workers": workers}
    cluster = ClusterSpec.from_mapping({"workers": workers, "threads_per_worker": 1})
    with PeakMemory() as memory, dask_client(cluster) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter()
        with DaskPeriods(client, store, model, spill=spill) as periods:
            summaries, row["changestats"] = timed(periods.summaries)
            row["rows"] = sum(s.rows for s in summaries)
            estimate, row["fit"] = timed(lambda: mple_periods(periods))
            fit, row["fit+bootstrap"] = timed(lambda: fit_periods(periods, R=R, seed=12345))
        row["bootstrap"] = row["fit+bootstrap"] - row["fit"]  # fit_periods refits the MPLE first
        row["total"] = time.perf_counter() - start - row["fit"]
    row["peak_gb"] = memory.total / 1e9
    row["worker_peak_gb"] = max(memory.per_child.values(), default=0) / 1e9
    row["coef"], row["replicates"] = fit.mple.coef, fit.replicates
    row["iterations"] = fit.mple.iterations
    assert np.array_equal(estimate.coef, fit.mple.coef)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--periods", type=int, default=50)
    parser.add_argument("--R", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--directed", action="store_true")
    parser.add_argument("--spill", action="store_true", help="spill each period's rows to Zarr on the workers")
    parser.add_argument("--in-memory", action="store_true", help="also run the one-process path (baseline)")
    parser.add_argument("--work", type=Path, default=None, help="directory for the raw files and the store")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    data, store = work / "data", work / ("store_directed" if args.directed else "store")
    if not (data / "dataset.toml").exists():
        write_demo_dataset(data, nodes=args.nodes, periods=args.periods, seed=20240601)
    spec = data / "dataset.toml"
    if args.directed:
        directed_spec = data / "dataset_directed.toml"
        directed_spec.write_text(spec.read_text().replace("directed = false", "directed = true"))
        spec = directed_spec
    formula = DIRECTED if args.directed else UNDIRECTED
    # in a process of its own, as `dyadflow ingest` runs: the engine's rows then measure the fit alone
    ingest = "import sys; from dyadflow import storage; storage.ingest(sys.argv[1], sys.argv[2])"
    with PeakMemory() as memory:
        _, ingest_s = timed(lambda: subprocess.run([sys.executable, "-c", ingest, str(spec), str(store)], check=True))
    print(f"panel: demo, {args.nodes} nodes x {args.periods} periods, {'directed' if args.directed else 'undirected'}")
    print(f"formula: {formula}")
    print(f"ingest: {ingest_s:.1f} s wall, peak {memory.total / 1e9:.2f} GB (raw files -> store {store})")

    rows = []
    for workers in args.workers:
        spill = work / f"spill-{workers}" if args.spill else None
        rows.append(engine_run(store, formula, workers, args.R, spill))
        print(f"  ({workers} workers done: {rows[-1]['total']:.1f} s)", flush=True)
    baseline = None
    if args.in_memory:
        with PeakMemory() as memory:
            panel = storage.open_panel(store)
            design, design_s = timed(lambda: build_design(formula, panel))
            fit, fit_s = timed(lambda: fit_design(design, R=args.R, seed=12345))
        baseline = {"changestats": design_s, "fit+bootstrap": fit_s, "peak_gb": memory.total / 1e9}
        for row in rows:
            same = np.array_equal(row["coef"], fit.mple.coef) and np.array_equal(row["replicates"], fit.replicates)
            if not same:
                raise AssertionError(f"{row['workers']} workers and the in-memory fit disagree")
        del design

    print(f"{rows[0]['rows']:,} dyad-years in the likelihood; MPLE: {rows[0]['iterations']} Newton steps; R = {args.R}")
    print("workers  changestats    fit   bootstrap   total (s)   peak, all processes   peak per worker")
    for row in rows:
        print(
            f"{row['workers']:7d}  {row['changestats']:11.1f}  {row['fit']:5.1f}  {row['bootstrap']:10.1f}  "
            f"{row['total']:10.1f}   {row['peak_gb']:17.2f} GB   {row['worker_peak_gb']:12.2f} GB"
        )
    if baseline is not None:
        print(
            f"in memory, one process: changestats {baseline['changestats']:.1f} s, fit + bootstrap "
            f"{baseline['fit+bootstrap']:.1f} s, total {baseline['changestats'] + baseline['fit+bootstrap']:.1f} s, "
            f"peak {baseline['peak_gb']:.2f} GB; every engine row bit-identical to it"
        )
    agree = all(np.array_equal(r["coef"], rows[0]["coef"]) and np.array_equal(r["replicates"], rows[0]["replicates"])
                for r in rows)  # fmt: skip
    print(f"worker counts agree bit for bit: {agree}")


if __name__ == "__main__":
    main()
