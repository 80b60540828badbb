"""The results directory of a run (one or several models side by side):

    coefficients.parquet / .csv        long, one row per (model, term): estimate, percentile CI (Wald when
                                       R = 0), bootstrap mean/sd, btergm's SE, z, p (tergm's Fit.to_frame)
    regression_table.csv               wide: one row per term (union of the models, first-appearance
                                       order), per model `<model>` (estimate) and `<model>_se` (SE)
    bootstrap_replicates.parquet/.csv  one row per (model, replicate): the periods it drew, convergence and
                                       its estimates (one column per term of the union; NaN where a term is
                                       not in that model)
    sensitivity.parquet / .csv         per rewiring level and term of the [sensitivity] model (if run)
    sensitivity_estimates.parquet      every refit's estimates, long form (if run)
    predictions.parquet, rocpr.parquet, auc.csv/.parquet
                                       the [validation] tables (tergm.prediction.ValidationResult.write)
    summary.txt                        the regression table, btergm-style summaries, sensitivity, AUC table
    run.json                           spec, models, validation split, seeds, data hashes, versions, timings

and, published by the flow: a Prefect table artifact of the coefficients and a markdown artifact (AUC
table, sensitivity headline, where report.html is), and report.html when dyadflow.report is installed.
"""

from __future__ import annotations

import json
import math
import platform
import re
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGES = ("dyadflow", "numpy", "numba", "scipy", "pandas", "pyarrow", "zarr", "dask", "distributed", "prefect")
COEFFICIENT_COLUMNS = ["model", "term", "Estimate", "2.5%", "97.5%", "boot_mean", "boot_sd", "Std.Err", "z", "p"]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def coefficient_table(fits: dict, logits: dict | None = None) -> pd.DataFrame:
    """One row per (model, term), models in the given order, terms in formula order. Plain logits
    (`logits`: model name -> tergm.logit.LogitFit) add their cluster-robust and conventional
    standard errors as `Std.Err.cluster`, `z.cluster`, `p.cluster`, `Std.Err.conventional`; the
    other columns stay the bootstrap's, as for every model."""
    frames = []
    for name, fit in fits.items():
        frame = fit.to_frame()
        if logits and name in logits:
            frame = pd.concat([frame, logit_columns(logits[name])], axis=1)
        frame = frame.reset_index()
        frame.insert(0, "model", name)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    known = [c for c in COEFFICIENT_COLUMNS if c in table.columns]
    return table[known + [c for c in table.columns if c not in known]]


def logit_columns(logit) -> pd.DataFrame:
    """A plain logit's conventional and (when clustered) cluster-robust SE, z and p, by term."""
    conventional = np.sqrt(np.diag(logit.vcov_conventional.to_numpy()))
    table = pd.DataFrame({"Std.Err.conventional": conventional}, index=logit.coef.index)
    if logit.covariance_cluster is not None:
        errors = logit.standard_errors()
        table.insert(0, "Std.Err.cluster", errors["Std.Err"].to_numpy())
        table.insert(1, "z.cluster", errors["z"].to_numpy())
        table.insert(2, "p.cluster", errors["p"].to_numpy())
    return table


def union_terms(fits: dict) -> list[str]:
    """Every model's terms once, in first-appearance order."""
    return list(dict.fromkeys(name for fit in fits.values() for name in fit.names))


def regression_table(coefficients: pd.DataFrame) -> pd.DataFrame:
    """Terms as rows; per model `<model>` (estimate) and `<model>_se` (btergm's bootstrap SE; Wald SE
    without replicates)."""
    terms = list(dict.fromkeys(coefficients["term"]))
    table = pd.DataFrame({"term": terms})
    for model, block in coefficients.groupby("model", sort=False):
        block = block.set_index("term")
        table[model] = block["Estimate"].reindex(terms).to_numpy()
        table[f"{model}_se"] = block["Std.Err"].reindex(terms).to_numpy()
    return table


def regression_table_text(coefficients: pd.DataFrame, designs: dict, fits: dict) -> str:
    """The models side by side as a regression table: terms as rows, models as columns, the estimate
    over its SE in parentheses, '*' where the 95 % interval (percentile bootstrap; Wald without
    replicates) excludes 0; then periods, dyads and replicates per model."""
    models = list(dict.fromkeys(coefficients["model"]))
    terms = list(dict.fromkeys(coefficients["term"]))
    cells: dict[str, list[str]] = {}
    for model in models:
        block = coefficients[coefficients["model"] == model].set_index("term")
        column = []
        for term in terms:
            if term not in block.index:
                column += ["", ""]
                continue
            row = block.loc[term]
            excludes_zero = row["2.5%"] > 0 or row["97.5%"] < 0
            column += [f"{row['Estimate']:.4f}{'*' if excludes_zero else ' '}", f"({row['Std.Err']:.4f}) "]
        design = designs.get(model)
        periods = list(design.periods) if design is not None else []
        span = f"{periods[0]}-{periods[-1]}" if len(periods) > 1 else (periods[0] if periods else "")
        column += [
            span,
            str(len(periods)),
            f"{design.rows:,}" if design is not None else "",
            str(int(getattr(fits[model], "R", 0))),
        ]
        cells[model] = column
    labels = [label for term in terms for label in (term, "")] + ["Periods", "Time steps", "Dyads", "Replicates"]
    first = max(len(label) for label in labels)
    widths = {m: max(len(m), *(len(c) for c in cells[m])) for m in models}
    rule = "-" * (first + sum(widths[m] + 2 for m in models))
    lines = [" " * first + "".join("  " + m.rjust(widths[m]) for m in models), rule]
    for k, label in enumerate(labels):
        if k == 2 * len(terms):
            lines.append(rule)
        lines.append(label.ljust(first) + "".join("  " + cells[m][k].rjust(widths[m]) for m in models))
    lines.append(rule)
    lines.append(
        "Estimates with standard errors in parentheses (btergm's bootstrap SE; without replicates the\n"
        "MPLE's inverse-Hessian SE, or the MCMC-MLE's); * the 95 % interval (bootstrap percentile;\n"
        "Wald without replicates) excludes 0."
    )
    return "\n".join(lines)


def replicate_table(fits: dict, designs: dict) -> pd.DataFrame | None:
    """Long over models: model, replicate, periods, converged, one column per term of the union."""
    terms = union_terms(fits)
    frames = []
    for name, fit in fits.items():
        if not getattr(fit, "R", 0):
            continue
        periods = designs[name].periods
        frame = pd.DataFrame(fit.replicates, columns=fit.names).reindex(columns=terms)
        frame.insert(0, "model", name)
        frame.insert(1, "replicate", np.arange(1, fit.R + 1))
        frame.insert(2, "periods", [" ".join(periods[t] for t in row) for row in fit.resamples])
        frame.insert(3, "converged", fit.replicate_converged)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def write_report(spec, outcome, *, seeds: dict, period_hashes: dict[str, str]) -> Path:
    out = Path(outcome.output)
    out.mkdir(parents=True, exist_ok=True)
    fits, designs = outcome.fits, outcome.designs
    coefficients = coefficient_table(fits, outcome.logits)
    _write_table(coefficients, out / "coefficients")
    regression_table(coefficients).to_csv(out / "regression_table.csv", index=False)
    replicates = replicate_table(fits, designs)
    if replicates is not None:
        _write_table(replicates, out / "bootstrap_replicates")
    summary_parts = [f"Models side by side ({len(fits)})\n" + regression_table_text(coefficients, designs, fits)]
    for name, fit in fits.items():
        summary_parts.append(f"Model {name!r}\n{fit.summary()}")
        if name in outcome.logits:
            summary_parts.append(f"Model {name!r} as a plain logit\n{outcome.logits[name].summary()}")
    if outcome.sensitivity is not None:
        model = outcome.sensitivity_model
        names = list(fits[model].names)
        table = outcome.sensitivity.copy()
        table.insert(0, "model", model)
        _write_table(table, out / "sensitivity")
        levels, sims, p = outcome.sensitivity_estimates.shape
        long = pd.DataFrame(
            {
                "model": model,
                "level": np.repeat(np.asarray(spec.sensitivity.levels, dtype=float), sims * p),
                "simulation": np.tile(np.repeat(np.arange(sims), p), levels),
                "term": np.tile(np.asarray(names, dtype=object), levels * sims),
                "estimate": outcome.sensitivity_estimates.reshape(-1),
            }
        )
        long.to_parquet(out / "sensitivity_estimates.parquet", index=False)
        view = outcome.sensitivity[["level", "term", "baseline", "mean", "sd", "q025", "q975", "sign_kept"]]
        summary_parts.append(
            f"Sensitivity of model {model!r}: {spec.sensitivity.simulations} refits per level, "
            f"{spec.sensitivity.mode} rewiring\n" + view.to_string(index=False, float_format=lambda v: f"{v:.4f}")
        )
    if outcome.validation is not None:
        summary_parts.append(outcome.validation.summary())
    for stem, table in outcome.interpretation.items():  # profiles, marginal_effects, edge_probabilities
        table.to_parquet(out / f"{stem}.parquet", index=False)
    if "marginal_effects" in outcome.interpretation:
        effects = outcome.interpretation["marginal_effects"]
        summary_parts.append(
            f"Average marginal effects (model {effects['model'].iloc[0]!r}; change in tie probability per unit)\n"
            + effects.to_string(index=False, float_format=lambda v: f"{v:.4f}")
        )
    if outcome.skipped:
        summary_parts.append(
            f"Not run ({outcome.engine} engine):\n" + "\n".join(f"  {k}: {v}" for k, v in outcome.skipped.items())
        )
    (out / "summary.txt").write_text("\n\n".join(summary_parts) + "\n")
    first = next(iter(designs.values()))
    record = {
        "spec": json.loads(json.dumps(spec.source, default=str)),
        "formula": spec.formula,
        "models": spec.formulas,
        "model_settings": {
            m.name: {"estimate": m.estimate, "R": m.R, "seed": m.seed, "batch_size": m.batch_size} for m in spec.models
        },
        "seeds": seeds,
        "bootstrap": {"R": spec.R, "batch_size": spec.batch_size},
        "data": {
            "dataset_spec": str(spec.dataset),
            "store": str(spec.store),
            "dataset_hash": outcome.data_hash,
            "period_hashes": dict(period_hashes),
        },
        "design": _design_record(first),
        "designs": {name: _design_record(design) for name, design in designs.items()},
        "cluster": {"kind": spec.cluster.kind, "workers": spec.cluster.workers, "address": spec.cluster.address},
        "versions": package_versions(),
        "timings_s": dict(outcome.timings),
        "engine": outcome.engine,
        "skipped": dict(outcome.skipped),
    }
    if outcome.validation is not None:
        record["validation"] = {
            "train": list(outcome.validation.train),
            "test": list(outcome.validation.test),
            "simulate": spec.validation.simulate,
            "models": list(spec.validation.models),
        }
    if outcome.sensitivity_model is not None:
        record["sensitivity_model"] = outcome.sensitivity_model
    if outcome.gof_model is not None:
        record["gof_model"] = outcome.gof_model
    (out / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return out


def _design_record(design) -> dict:
    return {"rows": design.rows, "terms": list(design.names), "periods": list(design.periods)}


def _write_table(frame: pd.DataFrame, stem: Path) -> None:
    frame.to_parquet(stem.with_suffix(".parquet"), index=False)
    frame.to_csv(stem.with_suffix(".csv"), index=False)


# ------------------------------------------------------------------------------ report.html, Prefect UI


def write_html_report(directory: Path) -> Path | None:
    """report.html (dyadflow.report) for the results directory; None when the report package is not
    installed. A report that cannot be rendered is a warning, not a failed run: the results are written."""
    try:
        from dyadflow.report import write_report_html
    except ImportError:
        return None
    try:
        return Path(write_report_html(directory))
    except Exception as error:  # the run's tables are written; the rendered view must not lose them
        warnings.warn(f"report.html was not written: {error}", stacklevel=2)
        return None


def publish_artifacts(spec, outcome, html: Path | None) -> None:
    """Inside a Prefect flow run: a table artifact of the coefficients and a markdown artifact with the
    AUC table, the sensitivity headline and the path of report.html (nothing outside a flow run)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return
    slug = artifact_key(Path(outcome.output).name)
    coefficients = pd.read_parquet(Path(outcome.output) / "coefficients.parquet")
    create_table_artifact(
        table=[{k: _json_value(v) for k, v in row.items()} for row in coefficients.to_dict(orient="records")],
        key=f"{slug}-coefficients",
        description=f"dyadflow coefficients, models {', '.join(outcome.fits)} ({outcome.output})",
    )
    create_markdown_artifact(
        markdown=run_markdown(spec, outcome, html),
        key=f"{slug}-summary",
        description=f"dyadflow run summary ({outcome.output})",
    )


def artifact_key(name: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return f"dyadflow-{slug or 'results'}"


def run_markdown(spec, outcome, html: Path | None) -> str:
    lines = [f"# dyadflow run: {', '.join(outcome.fits)}", "", f"Results: `{outcome.output}`", ""]
    lines.append(
        f"report.html: `{html}`"
        if html is not None
        else "report.html: not written (install the dyadflow report package)"
    )
    lines.append("")
    if outcome.validation is not None:
        auc = outcome.validation.auc
        lines += [
            f"## Out-of-sample prediction (trained on {_span(outcome.validation.train)}, tested on "
            f"{', '.join(outcome.validation.test)})",
            "",
            "kind = mple: conditional on the observed test network (flatters network models); "
            "kind = simulation: leak-free.",
            "",
        ]
        lines += _markdown_table(auc[["model", "kind", "period", "roc_auc", "pr_auc"]])
        lines.append("")
    if outcome.sensitivity is not None:
        lines += ["## Sensitivity", "", sensitivity_headline(spec, outcome), ""]
    return "\n".join(lines)


def sensitivity_headline(spec, outcome) -> str:
    """At the highest rewiring level: the share of refits keeping each term's baseline sign."""
    table = outcome.sensitivity
    top = float(table["level"].max())
    rows = table[table["level"] == top]
    kept = ", ".join(f"{row.term} {100 * row.sign_kept:.0f} %" for row in rows.itertuples())
    return (
        f"Model {outcome.sensitivity_model!r}, {spec.sensitivity.mode} rewiring, "
        f"{spec.sensitivity.simulations} refits per level: at {100 * top:g} % of ties rewired, "
        f"the refits keep the baseline's sign for {kept}."
    )


def _span(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    def cell(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return lines


def _json_value(value):
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
