"""What a first run compiles: each numba entry point once, only the kernels a formula uses, and a
progress display that says so while it happens (issue 13, item 5)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap

import numba
import pytest

from dyadflow.flows import progress as progress_module
from dyadflow.kernels.cache import needs_compiling

# A child process (its own numba dispatchers, nothing compiled yet): the demo's structural terms on
# a directed and an undirected network, the MPLE, and bootstrap replicates on a read-only design (as
# a Dask worker receives it). Reports how many specialisations each entry point has.
_CHILD = textwrap.dedent(
    """
    import json
    from dataclasses import replace
    import numpy as np
    from dyadflow.kernels import _generated, dispatch
    from dyadflow.kernels.dispatch import CODES, dyad_change_matrix
    from dyadflow.kernels.network import network_state
    from dyadflow.storage.panel import Panel
    from dyadflow.tergm import estimate, mple
    from dyadflow.tergm.bootstrap import draw_resamples, fit_replicates
    from dyadflow.tergm.design import build_design

    codes = np.array([CODES["edges"], CODES["gwesp"]], np.int64)
    rng = np.random.default_rng(3)
    for directed in (True, False):
        adj = (rng.random((9, 9)) < 0.3).astype(np.uint8)
        adj = adj if directed else np.triu(adj, 1) | np.triu(adj, 1).T
        np.fill_diagonal(adj, 0)
        adj.setflags(write=False)
        dyad_change_matrix(codes, np.array([0, 0, 2]), np.array([0.5, 0.0]), np.array([0, 1, 2]),
                           network_state(adj, directed))
    networks = []
    for t in range(4):
        adj = np.triu((rng.random((12, 12)) < 0.25 + 0.05 * t).astype(np.uint8), 1)
        networks.append(adj | adj.T)
    design = build_design("y ~ edges + gwesp(0.5, fixed=TRUE)", Panel.from_arrays(networks, directed=False))
    fit = mple(design)
    frozen = {}
    for name in ("X", "y", "offsets"):
        frozen[name] = np.array(getattr(design, name))
        frozen[name].setflags(write=False)
    fit_replicates(replace(design, **frozen), fit.coef, draw_resamples(design.n_periods, 3, seed=1))
    used = {f"rows_{code}": len(_generated.ROWS[code].signatures) for code in range(len(CODES))}
    used["design"] = len(dispatch._drivers(codes.tolist()).design.signatures)
    used["_evaluate"] = len(estimate._evaluate.signatures)
    used["_newton_steps"] = len(estimate._newton_steps.signatures)
    print(json.dumps({"codes": CODES, "signatures": used}))
    """
)


@pytest.mark.slow
def test_each_entry_point_compiles_once_and_only_for_the_formulas_kernels(tmp_path):
    # an empty numba cache: a driver loaded from disk would compile none of its callees here, and the
    # counts below would say nothing about what a first run compiles
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=1800, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    codes, signatures = report["codes"], report["signatures"]
    used = {codes["edges"], codes["gwesp"]}
    for code in codes.values():
        # directed and undirected, read-only input or not: one specialisation; unused kernels: none
        assert signatures[f"rows_{code}"] == (1 if code in used else 0), code
    assert signatures["design"] == 1  # the design driver of these codes (the formula's)
    # the fit (writable design) and the bootstrap (read-only design) share one compilation
    assert signatures["_evaluate"] == 1
    assert signatures["_newton_steps"] == 1


def _cached_module(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.py"
    path.write_text("from numba import njit\n\n\n@njit(cache=True)\ndef triple(x):\n    return " + body + "\n")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


@pytest.mark.skipif(bool(os.environ.get("NUMBA_DISABLE_JIT")), reason="needs numba's compiler")
def test_needs_compiling_follows_the_process_and_the_disk_cache(tmp_path):
    module, path = _cached_module(tmp_path, "dyadflow_cache_probe", "3 * x")
    assert needs_compiling(module.triple)  # nothing compiled, nothing cached
    assert module.triple(2) == 6
    assert not needs_compiling(module.triple)  # compiled in this process
    fresh = numba.njit(cache=True)(module.triple.py_func)  # another process's view: the disk cache only
    assert not fresh.signatures
    assert not needs_compiling(fresh)
    # an edited source makes the cache stale: compiling again
    path.write_text(path.read_text().replace("3 * x", "x + x + x") + "\n")
    edited, _ = _cached_module(tmp_path, "dyadflow_cache_probe", "x + x + x")
    assert needs_compiling(edited.triple)
    assert needs_compiling(module.triple, edited.triple)


def test_progress_bar_says_when_kernels_compile(monkeypatch):
    from rich.console import Console
    from rich.progress import Progress

    bars = Progress(console=Console(file=io.StringIO()), auto_refresh=False)
    monkeypatch.setattr(progress_module, "_console_progress", bars)
    with progress_module.stage_progress("changestats", 3, compiling=True) as advance:
        (task,) = bars.tasks
        assert task.description == "changestats: compiling kernels (first run only)"
        advance(1)
        assert task.description == "changestats"
        advance(2)
    with progress_module.stage_progress("fit", 1, compiling=False) as advance:
        assert bars.tasks[1].description == "fit"
    with progress_module.stage_progress("fit", 1, compiling=True) as advance:
        pass  # a stage that ends (or fails) before its first item: the note does not stay
    assert bars.tasks[2].description == "fit"
    assert bars.tasks[2].completed == 1


def test_without_bars_compiling_changes_nothing():
    with progress_module.stage_progress("changestats", 2, compiling=True) as advance:
        advance(1)  # a no-op: tests and library calls stay silent
