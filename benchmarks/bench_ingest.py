"""Ingest benchmark: the demo customs-agreement panel from CSV and from Parquet.

Prints, per input format: wall time and peak RSS of the ingest (a fresh process each, so imports are
included in RSS but not in the time), the number of dyad-years stored and the store's size on disk.

    .venv/bin/python benchmarks/bench_ingest.py                      # 230 states x 31 years, csv + parquet
    .venv/bin/python benchmarks/bench_ingest.py --nodes 2000 --periods 50 --formats parquet
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
from dyadflow import storage
start = time.perf_counter()
report = storage.ingest(sys.argv[1], sys.argv[2])
wall = time.perf_counter() - start
manifest = storage.read_manifest(sys.argv[2])
n = sum(manifest["period_nodes"].values())
print(json.dumps({"wall_s": wall, "rewritten": report.rewritten,
                  "node_years": n, "periods": len(manifest["periods"]),
                  "ordered_dyad_years": sum(k * (k - 1) for k in manifest["period_nodes"].values())}))
"""


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _measured(args: list[str]) -> tuple[dict, float]:
    process = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=ROOT, stdout=subprocess.PIPE)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"ingest failed with exit code {process.returncode}")
    return json.loads(output), usage.ru_maxrss / 1024  # KiB -> MiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--periods", type=int, default=31)
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--workdir", default=None, help="where to write inputs and stores (default: a temp dir)")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from dyadflow.storage.demo import write_demo_dataset

    workdir = Path(options.workdir or tempfile.mkdtemp(prefix="bench_ingest_"))
    print(f"demo panel: {options.nodes} nodes x {options.periods} periods, in {workdir}")
    for fmt in options.formats.split(","):
        start = time.perf_counter()
        spec = write_demo_dataset(workdir / f"inputs_{fmt}", nodes=options.nodes, periods=options.periods, fmt=fmt)
        generated = time.perf_counter() - start
        store = workdir / f"store_{fmt}"
        result, peak_mib = _measured([str(spec), str(store)])
        again, _ = _measured([str(spec), str(store)])
        print(
            f"{fmt:8s} generate {generated:6.1f} s | ingest {result['wall_s']:6.2f} s, peak RSS {peak_mib:7.0f} MiB | "
            f"{result['ordered_dyad_years']:,} ordered dyad-years, {result['node_years']:,} node-years | "
            f"inputs {_size(spec.parent) / 2**20:7.1f} MiB, store {_size(store) / 2**20:7.1f} MiB | "
            f"re-ingest unchanged {again['wall_s']:.3f} s (rewritten={again['rewritten']})"
        )


if __name__ == "__main__":
    main()
