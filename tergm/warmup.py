"""Compile the kernels a run needs after its change statistics -- the MPLE's (fit, bootstrap,
refits) and the chains' and goodness-of-fit counts' -- into numba's disk cache, in a process of its
own (`python -m dyadflow.tergm.warmup [--chain fast|generic]`).

On a first run numba compiles for about a minute, one function after another. The run's driver
(flows/workflow.py) starts this process right after ingest, so that while the driver compiles and
computes the change statistics, this one compiles what the later stages call, on the other core;
those stages then load the kernels from the cache. The kernels compiled here depend on array types
only, not on the formula or the data (the per-formula drivers of the design and of the summary
statistics are left to the driver), so a tiny synthetic panel with an edges-only model calls every
one of them with the argument types of a real run; tests/test_warmup.py checks that a run after this
process compiles none of them.
"""

from __future__ import annotations

import argparse

import numpy as np

CHAINS = ("fast", "generic")


def compile_kernels(chain: str | None = None) -> None:
    """Call the MPLE (and, with `chain`, one TNT chain of that kind and the gof counts) once on a
    tiny panel: numba compiles each into its disk cache (or loads it from there)."""
    from dyadflow.storage.panel import Panel
    from dyadflow.tergm import Fit, simulation
    from dyadflow.tergm.design import build_design
    from dyadflow.tergm.estimate import mple
    from dyadflow.tergm.gof import gof

    if chain is not None and chain not in CHAINS:
        raise ValueError(f"chain must be one of {CHAINS}, got {chain!r}")
    rng = np.random.default_rng(0)
    networks = []
    for _ in range(3):
        upper = np.triu((rng.random((8, 8)) < 0.3).astype(np.uint8), 1)
        networks.append(upper | upper.T)
    panel = Panel.from_arrays(networks, directed=False)
    design = build_design("y ~ edges", panel)
    fitted = mple(design)
    if chain is None:
        return
    fit = Fit.without_replicates(fitted, design, "y ~ edges")
    fast_path = simulation.FAST_PATH
    simulation.FAST_PATH = chain == "fast"
    try:
        gof(fit, nsim=2, burnin=10, interval=10, seed=1, panel=panel)
    finally:
        simulation.FAST_PATH = fast_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", choices=CHAINS, help="also compile a TNT chain of this kind and the gof counts")
    args = parser.parse_args(argv)
    compile_kernels(args.chain)


if __name__ == "__main__":
    main()
