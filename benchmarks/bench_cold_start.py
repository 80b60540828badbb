"""Cold start: how long the README demo's stages wait for numba, and how fast they run once compiled.

Each measurement runs in its own Python process with NUMBA_CACHE_DIR pointing at a fresh, empty
directory. numba then looks for (and writes) every `cache=True` function's cache there only -- its
user-provided cache locator comes before the in-tree one, so cache files left in the kernels'
__pycache__ folders are never read (the child checks that every dispatcher's cache path is under the
fresh directory, and that it compiled rather than loaded from the disk cache). Stages, in the
demo's order, on the demo formula (flows.cli.DEMO_FORMULA) and a small demo panel:

    import        import dyadflow.tergm (kernels are compiled lazily, on first call)
    changestats   tergm.build_design: network_state + kernels.dispatch.dyad_change_matrix per period
    fit           tergm.mple: the MPLE (estimate._evaluate, _newton_steps)
    bootstrap     tergm.bootstrap.fit_replicates on arrays as a Dask worker receives them (read-only)
    refit         tergm.design.design_with_networks + mple, as a sensitivity refit does
    gof           tergm.gof.gof: one TNT chain per period (kernels/sampler_fast.py), the observed
                  statistics (kernels.dispatch.statistics_from_empty) and every draw's distributions

Three processes: `cold` (empty cache: compile), `warm` (a new process on the cache `cold` filled:
what every later run pays) and, inside each, `again` (the same stage called a second time in the
same process: the work alone). Peak RSS is the process's maximum resident set after each stage.

--demo also runs the README's `dyadflow demo` itself (on --nodes x --periods, 5 bootstrap replicates,
2 refits per rewiring level) twice, on an empty and then on the filled NUMBA_CACHE_DIR: the
difference of the two walls is what a first run waits for numba, in the driver and in the Dask
workers together.

    python benchmarks/bench_cold_start.py [--nodes 40] [--periods 4] [--threads 2] [--demo]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("import", "changestats", "fit", "bootstrap", "refit", "gof")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _read_only(array):
    """The array as a Dask worker's deserialised copy (from an immutable buffer): read-only."""
    import numpy as np

    copy = np.array(array)
    copy.setflags(write=False)
    return copy


def _dyadflow_dispatchers():
    """Every numba dispatcher defined in dyadflow's modules that are loaded now."""
    from numba.core.registry import CPUDispatcher

    found = []
    for name, module in list(sys.modules.items()):
        if name.startswith("dyadflow.") and module is not None:
            for value in vars(module).values():
                if isinstance(value, CPUDispatcher) and value.py_func.__module__ == name:
                    found.append(value)
    return found


def child(nodes: int, periods: int, workdir: Path) -> dict:
    """Run the demo's stages once (and each a second time), reporting seconds and peak RSS per stage."""
    results: dict[str, dict] = {}

    def timed(stage, fn):
        start, start_cpu = time.perf_counter(), time.process_time()
        value = fn()
        first, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        results[stage] = {"first_s": first, "first_cpu_s": cpu, "peak_rss_mib": _peak_rss_mib()}
        return value

    def again(stage, fn):
        start = time.perf_counter()
        fn()
        results[stage]["again_s"] = time.perf_counter() - start

    timed("import", lambda: __import__("dyadflow.tergm"))
    results["import"]["again_s"] = 0.0
    from dataclasses import replace

    import numpy as np

    from dyadflow import storage
    from dyadflow.flows.cli import DEMO_FORMULA
    from dyadflow.storage.demo import write_demo_dataset
    from dyadflow.tergm import mple
    from dyadflow.tergm.bootstrap import draw_resamples, fit_replicates
    from dyadflow.tergm.design import build_design, design_with_networks, parse_model
    from dyadflow.tergm.rewire import rewire_networks

    spec = write_demo_dataset(workdir / "data", nodes=nodes, periods=periods, seed=20240601)
    storage.ingest(spec, workdir / "store")
    panel = storage.open_panel(workdir / "store")

    design = timed("changestats", lambda: build_design(DEMO_FORMULA, panel))
    again("changestats", lambda: build_design(DEMO_FORMULA, panel))
    fit = timed("fit", lambda: mple(design))
    again("fit", lambda: mple(design))

    shipped = replace(design, X=_read_only(design.X), y=_read_only(design.y), offsets=_read_only(design.offsets))
    resamples = draw_resamples(design.n_periods, 25, seed=12345)
    timed("bootstrap", lambda: fit_replicates(shipped, fit.coef, resamples))
    again("bootstrap", lambda: fit_replicates(shipped, fit.coef, resamples))

    model = parse_model(DEMO_FORMULA, panel)
    networks = rewire_networks(
        [panel[t].network for t in range(len(panel))],
        0.3,
        np.random.default_rng(7),
        directed=panel.directed,
        mode="period",
        nodes=[panel[t].nodes for t in range(len(panel))],
    )
    rewired = panel.with_networks(networks)
    timed("refit", lambda: mple(design_with_networks(model, shipped, rewired), start=fit.coef))
    again("refit", lambda: mple(design_with_networks(model, shipped, rewired), start=fit.coef))

    from dyadflow.tergm import Fit
    from dyadflow.tergm.gof import gof

    fitted = Fit.without_replicates(fit, design, DEMO_FORMULA)
    timed("gof", lambda: gof(fitted, nsim=10, burnin=2000, interval=200, seed=1, panel=panel))
    again("gof", lambda: gof(fitted, nsim=10, burnin=2000, interval=200, seed=1, panel=panel))

    cache_dir = Path(os.environ["NUMBA_CACHE_DIR"]).resolve()
    dispatchers = _dyadflow_dispatchers()
    outside = []
    hits = misses = 0
    for dispatcher in dispatchers:
        cache = getattr(dispatcher, "_cache", None)
        path = getattr(cache, "cache_path", None)
        if path is not None and dispatcher.signatures and not Path(path).resolve().is_relative_to(cache_dir):
            outside.append(f"{dispatcher.py_func.__module__}.{dispatcher.__name__}: {path}")
        hits += sum(dispatcher.stats.cache_hits.values())
        misses += sum(dispatcher.stats.cache_misses.values())
    compiled = {f"{d.py_func.__module__}.{d.__name__}": len(d.signatures) for d in dispatchers if d.signatures}
    return {
        "stages": results,
        "cache_hits": hits,
        "cache_misses": misses,
        "outside_cache_dir": outside,
        "specialisations": compiled,
        "rows": int(design.X.shape[0]),
        "columns": len(design.names),
    }


def run_child(cache_dir: Path, args) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory(prefix="dyadflow-cold-data-") as workdir:
        command = [
            sys.executable,
            __file__,
            "--child",
            workdir,
            "--nodes",
            str(args.nodes),
            "--periods",
            str(args.periods),
        ]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"child process failed ({done.returncode})")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def report(label: str, result: dict) -> None:
    stages = result["stages"]
    print(
        f"{label}: process {result['process_s']:.1f} s wall (with building the panel); numba cache hits {result['cache_hits']}, "
        f"misses {result['cache_misses']}"
    )
    print(f"  {'stage':<12} {'first call':>11} {'(CPU)':>9} {'again':>9} {'peak RSS':>10}")
    for stage in STAGES:
        s = stages[stage]
        print(
            f"  {stage:<12} {s['first_s']:>9.2f} s {s['first_cpu_s']:>7.2f} s {s['again_s']:>7.3f} s "
            f"{s['peak_rss_mib']:>6.0f} MiB"
        )
    kernels = sum(stages[s]["first_s"] - stages[s]["again_s"] for s in STAGES if s != "import")
    print(f"  first calls minus second calls (compile or cache load): {kernels:.1f} s")
    if result["outside_cache_dir"]:
        print("  WARNING: dispatchers cached outside NUMBA_CACHE_DIR:", *result["outside_cache_dir"], sep="\n    ")


def demo(args) -> None:
    """`dyadflow demo` on an empty, then on the filled NUMBA_CACHE_DIR: wall of each and the difference."""
    walls = []
    with (
        tempfile.TemporaryDirectory(prefix="dyadflow-numba-cache-") as cache_dir,
        tempfile.TemporaryDirectory(prefix="dyadflow-demo-") as workdir,
    ):
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PREFECT_HOME=str(Path(workdir) / "prefect"))
        for run in ("cold", "warm"):
            command = [sys.executable, "-m", "dyadflow.flows.cli", "demo", "--directory", str(Path(workdir) / run)]
            command += ["--nodes", str(args.nodes), "--periods", str(args.periods), "--R", "5", "--simulations", "2"]
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - started)
            if done.returncode != 0:
                sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
                raise SystemExit(f"dyadflow demo failed ({done.returncode})")
    print(
        f"dyadflow demo ({args.nodes} x {args.periods}, R 5, 2 refits per level, gof): cold {walls[0]:.1f} s, "
        f"warm {walls[1]:.1f} s wall; waiting for numba on a first run: {walls[0] - walls[1]:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--periods", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="NUMBA_NUM_THREADS of the measured processes")
    parser.add_argument("--demo", action="store_true", help="also time `dyadflow demo` cold and warm")
    parser.add_argument("--specialisations", action="store_true", help="list each dispatcher's compiled signatures")
    parser.add_argument("--child", metavar="WORKDIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.nodes, args.periods, Path(args.child))))
        return
    import numba

    print(
        f"demo formula on {args.nodes} nodes x {args.periods} periods; numba {numba.__version__}, "
        f"{args.threads} threads, {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="dyadflow-numba-cache-") as cache_dir:
        cold = run_child(Path(cache_dir), args)
        if cold["cache_hits"]:
            raise SystemExit(f"the cold run loaded {cold['cache_hits']} functions from a cache: not cold")
        report("cold (empty NUMBA_CACHE_DIR)", cold)
        warm = run_child(Path(cache_dir), args)
        report("warm (new process, cache filled by the cold run)", warm)
    if args.demo:
        demo(args)
    if args.specialisations:
        for name, count in sorted(cold["specialisations"].items()):
            print(f"  {count} x {name}")
    print(f"design: {cold['rows']} rows x {cold['columns']} columns")


if __name__ == "__main__":
    main()
