"""The `dyadflow` command.

    dyadflow demo                      make the paper-scale demo panel and run the whole workflow
    dyadflow run spec.toml             everything the run spec asks for
    dyadflow fit spec.toml             ingest, change statistics, fit, bootstrap, report
    dyadflow sensitivity spec.toml     ingest, change statistics, fit, sensitivity batch, report
    dyadflow gof spec.toml             ingest, change statistics, fit, simulation goodness of fit, report
    dyadflow predict spec.toml         the [validation] alone: fit on the training periods, predict the test ones
    dyadflow serve spec.toml --every 1h
                                       re-ingest on a schedule, re-estimate when the data changed
    dyadflow report RESULTS_DIR        (re)write report.html, figures/ and the regression table files

Every command takes --cluster ADDRESS (an existing Dask scheduler instead of the spec's cluster) and
--verbose (Prefect's and distributed's INFO logs, and tracebacks; quiet by default).

A failure is one line on stderr, `dyadflow: error: ...`, and a non-zero exit status: 2 for bad input
(spec, data, formula, output directory, a damaged store, a cluster that cannot start), 1 for an
internal error, 130 for Ctrl-C. With --verbose the traceback comes first.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer

import dyadflow.flows  # noqa: F401  (Prefect's environment defaults, before prefect is imported)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Temporal ERGMs on Dask, orchestrated by Prefect.",
)

ClusterOption = Annotated[
    str | None, typer.Option("--cluster", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's and Dask's INFO logs.")]
SpecArgument = Annotated[Path, typer.Argument(help="The run spec (TOML).", exists=True, dir_okay=False)]

# No memory term: demo agreements never end once signed, so a stability term would separate perfectly.
DEMO_NETWORK_FORMULA = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE)"
DEMO_LOGIT_FORMULA = (
    "cmaa ~ edges + nodecov('polyarchy') + absdiff('polyarchy') + edgecov(contiguity) + edgecov(log_trade)"
    " + edgecov(mlat)"
)
DEMO_FORMULA = (
    "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE)"
    " + nodecov('polyarchy') + absdiff('polyarchy') + edgecov(contiguity) + edgecov(log_trade) + edgecov(mlat)"
)


class OutputDirectoryError(ValueError):
    """The run spec's output directory is a file, or cannot be created or written to."""


class _OneLineLogs(logging.Filter):
    """The console without --verbose: no tracebacks. A failing Prefect run's own ERROR lines (its
    traceback, once for the task and once for the flow) are dropped, since the command reports the
    failure itself; other records keep their message and lose their traceback. Records reach the
    console last (after Prefect's API handler), so the server still stores the full record."""

    RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(self.RUN_LOGGERS) and record.levelno >= logging.ERROR:
            return False
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def _configure(verbose: bool) -> None:
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    logging.getLogger("distributed").setLevel(logging.INFO if verbose else logging.WARNING)


def _quiet_console(verbose: bool) -> None:
    """Install _OneLineLogs on the root logger's console handlers, once Prefect has configured its
    logging (distributed's own handler: cluster.one_line_dask_logs)."""
    if verbose:
        return
    import prefect.main  # noqa: F401  (configures Prefect's logging: its handlers exist from here on)

    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _OneLineLogs) for f in handler.filters):
            handler.addFilter(_OneLineLogs())


def check_output_directory(path: Path) -> None:
    """The output directory exists or can be created, and a file can be written in it: checked before
    a Prefect server, a cluster or any estimation starts."""
    where = f"[output] directory {path}"
    if path.exists() and not path.is_dir():
        raise OutputDirectoryError(f"{where} is a file, not a directory; set [output] directory to a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputDirectoryError(
            f"{where} cannot be written to ({reason}); set [output] directory to a folder you can write to"
        ) from None


def _run(
    spec_path: Path,
    cluster: str | None,
    verbose: bool,
    *,
    bootstrap: bool,
    sensitivity: bool,
    gof: bool | None = False,
    validation: bool = False,
) -> Path:
    _configure(verbose)
    from dyadflow.flows.spec import load_run_spec

    spec = load_run_spec(spec_path, cluster_address=cluster)  # bad specs fail here, before Prefect starts
    check_output_directory(spec.output)
    from dyadflow.flows.progress import progress_bars
    from dyadflow.flows.serve import prefect_api
    from dyadflow.flows.workflow import run_flow

    _quiet_console(verbose)
    from dyadflow.flows.warmup import kernel_warmup

    wants_gof = gof is True or (gof is None and spec.gof is not None)
    with kernel_warmup(gof=wants_gof), prefect_api(), progress_bars(sys.stderr.isatty() or verbose):
        output = run_flow(
            str(spec_path),
            cluster_address=cluster,
            bootstrap=bootstrap,
            sensitivity=sensitivity,
            gof=gof,
            validation=validation,
        )
    output = Path(output)
    typer.echo((output / "summary.txt").read_text())
    typer.echo(f"results: {output}")
    if (output / "report.html").is_file():
        typer.echo(f"report: {output / 'report.html'}")
    return output


@app.command()
def run(spec: SpecArgument, cluster: ClusterOption = None, verbose: VerboseOption = False):
    """Run everything the spec asks for: fit, bootstrap, sensitivity batch, goodness of fit, validation, report."""
    _run(spec, cluster, verbose, bootstrap=True, sensitivity=True, gof=None, validation=True)


@app.command()
def fit(spec: SpecArgument, cluster: ClusterOption = None, verbose: VerboseOption = False):
    """Ingest, change statistics, MPLE fit and bootstrap; no sensitivity batch."""
    _run(spec, cluster, verbose, bootstrap=True, sensitivity=False)


@app.command()
def sensitivity(spec: SpecArgument, cluster: ClusterOption = None, verbose: VerboseOption = False):
    """Ingest, change statistics, fit and the rewiring sensitivity batch; no bootstrap."""
    _run(spec, cluster, verbose, bootstrap=False, sensitivity=True)


@app.command()
def gof(spec: SpecArgument, cluster: ClusterOption = None, verbose: VerboseOption = False):
    """Ingest, change statistics, fit and simulation goodness of fit ([gof], default nsim = 100); no bootstrap."""
    _run(spec, cluster, verbose, bootstrap=False, sensitivity=False, gof=True)


@app.command()
def predict(spec: SpecArgument, verbose: VerboseOption = False):
    """Out-of-sample prediction alone ([validation]): fit each model on the training periods of the stored
    panel, predict the test periods; writes predictions.parquet, rocpr.parquet and auc.csv."""
    _configure(verbose)
    from dyadflow.flows.spec import RunSpecError, load_run_spec

    if load_run_spec(spec).validation is None:  # bad specs fail here, before Prefect starts
        raise RunSpecError(f"run spec {spec} has no [validation] table: nothing to predict")
    from dyadflow.flows.workflow import predict_flow

    result = predict_flow(str(spec))
    typer.echo(result["summary"])
    typer.echo(f"results: {result['output']}")


@app.command()
def serve(
    spec: SpecArgument,
    every: Annotated[str, typer.Option("--every", help="Interval: 90s, 15m, 1h, 1d.")] = "1h",
    cluster: ClusterOption = None,
    verbose: VerboseOption = False,
):
    """Serve a Prefect deployment that re-ingests every interval and re-estimates when the data changed."""
    _configure(verbose)
    from dyadflow.flows.serve import parse_interval, serve_spec

    try:
        parse_interval(every)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--every") from error
    from dyadflow.flows.spec import load_run_spec

    check_output_directory(load_run_spec(spec, cluster_address=cluster).output)
    _quiet_console(verbose)
    typer.echo(f"serving {spec} every {every}; Ctrl-C stops")
    serve_spec(str(spec), every, cluster_address=cluster)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where the demo data, spec and results go.")] = Path("dyadflow-demo"),
    nodes: Annotated[int, typer.Option(min=5, help="States in the panel (at least 5).")] = 230,
    periods: Annotated[int, typer.Option(min=2, help="Years in the panel (at least 2).")] = 31,
    R: Annotated[int, typer.Option("--R", min=0, help="Bootstrap replicates.")] = 100,
    simulations: Annotated[int, typer.Option(min=0, help="Refits per rewiring level (0: no sensitivity batch).")] = 100,
    workers: Annotated[int | None, typer.Option(min=1, help="Local Dask workers (default: one per core).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic panel.")] = 20240601,
    cluster: ClusterOption = None,
    verbose: VerboseOption = False,
):
    """Make the paper-scale demo panel (230 states x 31 years) and run the whole workflow on it."""
    from dyadflow.storage.demo import write_demo_dataset

    directory = directory.resolve()
    started = time.perf_counter()
    dataset = write_demo_dataset(directory / "data", nodes=nodes, periods=periods, seed=seed)
    spec_path = write_demo_spec(directory, Path(dataset), R=R, simulations=simulations, workers=workers)
    typer.echo(f"demo panel: {nodes} nodes x {periods} periods written in {time.perf_counter() - started:.1f} s")
    typer.echo(f"run spec: {spec_path}")
    from dyadflow.tergm import EstimationError

    try:
        _run(spec_path, cluster, verbose, bootstrap=True, sensitivity=simulations > 0, gof=None, validation=True)
    except EstimationError as error:  # the data are random: a tiny panel may not identify 8 terms
        raise EstimationError(
            f"{error}; the demo panel of {nodes} states x {periods} years is too small for the demo model's "
            f"{DEMO_FORMULA.count('+') + 1} terms: run the demo with more --nodes or --periods (20 states x 3 "
            "years or more), or another --seed"
        ) from None


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A results directory (run.json, coefficients.parquet, ...).")],
):
    """Write report.html, figures/ and regression_table.tex/.md from a results directory (reads only its tables)."""
    from dyadflow.report import ReportError, write_report_html

    try:
        path = write_report_html(results)
    except ReportError as error:
        typer.echo(f"dyadflow: error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"report: {path}")


def write_demo_spec(directory: Path, dataset: Path, *, R: int, simulations: int, workers: int | None) -> Path:
    """The demo's run spec (TOML), next to its data."""
    lines = [
        "[dataset]",
        f"spec = {_toml_string(os.path.relpath(dataset, directory))}",
        'store = "data/store"',
        "",
        # the study's three models side by side: network terms only, a plain logit, both
        "[models.network]",
        f"formula = {_toml_string(DEMO_NETWORK_FORMULA)}",
        "",
        "[models.logit]",
        f"formula = {_toml_string(DEMO_LOGIT_FORMULA)}",
        "",
        "[models.full]",
        f"formula = {_toml_string(DEMO_FORMULA)}",
        "",
        "[bootstrap]",
        f"R = {R}",
        "seed = 12345",
        "batch_size = 25",
        "",
        "[validation]  # fit on every year but the last, predict the last",
        "holdout_last = 1",
        "",
        "[interpretation]",
        'profiles = ["shared_partners"]',
        'model = "full"',
        "",
        "[gof]",
        "nsim = 100",
        'model = "full"',
        "",
    ]
    if simulations > 0:
        lines += [
            "[sensitivity]",
            'model = "full"',
            "levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]",
            f"simulations = {simulations}",
            'mode = "period"',
            "seed = 20210101",
            "",
        ]
    lines += ["[cluster]", 'kind = "local"'] + ([f"workers = {workers}"] if workers else []) + [""]
    lines += ["[output]", 'directory = "results"', ""]
    path = directory / "run.toml"
    path.write_text("\n".join(lines))
    return path


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


USER_ERRORS = (ValueError, OSError, RuntimeError)  # the project's errors are ValueError subclasses


def describe(error: BaseException) -> str:
    """One line for an error: its message (an OSError's as 'path: reason')."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _innermost(error: BaseException) -> BaseException:
    """The one error inside (nested) exception groups of one error, as anyio raises them."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every failure is one line (see the module docstring); the traceback only
    with --verbose."""
    args = sys.argv[1:] if argv is None else list(argv)
    verbose = any(arg in ("--verbose", "-v") for arg in args)
    if not verbose:
        from dyadflow.cluster import one_line_dask_logs

        one_line_dask_logs()  # before distributed is imported, here and in the workers
    try:
        app(args=args, prog_name="dyadflow")
    except SystemExit:
        raise
    except BaseException as raised:
        error = _innermost(raised)
        if isinstance(error, KeyboardInterrupt):
            typer.echo("dyadflow: interrupted", err=True)
            raise SystemExit(130) from None
        if verbose:
            traceback.print_exception(raised)
        if isinstance(error, USER_ERRORS):
            typer.echo(f"dyadflow: error: {describe(error)}", err=True)
            raise SystemExit(2) from None
        typer.echo(
            f"dyadflow: error: internal error ({type(error).__name__}: {describe(error)}); "
            "this is a bug in dyadflow: please report it with the output of --verbose",
            err=True,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
