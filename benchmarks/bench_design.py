"""MPLE design building at the target size: 230 nodes x 31 periods, one seeded random network per
period (density ~0.1, ties persisting between periods), a static dyadic covariate.

Times `tergm.design.build_design` end to end (parse + validate, per period: one
dyad_change_matrix call, covariate fancy indexing, memory alignment; stacking) after a warm-up
call that loads numba's cache, and prints wall time (best of --repeat) and peak memory.

    python benchmarks/bench_design.py [--nodes 230] [--periods 31] [--directed] [--repeat 3]
        [--formula "y ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.1, fixed=TRUE) + edgecov(dist) + memory"]

The default formula is the brief's model.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import build_design


def synthetic_panel(nodes: int, periods: int, directed: bool, density: float, seed: int = 7) -> Panel:
    rng = np.random.default_rng(seed)
    networks = []
    adj = (rng.random((nodes, nodes)) < density).astype(np.uint8)
    for _ in range(periods):
        flip = rng.random((nodes, nodes)) < 0.1
        adj = np.where(flip, (rng.random((nodes, nodes)) < density), adj).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1)
            adj = adj + adj.T
        np.fill_diagonal(adj, 0)
        networks.append(adj.copy())
    dist = rng.gamma(2.0, 2.0, size=(nodes, nodes))
    return Panel.from_arrays(
        networks,
        directed=directed,
        dyad_covariates={"dist": (dist + dist.T) / 2},
        node_attributes={"polity": rng.normal(size=nodes)},
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--periods", type=int, default=31)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--directed", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formula", default=None)
    args = parser.parse_args()

    if args.formula is None:
        degree_terms = (
            "gwidegree(0.1, fixed=TRUE) + gwodegree(0.1, fixed=TRUE)" if args.directed else "gwdegree(0.1, fixed=TRUE)"
        )
        gwesp = " + gwesp(0.5, fixed=TRUE)"
        args.formula = f"y ~ edges{gwesp} + {degree_terms} + edgecov(dist) + memory(type='stability')"

    panel = synthetic_panel(args.nodes, args.periods, args.directed, args.density)
    for _ in panel:  # materialise periods so the timing is of the design, not of the panel
        pass

    start = time.perf_counter()
    build_design(args.formula, panel)
    warmup = time.perf_counter() - start

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        design = build_design(args.formula, panel)
        times.append(time.perf_counter() - start)

    tracemalloc.start()
    build_design(args.formula, panel)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"formula: {args.formula}")
    print(
        f"panel: {args.nodes} nodes x {args.periods} periods, {'directed' if args.directed else 'undirected'}; "
        f"design {design.X.shape[0]:,} rows x {design.X.shape[1]} columns ({design.X.nbytes / 2**20:.1f} MiB)"
    )
    print(f"warm-up (numba cache load / compile): {warmup:.3f} s")
    print(f"build_design: best {min(times):.3f} s, median {np.median(times):.3f} s over {args.repeat}")
    print(f"peak traced allocation during one build: {traced_peak / 2**20:.1f} MiB")
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
