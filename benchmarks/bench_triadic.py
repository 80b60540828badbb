"""Per-period cost of the triangle / shared-partner kernels on a target-sized network.

One period = every dyad of a random 230-node network of density 0.1 (directed: 52,670 dyads,
undirected: 26,335), as the MPLE design builder computes it through
kernels.dispatch.dyad_change_matrix. Times are measured after compilation (best and median of
repeats); peak memory is the process's maximum resident set size.

    .venv/bin/python benchmarks/bench_triadic.py [--nodes 230] [--density 0.1] [--repeats 15]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numba
import numpy as np

from dyadflow.kernels import triadic
from dyadflow.kernels.dispatch import CODES, dyad_change_matrix
from dyadflow.kernels.network import network_state

TERMS = {
    "gwesp(0.5)": [(CODES["gwesp"], [0.5, triadic.SP_OTP], 1)],
    "gwdsp(0.5)": [(CODES["gwdsp"], [0.5, triadic.SP_OTP], 1)],
    "triangle": [(CODES["triangle"], [], 1)],
    "esp(0:3)": [(CODES["esp"], [triadic.SP_OTP, 0, 1, 2, 3], 4)],
}


def design_arrays(terms):
    codes, params, par_offsets, col_offsets = [], [], [0], [0]
    for code, par, ncols in terms:
        codes.append(code)
        params.extend(par)
        par_offsets.append(len(params))
        col_offsets.append(col_offsets[-1] + ncols)
    return (
        np.array(codes, dtype=np.int64),
        np.array(par_offsets, dtype=np.int64),
        np.array(params, dtype=np.float64),
        np.array(col_offsets, dtype=np.int64),
    )


def time_call(fn, repeats):
    fn()  # compile / warm caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=230)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    rng = np.random.default_rng(20240611)
    print(f"numba threads: {numba.get_num_threads()}; n = {args.nodes}, density = {args.density}")
    for directed in (True, False):
        adj = (rng.random((args.nodes, args.nodes)) < args.density).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1)
            adj = adj | adj.T
        np.fill_diagonal(adj, 0)
        best, median = time_call(lambda: network_state(adj, directed), args.repeats)
        kind = "directed" if directed else "undirected"
        print(f"{kind:10s} network_state (path counts): best {best * 1e3:7.2f} ms, median {median * 1e3:7.2f} ms")
        net = network_state(adj, directed)
        for label, terms in TERMS.items():
            arrays = design_arrays(terms)
            best, median = time_call(lambda: dyad_change_matrix(*arrays, net), args.repeats)
            print(f"{kind:10s} {label:12s} per period: best {best * 1e3:7.2f} ms, median {median * 1e3:7.2f} ms")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
