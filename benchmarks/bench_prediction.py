"""Out-of-sample prediction benchmark (issue 12): on the demo panel (storage.demo, 230 states x 31
years, undirected), fit three models on the first 30 periods and predict every dyad of the last one
(MPLE tie probabilities, ROC/PR curves and areas, the random baseline): wall time and peak memory.

Models: network-only (edges + gwesp + gwdegree), logit (edges + covariates only), full (both), as the CLI
demo's formula. No memory term: the demo's ties persist once signed, so memory separates perfectly.
The design kernels are compiled (or loaded from numba's cache) by a warm-up on a 3-period slice first.

    .venv/bin/python benchmarks/bench_prediction.py [--R 0] [--simulate 0]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from dyadflow import storage
from dyadflow.storage.demo import write_demo_dataset
from dyadflow.tergm.prediction import validate

COVARIATES = "nodecov('polyarchy') + absdiff('polyarchy') + edgecov(contiguity) + edgecov(log_trade) + edgecov(mlat)"
MODELS = {
    "network": "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE)",
    "logit": f"cmaa ~ edges + {COVARIATES}",
    "full": f"cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE) + {COVARIATES}",
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--R", type=int, default=0, help="bootstrap replicates of each training fit")
    parser.add_argument("--simulate", type=int, default=0, help="simulated networks for the leak-free prediction")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_demo_dataset(data)
        storage.ingest(data / "dataset.toml", data / "store")
        panel = storage.open_panel(data / "store")
        names = panel.period_names
        print(f"demo panel: {len(panel)} periods ({names[0]}..{names[-1]}), {panel[-1].n} nodes in the last")
        warm = panel.select(range(3))
        validate(MODELS, warm, holdout_last=1)  # compile the kernels outside the timing
        rss_before = peak_rss_mib()
        start, cpu = time.perf_counter(), time.process_time()
        result = validate(MODELS, panel, train=names[:30], test=names[30:], R=args.R, simulate=args.simulate)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(result.summary())
        print(
            f"\n[prediction] 3 models, fit on {len(result.train)} periods, predict {result.test} "
            f"({len(result.predictions)} prediction rows), R={args.R}, simulate={args.simulate}: "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {peak_rss_mib():.0f} MiB (before: {rss_before:.0f} MiB)"
        )
        start = time.perf_counter()
        result.write(Path(tmp) / "results")  # includes the training fits' coefficient table
        print(f"[prediction] write (with the coefficient tables): {time.perf_counter() - start:.2f} s wall")


if __name__ == "__main__":
    main()
