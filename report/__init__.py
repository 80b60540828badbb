"""The report layer: tables and figures of a results directory, read only (never recomputed).

    from dyadflow.report import write_report_html
    write_report_html("results")      # -> results/report.html, figures/*.pdf|png, regression_table.tex|.md

    from dyadflow.report import figures, load_results
    results = load_results("results")
    figures.coefficients(results.coefficients).savefig("coef.pdf")

Layering: storage -> kernels -> tergm -> report -> flows; this package imports nothing from flows or
tergm (it reads the tables the flows wrote).
"""

from dyadflow.report import figures
from dyadflow.report.html import write_report_html
from dyadflow.report.results import ReportError, Results, load_results
from dyadflow.report.tables import regression_table, to_latex, to_markdown

__all__ = [
    "ReportError",
    "Results",
    "figures",
    "load_results",
    "regression_table",
    "to_latex",
    "to_markdown",
    "write_report_html",
]
