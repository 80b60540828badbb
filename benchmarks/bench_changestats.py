"""Change-statistic throughput at the target size: 230 nodes x 31 periods.

One seeded random network per period (density ~0.1), directed and undirected; times
`kernels.dispatch.dyad_change_matrix` for the main model of each kind, summed over all periods,
after a warm-up call (compilation / cache load is reported separately). Building the network
state (`network_state`, three BLAS products per period) is timed on its own line.

    undirected: edges + gwdegree(0.1) [+ gwesp(0.5)]
    directed:   edges + gwidegree(0.1) + gwodegree(0.1) [+ gwesp(0.5) (OTP)]

gwesp (kernels.dispatch.CODES['gwesp'], par [decay, type]).

    python benchmarks/bench_changestats.py [--nodes 230] [--periods 31] [--density 0.1] [--repeat 5]
"""

from __future__ import annotations

import argparse
import resource
import time

import numba
import numpy as np

from dyadflow.kernels import triadic
from dyadflow.kernels.dispatch import CODES, dyad_change_matrix
from dyadflow.kernels.network import network_state


def random_networks(nodes: int, periods: int, density: float, directed: bool, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    networks = []
    for _ in range(periods):
        adj = (rng.random((nodes, nodes)) < density).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1)
            adj = adj | adj.T
        np.fill_diagonal(adj, 0)
        networks.append(adj)
    return networks


def model_terms(directed: bool) -> list[tuple[str, int, list[float], int]]:
    """(label, code, par, columns) of the benchmark model."""
    if directed:
        terms = [
            ("edges", CODES["edges"], [], 1),
            ("gwidegree(0.1)", CODES["gwidegree"], [0.1], 1),
            ("gwodegree(0.1)", CODES["gwodegree"], [0.1], 1),
        ]
    else:
        terms = [("edges", CODES["edges"], [], 1), ("gwdegree(0.1)", CODES["gwdegree"], [0.1], 1)]
    otp = float(triadic.SP_OTP)  # undirected networks ignore the type
    terms.append(("gwesp(0.5)", CODES["gwesp"], [0.5, otp], 1))
    return terms


def pack(terms):
    codes = np.array([code for _, code, _, _ in terms], dtype=np.int64)
    params = np.array([p for _, _, par, _ in terms for p in par], dtype=np.float64)
    par_offsets = np.cumsum([0] + [len(par) for _, _, par, _ in terms]).astype(np.int64)
    col_offsets = np.cumsum([0] + [width for *_, width in terms]).astype(np.int64)
    return codes, par_offsets, params, col_offsets


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench(nodes: int, periods: int, density: float, directed: bool, repeat: int) -> None:
    kind = "directed" if directed else "undirected"
    networks = random_networks(nodes, periods, density, directed, seed=20240601 + directed)
    terms = model_terms(directed)
    packed = pack(terms)

    network_state(networks[0], directed)  # compiles, or loads numba's disk cache
    start = time.perf_counter()
    states = [network_state(adj, directed) for adj in networks]
    state_s = time.perf_counter() - start

    start = time.perf_counter()
    dyad_change_matrix(*packed, states[0])  # compiles, or loads numba's disk cache
    warmup_s = time.perf_counter() - start

    # Best of `repeat` (the machine may be shared); CPU time summed over threads shows the work
    # itself, wall time what a user waits.
    best, best_cpu = np.inf, np.inf
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        rows = sum(dyad_change_matrix(*packed, net).shape[0] for net in states)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)

    labels = " + ".join(label for label, *_ in terms)
    mean_density = np.mean([adj.sum() / (nodes * (nodes - 1)) for adj in networks])
    print(f"{kind}: {labels}")
    print(f"  {periods} periods x {nodes} nodes, density {mean_density:.3f}, {rows:,} rows")
    print(f"  network_state, all periods:       {state_s * 1e3:8.1f} ms")
    print(f"  first call (compile/cache load):  {warmup_s * 1e3:8.1f} ms")
    print(
        f"  dyad_change_matrix, all periods:  {best * 1e3:8.1f} ms wall (best of {repeat}), "
        f"{best / rows * 1e9:.1f} ns/row; {best_cpu * 1e3:.1f} ms CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--periods", type=int, default=31)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for directed in (False, True):
        bench(args.nodes, args.periods, args.density, directed, args.repeat)
    print(f"numba {numba.__version__}, {numba.get_num_threads()} threads, layer {numba.threading_layer()}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
