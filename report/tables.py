"""The regression table (terms x models) in texreg's layout: the estimate, marked when its 95 % interval
excludes 0, and its standard error in parentheses below, as HTML rows, booktabs LaTeX and Markdown.

Standard errors: the `<model>_se` column of regression_table.csv when the run wrote one, otherwise the
bootstrap standard deviation of the replicates (`boot_sd`), otherwise (no bootstrap) `Std.Err` (ergm's
MPLE standard error); the table's note says which. The marks always come from the interval columns of
coefficients.parquet (percentile bootstrap intervals, Wald without a bootstrap), as texreg marks btergm
fits: "0 outside the 95 % confidence interval".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MARK = "*"


@dataclass(frozen=True)
class Cell:
    estimate: float
    se: float
    significant: bool

    def estimate_text(self, digits: int = 3) -> str:
        return _number(self.estimate, digits)

    def se_text(self, digits: int = 3) -> str:
        return "" if not math.isfinite(self.se) else f"({_number(self.se, digits)})"


@dataclass(frozen=True)
class RegressionTable:
    models: list[str]
    terms: list[str]
    cells: dict[tuple[str, str], Cell]  # (term, model) -> cell; absent when the model lacks the term
    se_source: str  # what the parenthesised numbers are

    @property
    def note(self) -> str:
        return f"{MARK} 0 outside the 95 % confidence interval; {self.se_source} in parentheses"

    def rows(self, digits: int = 3) -> list[dict]:
        """For the HTML template: per term, the estimate texts (with marks) and the SE texts per model."""
        out = []
        for term in self.terms:
            estimates, ses = [], []
            for model in self.models:
                cell = self.cells.get((term, model))
                estimates.append(
                    "" if cell is None else cell.estimate_text(digits) + (MARK if cell.significant else "")
                )
                ses.append("" if cell is None else cell.se_text(digits))
            out.append({"term": term, "estimates": estimates, "ses": ses})
        return out


def _number(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return "NA"
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text in ("-0." + "0" * digits,) else text.replace("-", "\u2212")


def regression_table(coefficients: pd.DataFrame, wide: pd.DataFrame | None = None) -> RegressionTable:
    """The table of `coefficients` (long: model, term, Estimate, 2.5%, 97.5%, boot_sd / Std.Err) and, when
    given, regression_table.csv (`wide`: term, <model>, <model>_se) for the standard errors."""
    table = coefficients if "model" in coefficients.columns else coefficients.assign(model="model")
    models = list(dict.fromkeys(table["model"].astype(str)))
    terms = list(dict.fromkeys(table["term"].astype(str)))
    if wide is not None and all(f"{m}_se" in wide.columns for m in models):
        se_source = "bootstrap standard errors"
        wide_se = {(str(r["term"]), m): float(r[f"{m}_se"]) for _, r in wide.iterrows() for m in models}
    else:
        wide_se = None
        has_boot = "boot_sd" in table.columns and np.isfinite(table["boot_sd"].to_numpy(float)).any()
        se_source = "bootstrap standard errors" if has_boot else "MPLE standard errors (no bootstrap)"
    cells = {}
    for row in table.to_dict("records"):
        term, model = str(row["term"]), str(row["model"])
        if wide_se is not None:
            se = wide_se.get((term, model), float("nan"))
        else:
            boot = float(row.get("boot_sd", float("nan")))
            se = boot if math.isfinite(boot) else float(row.get("Std.Err", float("nan")))
        lo, hi = float(row["2.5%"]), float(row["97.5%"])
        cells[(term, model)] = Cell(float(row["Estimate"]), se, bool(lo > 0 or hi < 0))
    return RegressionTable(models, terms, cells, se_source)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(
    table: RegressionTable,
    digits: int = 3,
    caption: str = "Bootstrapped TERGM estimates",
    label: str = "table:coefficients",
) -> str:
    """booktabs LaTeX in texreg's layout (needs \\usepackage{booktabs})."""
    columns = len(table.models) + 1
    lines = [
        r"\begin{table}",
        r"\begin{center}",
        r"\begin{tabular}{l " + " ".join("c" * len(table.models)) + "}",
        r"\toprule",
        " & " + " & ".join(latex_escape(m) for m in table.models) + r" \\",
        r"\midrule",
    ]
    for row in table.rows(digits):
        estimates = [_latex_number(t) for t in row["estimates"]]
        ses = [_latex_number(t) for t in row["ses"]]
        lines.append(f"{latex_escape(row['term'])} & " + " & ".join(estimates) + r" \\")
        lines.append(" & " + " & ".join(ses) + r" \\")
    lines += [
        r"\bottomrule",
        rf"\multicolumn{{{columns}}}{{l}}{{\scriptsize{{$^{{*}}$ 0 outside the 95\% confidence interval; "
        rf"{latex_escape(table.se_source)} in parentheses}}}}",
        r"\end{tabular}",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        r"\end{center}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _latex_number(text: str) -> str:
    if not text:
        return ""
    text = text.replace("\u2212", "-")
    if text.endswith(MARK):
        return f"${text[:-1]}^{{*}}$"
    return f"${text}$"


def to_markdown(table: RegressionTable, digits: int = 3) -> str:
    """A Markdown (GitHub) table: the estimate row of each term, then its SE row."""

    def escape(text: str) -> str:
        return str(text).replace("|", r"\|").replace("*", r"\*")

    lines = [
        "| | " + " | ".join(escape(m) for m in table.models) + " |",
        "|:--|" + "|".join(":-:" for _ in table.models) + "|",
    ]
    for row in table.rows(digits):
        lines.append(f"| {escape(row['term'])} | " + " | ".join(escape(t) for t in row["estimates"]) + " |")
        lines.append("| | " + " | ".join(row["ses"]) + " |")
    lines.append("")
    lines.append(escape(table.note))
    return "\n".join(lines) + "\n"
