"""`write_report_html(results_dir)`: report.html, figures/*.pdf|png and regression_table.tex|.md of a
results directory, made only from the tables the run wrote (report/results.py).

Everything is rendered in memory first; files are then written each to a temporary name and renamed, and
report.html last, so bad input writes nothing and a crash never leaves a half-written file. The page is one
self-contained file (figures as SVG data URIs, inline CSS, no scripts, no fonts, no links fetched). The same
directory gives the same bytes every time apart from the generation time line.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dyadflow.report import figures
from dyadflow.report.results import Results, load_results
from dyadflow.report.tables import RegressionTable, regression_table, to_latex, to_markdown

TEMPLATE = "report.html.j2"
TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class FigureOut:
    stem: str  # figures/<stem>.pdf|png
    caption: str
    svg: bytes
    pdf: bytes
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode("ascii")


@dataclass
class TableOut:
    caption: str
    columns: list[str]
    rows: list[list[str]]
    text_columns: int = 1  # the first columns hold labels (left-aligned), the rest numbers


@dataclass
class Section:
    id: str
    title: str
    ran: bool
    missing: str = ""  # why the section is empty: said on the page
    notes: list[str] = field(default_factory=list)
    figures: list[FigureOut] = field(default_factory=list)
    tables: list[TableOut] = field(default_factory=list)
    regression: RegressionTable | None = None  # the regression section only


def _text(value, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return "NA"
        small = number != 0 and abs(number) < 1e-3
        return f"{number:.{digits}g}" if abs(number) >= 1e4 or small else f"{number:.{digits}f}"
    return str(value)


def _frame_table(caption: str, frame: pd.DataFrame, digits: int = 4) -> TableOut:
    numeric = [
        pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns
    ]
    leading = next((k for k, is_number in enumerate(numeric) if is_number), len(numeric))
    return TableOut(
        caption,
        [str(c) for c in frame.columns],
        [[_text(v, digits) for v in row] for row in frame.itertuples(index=False)],
        text_columns=leading,
    )


def _figure(stem: str, caption: str, fig) -> FigureOut:
    return FigureOut(
        stem,
        caption,
        figures.figure_bytes(fig, "svg"),
        figures.figure_bytes(fig, "pdf"),
        figures.figure_bytes(fig, "png"),
    )


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"


# ---- sections ---------------------------------------------------------------------------------------------


def _overview(results: Results) -> tuple[list[tuple[str, str]], dict]:
    run = results.run
    data = run.get("data") or {}
    design = run.get("design") or {}
    periods = [str(p) for p in design.get("periods") or []]
    rows = [("results directory", results.directory.name)]
    rows.append(("dataset spec", _text(data.get("dataset_spec", "not recorded"))))
    if data.get("store"):
        rows.append(("store", _text(data["store"])))
    rows.append(("dataset hash", _text(data.get("dataset_hash", "not recorded"))))
    rows.append(("periods", f"{len(periods)} ({periods[0]} to {periods[-1]})" if periods else "not recorded"))
    nodes = data.get("nodes", (run.get("panel") or {}).get("nodes"))
    rows.append(("nodes", _text(nodes) if nodes is not None else "not recorded in run.json"))
    if design.get("rows") is not None:
        rows.append(("dyad-periods in the design", _text(design["rows"])))
    models = run.get("models") or ({"model": run["formula"]} if run.get("formula") else {})
    for name, formula in models.items():
        rows.append((f"formula ({name})" if len(models) > 1 else "formula", _text(formula)))
    bootstrap = run.get("bootstrap") or {}
    if bootstrap:
        rows.append(("bootstrap", ", ".join(f"{k} = {_text(v)}" for k, v in bootstrap.items())))
    seeds = run.get("seeds") or {}
    rows.append(("seeds", ", ".join(f"{k} = {_text(v)}" for k, v in seeds.items()) or "not recorded"))
    validation = run.get("validation") or {}
    for part in ("train", "test"):
        if validation.get(part):
            rows.append((f"{part} periods", ", ".join(str(p) for p in validation[part])))
    cluster = run.get("cluster") or {}
    if cluster:
        rows.append(("cluster", ", ".join(f"{k} = {_text(v)}" for k, v in cluster.items() if v is not None)))
    ties = _ties_per_period(results)
    extra = {
        "ties": ties,
        "hashes": [[str(k), str(v)] for k, v in (data.get("period_hashes") or {}).items()],
        "versions": [[str(k), str(v)] for k, v in (run.get("versions") or {}).items()],
        "timings": [[str(k), _text(v, 3)] for k, v in (run.get("timings_s") or {}).items()],
        "spec": json.dumps(run.get("spec", {}), indent=2, sort_keys=False, default=str),
        "files": list(results.files),
    }
    return rows, extra


def _ties_per_period(results: Results) -> list[list[str]]:
    recorded = (results.run.get("data") or {}).get("ties_per_period")
    if isinstance(recorded, dict):
        return [[str(k), _text(v)] for k, v in recorded.items()]
    if results.edges is not None:
        counts = results.edges.groupby(results.edges["period"].astype(str), sort=False)["tie"].sum()
        return [[p, _text(int(c))] for p, c in counts.items()]
    return []


def _with_reason(section: Section, results: Results) -> Section:
    """A section the run skipped on purpose (run.json's `skipped`: section id -> why) says why."""
    reason = (results.run.get("skipped") or {}).get(section.id)
    if section.ran or not isinstance(reason, str):
        return section
    return replace(section, missing=f"{section.missing} This run skipped it: {reason}".strip())


def _regression_section(results: Results) -> Section:
    table = regression_table(results.coefficients, results.regression_table)
    return Section(
        "regression",
        "Regression table",
        True,
        regression=table,
        notes=["Also written as regression_table.tex (booktabs) and regression_table.md."],
    )


def _coefficient_section(results: Results) -> Section:
    fig = figures.coefficients(results.coefficients)
    bootstrap = results.replicates is not None
    kind = "percentile bootstrap" if bootstrap else "Wald (MPLE, no bootstrap)"
    return Section(
        "coefficients",
        "Coefficient plot",
        True,
        figures=[
            _figure(
                "coefficients", f"Estimates with 95 % {kind} intervals; filled points: the interval excludes 0.", fig
            )
        ],
    )


def _bootstrap_section(results: Results) -> Section:
    if results.replicates is None:
        return Section(
            "bootstrap",
            "Bootstrap diagnostics",
            False,
            missing="No bootstrap was run for this results directory (no bootstrap_replicates.parquet): "
            "the intervals are Wald intervals from the MPLE.",
        )
    reps = results.replicates
    fixed = {"model", "replicate", "periods", "converged"}
    summary, failed = [], []
    for model, frame in reps.groupby(reps["model"].astype(str), sort=False):
        terms = [c for c in frame.columns if c not in fixed and frame[c].notna().any()]
        bad = ~frame["converged"].astype(bool) | ~np.isfinite(frame[terms].to_numpy(float)).all(axis=1)
        summary.append([model, _text(len(frame)), _text(int((~bad).sum())), _text(int(bad.sum()))])
        for row in frame[bad].itertuples(index=False):
            failed.append([model, _text(row.replicate), _text(getattr(row, "periods", "")), _text(bool(row.converged))])
    section = Section(
        "bootstrap",
        "Bootstrap diagnostics",
        True,
        figures=[
            _figure(
                "bootstrap",
                "Distribution of the converged replicates' estimates; line: the estimate on all periods.",
                figures.bootstrap(reps, results.coefficients),
            )
        ],
    )
    section.tables.append(TableOut("Replicates per model", ["model", "replicates", "used", "failed"], summary))
    if failed:
        section.tables.append(
            TableOut(
                "Failed replicates (not converged or non-finite; left out of the intervals)",
                ["model", "replicate", "periods drawn", "converged"],
                failed,
                text_columns=4,
            )
        )
    else:
        section.notes.append("Every replicate converged.")
    return section


def _prediction_section(results: Results) -> Section:
    if results.rocpr is None:
        return Section(
            "prediction",
            "Out-of-sample prediction",
            False,
            missing="Prediction was not run for this results directory (no rocpr.parquet / auc.csv).",
        )
    auc = results.auc
    section = Section("prediction", "Out-of-sample prediction", True)
    section.notes += [
        "MPLE predictions are conditional on the observed test network (each dyad's change statistics are "
        "computed from the other observed ties of the test period), so they use information a forecast would "
        "not have; simulation predictions are leak-free (tie probabilities from networks simulated from the "
        "fit, without the test period's ties).",
        "Dashed grey: the random-graph baseline (every dyad scored alike).",
    ]
    section.figures.append(
        _figure("roc_pr", "ROC and precision-recall curves with their areas (AUC).", figures.roc_pr(results.rocpr, auc))
    )
    if auc is not None:
        columns = [
            c
            for c in (
                "model",
                "kind",
                "period",
                "roc_auc",
                "pr_auc",
                "average_precision",
                "pr_auc_trapezoid",
                "n_positive",
                "n_negative",
            )
            if c in auc.columns
        ]
        section.tables.append(_frame_table("Areas under the curves (PR-AUC: Davis-Goadrich)", auc[columns]))
    return section


def _interpretation_section(results: Results) -> Section:
    if results.profiles is None and results.marginal_effects is None:
        return Section(
            "interpretation",
            "Interpretation",
            False,
            missing="No interpretation tables were written (no profiles.parquet, marginal_effects.parquet).",
        )
    section = Section("interpretation", "Interpretation", True)
    if results.profiles is not None:
        interval = figures.profile_interval(results.profiles) or "bootstrap"
        section.figures.append(
            _figure(
                "profiles",
                f"Predicted tie probability by value, with 95 % {interval} intervals.",
                figures.profiles(results.profiles),
            )
        )
    else:
        section.notes.append("No probability profiles (profiles.parquet) were written.")
    if results.marginal_effects is not None:
        columns = [c for c in ("model", "term", "effect", "lower", "upper") if c in results.marginal_effects.columns]
        section.tables.append(
            _frame_table(
                "Average marginal effects on the tie probability (95 % bootstrap interval)",
                results.marginal_effects[columns],
            )
        )
    else:
        section.notes.append("No marginal effects (marginal_effects.parquet) were written.")
    return section


def _gof_section(results: Results) -> Section:
    if results.gof is None:
        return Section(
            "gof",
            "Goodness of fit",
            False,
            missing="Goodness of fit was not run for this results directory (no gof.parquet).",
        )
    section = Section("gof", "Goodness of fit", True)
    models = [str(m) for m in pd.unique(results.gof["model"])]
    for model in models:
        stem = "gof" if len(models) == 1 else f"gof_{_safe_stem(model)}"
        section.figures.append(
            _figure(
                stem,
                f"{model}: simulated distributions (boxes: quartiles, whiskers: 2.5-97.5 %) and the observed "
                "statistics (line).",
                figures.gof(results.gof, results.gof_simulated, model=model),
            )
        )
    table = results.gof
    if "sim_lower" in table.columns and "sim_upper" in table.columns:
        rows = []
        for (model, period), frame in table.groupby(
            [table["model"].astype(str), table["period"].astype(str)], sort=False
        ):
            outside = (frame["observed"] < frame["sim_lower"]) | (frame["observed"] > frame["sim_upper"])
            rows.append([model, period, _text(len(frame)), _text(int(outside.sum()))])
        section.tables.append(
            TableOut(
                "Observed values outside the simulated 95 % range",
                ["model", "period", "values", "outside"],
                rows,
                text_columns=2,
            )
        )
    diagnostics = results.mcmc_diagnostics
    if diagnostics is not None:
        warned = diagnostics[diagnostics["warning"].fillna("").astype(str) != ""]
        if len(warned):
            section.tables.append(_frame_table("MCMC warnings", warned[["model", "period", "term", "warning"]]))
        else:
            section.notes.append("No MCMC warnings: every chain mixed.")
    return section


def _sensitivity_section(results: Results) -> Section:
    if results.sensitivity is None:
        return Section(
            "sensitivity",
            "Rewiring sensitivity",
            False,
            missing="No rewiring sensitivity batch was run for this results directory (no sensitivity.parquet).",
        )
    table = results.sensitivity
    section = Section(
        "sensitivity",
        "Rewiring sensitivity",
        True,
        figures=[
            _figure(
                "sensitivity",
                "Mean estimate per rewiring level with the 2.5-97.5 % range of the refits; dashed: the "
                "estimate on the observed networks.",
                figures.sensitivity(table),
            )
        ],
    )
    top = table[table["level"] == table["level"].max()]
    columns = [
        c
        for c in ("model", "term", "baseline", "mean", "q025", "q975", "sign_kept", "refits", "failed")
        if c in top.columns
    ]
    section.tables.append(
        _frame_table(f"At the highest rewiring level ({_text(float(table['level'].max()), 2)})", top[columns])
    )
    return section


def _snapshot_section(results: Results) -> Section:
    if results.edges is None or not len(results.edges):
        return Section(
            "snapshots",
            "Network snapshots",
            False,
            missing="This results directory holds no edge data (edge_probabilities.parquet), so no "
            "network snapshots are drawn.",
        )
    return Section(
        "snapshots",
        "Network snapshots",
        True,
        figures=[
            _figure(
                "snapshots",
                "Observed ties in evenly spaced periods; every node keeps its place across periods.",
                figures.snapshots(results.edges),
            )
        ],
    )


SECTIONS = (
    _regression_section,
    _coefficient_section,
    _bootstrap_section,
    _prediction_section,
    _interpretation_section,
    _gof_section,
    _sensitivity_section,
    _snapshot_section,
)


# ---- writing ----------------------------------------------------------------------------------------------


def _write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(content)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def render_report(results: Results, generated_at: str) -> tuple[str, list[Section]]:
    """The page's HTML and its sections (with the rendered figures), nothing written."""
    sections = [_with_reason(build(results), results) for build in SECTIONS]
    overview, extra = _overview(results)
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = environment.get_template(TEMPLATE).render(
        title=f"dyadflow report: {results.directory.name}",
        generated_at=generated_at,
        overview=overview,
        extra=extra,
        sections=sections,
        models=results.models,
    )
    return html, sections


def write_report_html(results_dir, *, generated_at: str | None = None) -> Path:
    """Write report.html, figures/<name>.pdf|png and regression_table.tex|.md into `results_dir` (a results
    directory: run.json, coefficients.parquet, ...) and return report.html's path. Reads only the
    directory's tables; raises report.ReportError naming the file when one is missing or unreadable, before
    anything is written. `generated_at`: the time shown on the page (default: now, UTC)."""
    directory = Path(results_dir)
    results = load_results(directory)
    generated_at = generated_at or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    html, sections = render_report(results, generated_at)
    regression = next(s.regression for s in sections if s.regression is not None)
    outputs: list[tuple[Path, bytes]] = []
    for section in sections:
        for figure in section.figures:
            outputs.append((directory / "figures" / f"{figure.stem}.pdf", figure.pdf))
            outputs.append((directory / "figures" / f"{figure.stem}.png", figure.png))
    outputs.append((directory / "regression_table.tex", to_latex(regression).encode("utf-8")))
    outputs.append((directory / "regression_table.md", to_markdown(regression).encode("utf-8")))
    outputs.append((directory / "report.html", html.encode("utf-8")))  # last: its presence means complete
    (directory / "figures").mkdir(exist_ok=True)
    for path, content in outputs:
        _write_atomic(path, content)
    return directory / "report.html"
