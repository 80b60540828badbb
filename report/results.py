"""Reading a results directory (docs: /RESULTS_CONTRACT, flows/report.py, tergm/gof.py write_gof).

`load_results(directory)` reads every table the run wrote, checks the columns the report uses, and
returns them in one `Results`; nothing is recomputed. A directory without run.json is not a results
directory; a table that cannot be read, lacks a column, or is missing although run.json says its stage
ran raises ReportError naming the file.

Both layouts of the coefficient and replicate tables are accepted: the multi-model one (first column
`model`) and the single-model one written before it (no `model` column: the model is named "model").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SINGLE_MODEL = "model"


class ReportError(ValueError):
    """A results directory the report cannot be made from; the message names the file."""


# file -> columns the report reads (more columns are fine)
REQUIRED_COLUMNS = {
    "coefficients.parquet": ["term", "Estimate", "2.5%", "97.5%"],
    "regression_table.csv": ["term"],
    "bootstrap_replicates.parquet": ["replicate", "converged"],
    "sensitivity.parquet": ["level", "term", "baseline", "mean", "q025", "q975"],
    "gof.parquet": ["model", "period", "statistic", "value", "observed"],
    "gof_simulated.parquet": ["model", "period", "statistic", "value", "draw", "count"],
    "mcmc_diagnostics.parquet": ["model", "period", "term", "warning"],
    "rocpr.parquet": ["model", "kind", "period", "curve", "x", "y"],
    "auc.parquet": ["model", "kind", "period", "roc_auc", "pr_auc"],
    "auc.csv": ["model", "kind", "period", "roc_auc", "pr_auc"],
    "profiles.parquet": ["model", "statistic", "value", "mean_probability", "lower", "upper"],
    "marginal_effects.parquet": ["model", "term", "effect", "lower", "upper"],
    "edge_probabilities.parquet": ["period", "i", "j", "tie"],
}
# Tables that only make sense together: having the first without the second is a broken directory.
COMPANIONS = {
    "gof.parquet": "gof_simulated.parquet",
    "gof_simulated.parquet": "gof.parquet",
    "rocpr.parquet": "auc",
}
# run.json's timings_s records the stages that ran; each stage's table must then exist.
STAGE_TABLES = {
    "bootstrap": "bootstrap_replicates.parquet",
    "sensitivity": "sensitivity.parquet",
    "gof": "gof.parquet",
    "predict": "rocpr.parquet",
    "prediction": "rocpr.parquet",
}


@dataclass
class Results:
    directory: Path
    run: dict
    coefficients: pd.DataFrame  # long: model, term, Estimate, 2.5%, 97.5%, ...
    regression_table: pd.DataFrame | None = None
    replicates: pd.DataFrame | None = None  # model, replicate, periods, converged, <terms>
    sensitivity: pd.DataFrame | None = None
    gof: pd.DataFrame | None = None
    gof_simulated: pd.DataFrame | None = None
    mcmc_diagnostics: pd.DataFrame | None = None
    rocpr: pd.DataFrame | None = None
    auc: pd.DataFrame | None = None
    profiles: pd.DataFrame | None = None
    marginal_effects: pd.DataFrame | None = None
    edges: pd.DataFrame | None = None  # period, i, j, tie (observed ties; from edge_probabilities)
    files: list[str] = field(default_factory=list)  # the tables read, for the report's provenance

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.coefficients["model"]))


def _read(directory: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = directory / name
    try:
        if name.endswith(".parquet"):
            frame = pd.read_parquet(path, columns=columns and _existing_columns(path, columns))
        else:
            frame = pd.read_csv(path)
    except Exception as error:  # pyarrow / pandas raise many types for a damaged file
        raise ReportError(f"{path}: cannot be read as a {Path(name).suffix[1:]} table ({error})") from error
    missing = [c for c in REQUIRED_COLUMNS.get(name, []) if c not in frame.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}; has {list(frame.columns)}")
    return frame


def _existing_columns(path: Path, wanted: list[str]) -> list[str]:
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    return [c for c in wanted if c in names]


def _with_model_column(frame: pd.DataFrame) -> pd.DataFrame:
    if "model" in frame.columns:
        return frame
    frame = frame.copy()
    frame.insert(0, "model", SINGLE_MODEL)
    return frame


def load_results(directory) -> Results:
    """Every table of the results directory `directory` (see the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"{directory}: not a directory")
    run_path = directory / "run.json"
    if not run_path.is_file():
        raise ReportError(f"{directory}: not a results directory (no run.json)")
    try:
        run = json.loads(run_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ReportError(f"{run_path}: not valid JSON ({error})") from error
    if not isinstance(run, dict):
        raise ReportError(f"{run_path}: expected a JSON object, got {type(run).__name__}")

    present = {p.name for p in directory.iterdir() if p.is_file()}
    if "coefficients.parquet" not in present:
        raise ReportError(f"{directory / 'coefficients.parquet'}: missing (every run writes it)")
    timings = run.get("timings_s") or {}
    for stage, table in STAGE_TABLES.items():
        if stage in timings and table not in present:
            raise ReportError(f"{directory / table}: missing, although run.json says the {stage} stage ran")
    for table, companion in COMPANIONS.items():
        if table in present:
            found = ({"auc.parquet", "auc.csv"} & present) if companion == "auc" else {companion} & present
            if not found:
                wanted = "auc.parquet or auc.csv" if companion == "auc" else companion
                raise ReportError(f"{directory / wanted}: missing, although {table} is there")

    def optional(name, columns=None):
        if name not in present:
            return None
        files.append(name)
        return _read(directory, name, columns)

    files: list[str] = ["run.json", "coefficients.parquet"]
    coefficients = _with_model_column(_read(directory, "coefficients.parquet"))
    results = Results(directory=directory, run=run, coefficients=coefficients, files=files)
    results.regression_table = optional("regression_table.csv")
    replicates = optional("bootstrap_replicates.parquet")
    results.replicates = None if replicates is None else _with_model_column(replicates)
    sensitivity = optional("sensitivity.parquet")
    results.sensitivity = None if sensitivity is None else _with_model_column(sensitivity)
    results.gof = optional("gof.parquet")
    results.gof_simulated = optional("gof_simulated.parquet")
    results.mcmc_diagnostics = optional("mcmc_diagnostics.parquet")
    results.rocpr = optional("rocpr.parquet")
    results.auc = optional("auc.parquet") if "auc.parquet" in present else optional("auc.csv")
    results.profiles = optional("profiles.parquet")
    results.marginal_effects = optional("marginal_effects.parquet")
    edges = optional("edge_probabilities.parquet", ["period", "i", "j", "tie", "model"])
    if edges is not None:
        if "model" in edges.columns:  # the observed ties are the same for every model
            edges = edges[edges["model"] == edges["model"].iloc[0]] if len(edges) else edges
        results.edges = edges[["period", "i", "j", "tie"]].reset_index(drop=True)
    _check_values(results)
    return results


def _check_values(results: Results) -> None:
    """Checks beyond the columns that would otherwise surface as a confusing plot."""
    d = results.directory
    if results.coefficients.empty:
        raise ReportError(f"{d / 'coefficients.parquet'}: has no rows")
    for name, frame, column in (
        ("coefficients.parquet", results.coefficients, "Estimate"),
        ("rocpr.parquet", results.rocpr, "x"),
        ("rocpr.parquet", results.rocpr, "y"),
        ("profiles.parquet", results.profiles, "mean_probability"),
    ):
        if frame is not None and not pd.api.types.is_numeric_dtype(frame[column]):
            raise ReportError(f"{d / name}: column {column!r} is not numeric ({frame[column].dtype})")
    if results.rocpr is not None:
        curves = {str(c) for c in pd.unique(results.rocpr["curve"])}
        if not curves <= {"roc", "pr"}:
            raise ReportError(
                f"{d / 'rocpr.parquet'}: column 'curve' has values {sorted(curves - {'roc', 'pr'})}; "
                "expected 'roc' or 'pr'"
            )
