"""The `dyadflow` command: help, clear errors for bad input, and a real `dyadflow fit` whose printed
summary and results match tergm run directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flows_conftest import REPO

from dyadflow.flows.spec import RunSpecError, load_run_spec

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

FORMULA = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + edgecov(mlat) + absdiff('polyarchy')"


def dyadflow(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "dyadflow.flows.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=env or dict(os.environ),
        timeout=600,
    )


def test_help_lists_every_command():
    result = dyadflow("--help")
    assert result.returncode == 0
    for command in ("demo", "run", "fit", "sensitivity", "serve"):
        assert command in result.stdout


def test_run_spec_errors_name_the_problem(tmp_path):
    def spec(text):
        path = tmp_path / "spec.toml"
        path.write_text(text)
        return path

    good = '[dataset]\nspec = "d.toml"\nstore = "s"\n[model]\nformula = "y ~ edges"\n'
    parsed = load_run_spec(spec(good))
    assert parsed.store == (tmp_path / "s").resolve() and parsed.R == 100 and parsed.sensitivity is None
    with pytest.raises(RunSpecError, match=r"\[model\] formula"):
        load_run_spec(spec('[dataset]\nspec = "d.toml"\nstore = "s"\n'))
    with pytest.raises(RunSpecError, match="batch_size"):
        load_run_spec(spec(good + "[bootstrap]\nbatch_size = 0\n"))
    with pytest.raises(RunSpecError, match="mode"):
        load_run_spec(spec(good + '[sensitivity]\nmode = "all"\n'))
    with pytest.raises(RunSpecError, match="share"):
        load_run_spec(spec(good + "[sensitivity]\nlevels = [0.5, 1.5]\n"))
    with pytest.raises(RunSpecError, match="unknown key 'plots' in the run spec"):
        load_run_spec(spec(good + "[plots]\nx = 1\n"))
    with pytest.raises(RunSpecError, match="not valid TOML"):
        load_run_spec(spec("[dataset\n"))
    address = load_run_spec(spec(good), cluster_address="tcp://127.0.0.1:8786")
    assert address.cluster.kind == "address" and address.cluster.address == "tcp://127.0.0.1:8786"


def assert_one_line_error(result, message: str, status: int = 2) -> None:
    """The command failed with `status`, printed `dyadflow: error: <message>...` and no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == status, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("dyadflow: error:")]
    assert len(errors) == 1 and message in errors[0], output


GOOD_SPEC = '[dataset]\nspec = "d.toml"\nstore = "s"\n[model]\nformula = "y ~ edges"\n'


def test_bad_spec_gives_one_line_error_and_exit_status_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD_SPEC + "[bootstrap]\nR = -1\n")
    assert_one_line_error(dyadflow("fit", str(path)), "dyadflow: error: [bootstrap] R = -1")


def test_spec_errors_before_anything_starts_are_one_line(tmp_path):
    """Errors found before Prefect or a cluster starts: each one line, no traceback."""
    (tmp_path / "a_file").write_text("")
    cases = {
        "output_is_file": (
            GOOD_SPEC + '[output]\ndirectory = "a_file"\n',
            "[output] directory {tmp}/a_file is a file, not a directory",
        ),
        "output_under_file": (
            GOOD_SPEC + '[output]\ndirectory = "a_file/results"\n',
            "[output] directory {tmp}/a_file/results cannot be written to (Not a directory)",
        ),
        "unknown_cluster_option": (
            GOOD_SPEC + "[cluster]\n[cluster.options]\nn_wrkers = 2\n",
            "unknown key 'n_wrkers' in [cluster.options]",
        ),
        "not_toml": ("[dataset\n", "not valid TOML"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        assert_one_line_error(dyadflow("fit", str(path)), message.format(tmp=tmp_path))
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(GOOD_SPEC.replace("edges", "edges # caf\xe9").encode("latin-1"))
    result = dyadflow("fit", str(latin1))
    assert_one_line_error(result, "latin1.toml")


def test_output_directory_that_cannot_be_written(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    path = tmp_path / "spec.toml"
    path.write_text(GOOD_SPEC + '[output]\ndirectory = "locked"\n')
    try:
        assert_one_line_error(dyadflow("fit", str(path)), "cannot be written to (Permission denied)")
    finally:
        locked.chmod(0o700)


def test_verbose_shows_the_traceback(tmp_path):
    (tmp_path / "a_file").write_text("")
    path = tmp_path / "spec.toml"
    path.write_text(GOOD_SPEC + '[output]\ndirectory = "a_file"\n')
    result = dyadflow("fit", str(path), "--verbose")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "OutputDirectoryError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("dyadflow: error: [output] directory")


@pytest.mark.parametrize(
    "raised,status,message",
    [
        (ValueError("bad value"), 2, "dyadflow: error: bad value"),
        (PermissionError(13, "Permission denied", "/x/out"), 2, "dyadflow: error: /x/out: Permission denied"),
        (RuntimeError("Nanny failed\n to start"), 2, "dyadflow: error: Nanny failed to start"),
        (ExceptionGroup("group", [ValueError("inside")]), 2, "dyadflow: error: inside"),
        (KeyError("x"), 1, "dyadflow: error: internal error (KeyError: 'x'); this is a bug"),
        (KeyboardInterrupt(), 130, "dyadflow: interrupted"),
    ],
)
def test_main_turns_every_failure_into_one_line(monkeypatch, capsys, raised, status, message):
    from dyadflow.flows import cli

    def failing_app(**_):
        raise raised

    monkeypatch.setattr(cli, "app", failing_app)
    monkeypatch.setenv("DASK_LOGGING", os.environ.get("DASK_LOGGING", ""))  # main sets it; restored after
    with pytest.raises(SystemExit) as exited:
        cli.main(["fit", "spec.toml"])
    assert exited.value.code == status
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message] or captured.err.startswith(message)
    assert "Traceback" not in captured.out + captured.err
    with pytest.raises(SystemExit):
        cli.main(["fit", "spec.toml", "--verbose"])
    if status != 130:
        assert "Traceback" in capsys.readouterr().err


def test_serve_rejects_a_bad_interval(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text("x = 1\n")
    result = dyadflow("serve", str(path), "--every", "soon")
    assert result.returncode != 0 and "--every" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    from dyadflow.storage.demo import write_demo_dataset

    directory = tmp_path_factory.mktemp("cli-data")
    write_demo_dataset(directory / "data", nodes=20, periods=4, seed=3)
    return directory


def _spec(directory: Path, name: str, extra: str = "", store: str = "data/store") -> Path:
    path = directory / f"{name}.toml"
    path.write_text(
        f'[dataset]\nspec = "data/dataset.toml"\nstore = "{store}"\n[model]\nformula = "{FORMULA}"\n'
        f'[bootstrap]\nR = 4\nseed = 5\nbatch_size = 2\n[output]\ndirectory = "{name}"\n{extra}'
    )
    return path


def test_errors_inside_the_flow_are_one_line(small_dataset, tmp_path):
    """Errors raised while the Prefect flow runs: Prefect's own log of the failed run (the traceback,
    once for the task and once for the flow) stays off the console."""
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"))
    missing = small_dataset / "missing.toml"
    missing.write_text(f'[dataset]\nspec = "nowhere.toml"\nstore = "s"\n[model]\nformula = "{FORMULA}"\n')
    assert_one_line_error(dyadflow("fit", str(missing), env=env), f"dataset spec {small_dataset}/nowhere.toml")

    # a worker that cannot start (the option itself is a valid Worker option)
    broken = _spec(
        small_dataset,
        "broken_worker",
        '[cluster]\nworkers = 1\n[cluster.options]\npreload = ["no_such_module_for_dyadflow"]\n',
    )
    result = dyadflow("fit", str(broken), env=env)
    assert_one_line_error(result, "[cluster] the local Dask cluster (1 worker process(es)) did not start")
    assert "No module named 'no_such_module_for_dyadflow'" in result.stderr


def test_damaged_store_is_one_line(small_dataset, tmp_path):
    from dyadflow import storage

    store = small_dataset / "damaged_store"
    storage.ingest(small_dataset / "data" / "dataset.toml", store)
    version = store / (store / "CURRENT").read_text().strip()
    chunk = sorted(p for p in (version / "panel.zarr" / "network" / "c").rglob("*") if p.is_file())[1]
    chunk.write_bytes(chunk.read_bytes()[:5])
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"))
    result = dyadflow("fit", str(_spec(small_dataset, "damaged", store="damaged_store")), env=env)
    assert_one_line_error(result, "period 1991, array 'network'")
    assert "re-ingest" in result.stderr


def test_fit_command_end_to_end(tmp_path):
    """`dyadflow fit` in a fresh process (its own Prefect home, local mode, a LocalCluster)."""
    from dyadflow import storage
    from dyadflow.storage.demo import write_demo_dataset
    from dyadflow.tergm import btergm

    write_demo_dataset(tmp_path / "data", nodes=30, periods=5, seed=3)
    spec = tmp_path / "run.toml"
    spec.write_text(
        f'[dataset]\nspec = "data/dataset.toml"\nstore = "data/store"\n[model]\nformula = "{FORMULA}"\n'
        '[bootstrap]\nR = 20\nseed = 5\nbatch_size = 10\n[cluster]\nworkers = 1\n[output]\ndirectory = "out"\n'
    )
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"))
    result = dyadflow("fit", str(spec), env=env)
    assert result.returncode == 0, result.stderr
    assert "Bootstrapping sample size: 20" in result.stdout
    assert "INFO" not in result.stdout + result.stderr  # quiet by default
    fit = btergm(FORMULA, storage.open_panel(tmp_path / "data" / "store"), R=20, seed=5, batch_size=10)
    table = pd.read_csv(tmp_path / "out" / "coefficients.csv")
    assert np.array_equal(table.Estimate.to_numpy(), fit.mple.coef)  # CSV round-trips doubles exactly
    assert not (tmp_path / "out" / "sensitivity.csv").exists()
