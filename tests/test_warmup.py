"""The first run's background compile (tergm/warmup.py, flows/warmup.py): what it compiles is what a
real run calls -- a run after it, on another model, panel and direction, loads those kernels from
numba's cache and compiles none of them -- and its process never outlives the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dyadflow.flows import warmup

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

_RUN = textwrap.dedent(
    """
    import json
    import numpy as np
    from dyadflow.kernels.sampler_fast import run_fast_chain
    from dyadflow.storage.panel import Panel
    from dyadflow.tergm import btergm
    from dyadflow.tergm.estimate import _evaluate, _newton_steps
    from dyadflow.tergm.gof import _draw_counts, gof

    rng = np.random.default_rng(5)
    networks = []
    for _ in range(4):
        adj = (rng.random((12, 12)) < 0.2).astype(np.uint8)
        np.fill_diagonal(adj, 0)
        networks.append(adj)
    panel = Panel.from_arrays(networks, directed=True)
    fit = btergm("y ~ edges + mutual", panel, R=3, seed=1)  # the fit and its bootstrap
    gof(fit, nsim=3, burnin=50, interval=20, seed=2)
    print(json.dumps({
        d.py_func.__name__: [sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values())]
        for d in (_evaluate, _newton_steps, run_fast_chain, _draw_counts)
    }))
    """
)


def test_a_run_after_the_warmup_compiles_none_of_its_kernels(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    warm = subprocess.run(
        [sys.executable, "-m", "dyadflow.tergm.warmup", "--chain", "fast"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert warm.returncode == 0, warm.stderr[-3000:]
    run = subprocess.run([sys.executable, "-c", _RUN], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    for name, (hits, misses) in counts.items():
        assert hits >= 1 and misses == 0, f"{name} compiled after the warm-up: {counts}"


def test_the_warmup_process_is_stopped_with_the_command(monkeypatch):
    monkeypatch.setattr(warmup, "_needed", lambda gof: True)
    # a stand-in that would outlive the block: the context must stop it
    monkeypatch.setattr(warmup, "_command", lambda gof: ["sleep", "600"])
    with warmup.kernel_warmup(gof=True):
        process = warmup._running
        assert process is not None and warmup.warmup_running()
    assert process.poll() is not None and warmup._running is None
    warmup.wait_for_warmup()  # nothing to wait for


def test_no_warmup_when_nothing_needs_compiling(monkeypatch):
    monkeypatch.setattr(warmup, "_needed", lambda gof: False)
    with warmup.kernel_warmup(gof=True):
        assert warmup._running is None and not warmup.warmup_running()


_DRIVER = textwrap.dedent(
    """
    import sys, time
    from dyadflow.flows import warmup

    warmup._needed = lambda gof: True
    warmup._command = lambda gof: ["sleep", "600"]
    with warmup.kernel_warmup(gof=True):
        print(warmup._running.pid, flush=True)
        time.sleep(600)
    """
)


def test_the_warmup_process_dies_with_a_killed_driver():
    import signal
    import time

    driver = subprocess.Popen([sys.executable, "-c", _DRIVER], stdout=subprocess.PIPE, text=True)
    try:
        child = int(driver.stdout.readline())
        os.kill(child, 0)  # running
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return
            # a zombie until reaped by init: ask whether it still runs
            with open(f"/proc/{child}/stat") as stat:
                if stat.read().split(")")[-1].split()[0] == "Z":
                    return
            time.sleep(0.1)
        raise AssertionError(f"warm-up process {child} outlived its killed driver")
    finally:
        if driver.poll() is None:
            driver.kill()
