"""The report's figures, each a function of a results table returning a matplotlib Figure, so a user can
draw, restyle and save them from Python:

    from dyadflow.report import figures, load_results
    results = load_results("results")
    fig = figures.coefficients(results.coefficients)
    fig.savefig("coefficients.pdf")

Style (fixed, `STYLE`): DejaVu Sans (ships with matplotlib, so every machine draws the same glyphs),
9 pt text, no top/right spines, light horizontal grid. Colours: the Okabe & Ito palette (`PALETTE`), which
stays distinguishable under the common colour-vision deficiencies; models take its colours in spec order.
Grey dashed lines are references (zero, the random baseline, a sensitivity baseline).

Every data artist carries a gid "<kind>:<model>:<item>" (e.g. "estimate:model2:gwesp.fixed.0.5"), so a
test — or a user restyling a figure — can find what was drawn for which row.

Figures are drawn with the Agg backend and saved by `figure_bytes`, which fixes everything matplotlib would
otherwise vary between runs (SVG ids' salt, creation dates), so the same tables give the same bytes.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot's import

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.patches import Patch

# Okabe & Ito (2008): blue, vermillion, bluish green, orange, reddish purple, sky blue, yellow, black.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
REFERENCE_GREY = "#7f7f7f"
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.6,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "figure.dpi": 100,
    "savefig.pad_inches": 0.05,
    "svg.fonttype": "path",  # glyphs as paths: the SVG needs no font on the reader's machine
    "svg.hashsalt": "dyadflow-report",  # fixed ids instead of random ones
    # PDF text as Type 3 outlines (matplotlib's default). TrueType (42) embedding re-parses the font for
    # every PDF and was a quarter of the report's time; for a journal that rejects Type 3 fonts set
    # figures.STYLE["pdf.fonttype"] = 42 before writing the report.
    "pdf.fonttype": 3,
}
PNG_DPI = 300
KIND_LABELS = {  # MPLE scores a test dyad from the other observed ties of the test period; simulation does not
    "mple": "MPLE (conditional on observed test network)",
    "simulation": "simulation (leak-free)",
}


def model_colours(models) -> dict[str, str]:
    return {m: PALETTE[k % len(PALETTE)] for k, m in enumerate(models)}


def _models(frame: pd.DataFrame) -> list[str]:
    return _unique_text(frame["model"]) if "model" in frame.columns else ["model"]


def _grid(count: int, *, columns: int = 3, width: float = 2.6, height: float = 2.1, **kwargs):
    """A figure with `count` panels in rows of `columns`; unused panels removed."""
    columns = max(1, min(columns, count))
    rows = max(1, math.ceil(count / columns))
    with plt.rc_context(STYLE):
        fig = Figure(figsize=(width * columns, height * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False, **kwargs)).ravel()
    for ax in axes[count:]:
        fig.delaxes(ax)
    return fig, axes[:count]


def _styled(fn):
    """Run a figure function under the report's style (artists read rcParams when created)."""

    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return fn(*args, **kwargs)

    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
    return wrapper


def excludes_zero(lower, upper) -> np.ndarray:
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return (lower > 0) | (upper < 0)


@_styled
def coefficients(table: pd.DataFrame, lower: str = "2.5%", upper: str = "97.5%") -> Figure:
    """Coefficient plot of one or several models (coefficients.parquet: model, term, Estimate, CI columns).

    One panel per term (terms differ in scale), one row per model: the estimate as a point and its 95 %
    interval as a line; the point is filled when the interval excludes 0, hollow otherwise."""
    table = table if "model" in table.columns else table.assign(model="model")
    models = _models(table)
    terms = list(dict.fromkeys(table["term"].astype(str)))
    colours = model_colours(models)
    fig, axes = _grid(len(terms), columns=3, width=2.7, height=max(1.1, 0.45 + 0.32 * len(models)))
    for ax, term in zip(axes, terms):
        rows = table[table["term"].astype(str) == term]
        ax.axvline(0.0, color=REFERENCE_GREY, linestyle="--", linewidth=0.8, zorder=1)
        for position, model in enumerate(models):
            row = rows[rows["model"].astype(str) == model]
            if row.empty:
                continue
            estimate, lo, hi = (float(row[c].iloc[0]) for c in ("Estimate", lower, upper))
            colour = colours[model]
            y = len(models) - 1 - position
            ax.plot(
                [lo, hi],
                [y, y],
                color=colour,
                linewidth=1.6,
                solid_capstyle="butt",
                zorder=2,
                gid=f"interval:{model}:{term}",
            )
            filled = bool(excludes_zero(lo, hi))
            ax.plot(
                [estimate],
                [y],
                marker="o",
                markersize=5.5,
                linestyle="none",
                color=colour,
                markerfacecolor=colour if filled else "white",
                markeredgewidth=1.3,
                zorder=3,
                gid=f"estimate:{model}:{term}",
            )
        ax.set_title(term, loc="left")
        ax.set_yticks(range(len(models)), list(reversed(models)) if len(models) > 1 else [""])
        ax.set_ylim(-0.6, len(models) - 0.4)
        ax.grid(False)
    fig.supxlabel("estimate with 95 % interval (filled: the interval excludes 0)", fontsize=8)
    return fig


def _period_choice(frame: pd.DataFrame, period: str | None) -> str:
    periods = _unique_text(frame["period"])
    if period is not None:
        if period not in periods:
            raise ValueError(f"period {period!r} is not in the table (has {periods})")
        return period
    return "pooled" if "pooled" in periods else periods[0]


@_styled
def roc_pr(rocpr: pd.DataFrame, auc: pd.DataFrame | None = None, period: str | None = None) -> Figure:
    """Out-of-sample ROC (left) and precision-recall (right) curves per model and kind (rocpr.parquet),
    with their areas from `auc` in the legend (PR-AUC: Davis-Goadrich), against the random-graph baseline (dashed grey; model
    "random"). `period`: default "pooled" when present."""
    period = _period_choice(rocpr, period)
    data = rocpr[rocpr["period"].astype(str) == period]
    areas = {}
    if auc is not None:
        for row in auc[auc["period"].astype(str) == period].itertuples(index=False):
            areas[(str(row.model), str(row.kind))] = (float(row.roc_auc), float(row.pr_auc))
    with plt.rc_context(STYLE):
        fig = Figure(figsize=(9.5, 4.8), layout="constrained")
        roc_ax, pr_ax = fig.subplots(1, 2)
    by_curve = {(str(m), str(k)): frame for (m, k), frame in data.groupby(["model", "kind"], sort=False)}
    curves = list(by_curve)
    colours = model_colours(list(dict.fromkeys(m for m, _ in curves if m != "random")))
    dashes = {"mple": "-", "simulation": (0, (5, 1.5))}
    random_drawn = False
    for model, kind in curves:
        sel = by_curve[(model, kind)]
        is_random = model == "random"
        if is_random:  # the baseline is the same under every kind: draw it once
            if random_drawn:
                continue
            random_drawn = True
        area = areas.get((model, kind))
        label = "random graph" if is_random else f"{model}, {KIND_LABELS.get(kind, kind)}"
        for ax, curve in ((roc_ax, "roc"), (pr_ax, "pr")):
            points = sel[sel["curve"].astype(str) == curve]
            if points.empty:
                continue
            text = label + (f" (ROC-AUC {area[0]:.3f}, PR-AUC {area[1]:.3f})" if area else "")
            ax.plot(
                points["x"].to_numpy(float),
                points["y"].to_numpy(float),
                gid=f"{curve}:{model}:{kind}",
                color=REFERENCE_GREY if is_random else colours[model],
                linestyle="--" if is_random else dashes.get(kind, "-"),
                linewidth=1.0 if is_random else 1.5,
                label=text,
                drawstyle="default",
            )
    if not any(m == "random" for m, _ in curves):  # the chance line of ROC space
        roc_ax.plot(
            [0, 1], [0, 1], color=REFERENCE_GREY, linestyle="--", linewidth=1.0, label="chance", gid="roc:chance:"
        )
    for ax, title, xlabel, ylabel in (
        (roc_ax, "ROC", "false positive rate", "true positive rate"),
        (pr_ax, "precision-recall", "recall", "precision"),
    ):
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, aspect="equal")
        ax.set_title(f"{title} ({period})", loc="left")
    handles, labels = roc_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2 if len(labels) > 3 else 1)
    return fig


def _numeric_order(values) -> list:
    values = list(dict.fromkeys(values))
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return values


def profile_interval(table: pd.DataFrame, interval: str | None = None) -> str | None:
    """The interval kind a profile figure shows: `interval`, else "bootstrap" when the table has it, else
    its first kind (None for a table without an `interval` column)."""
    if "interval" not in table.columns:
        return None
    kinds = _unique_text(table["interval"])
    if interval is not None:
        if interval not in kinds:
            raise ValueError(f"interval {interval!r} is not in the profiles table (has {kinds})")
        return interval
    return "bootstrap" if "bootstrap" in kinds else kinds[0]


@_styled
def profiles(table: pd.DataFrame, interval: str | None = None) -> Figure:
    """Predicted tie probability by the value of a statistic (profiles.parquet): bars with 95 % intervals,
    one panel per statistic, models side by side. A table with several interval kinds (bootstrap and
    dyad-subsample) is drawn with one of them (`profile_interval`)."""
    chosen = profile_interval(table, interval)
    if chosen is not None:
        table = table[table["interval"].astype(str) == chosen]
    statistics = list(dict.fromkeys(table["statistic"].astype(str)))
    models = _models(table)
    colours = model_colours(models)
    fig, axes = _grid(len(statistics), columns=2, width=3.8, height=2.6)
    width = 0.8 / len(models)
    for ax, statistic in zip(axes, statistics):
        rows = table[table["statistic"].astype(str) == statistic]
        values = _numeric_order(rows["value"])
        for k, model in enumerate(models):
            sel = rows[rows["model"].astype(str) == model].set_index("value")
            present = [v for v in values if v in sel.index]
            if not present:
                continue
            x = np.array([values.index(v) for v in present]) + (k - (len(models) - 1) / 2) * width
            mean = sel.loc[present, "mean_probability"].to_numpy(float)
            lo = sel.loc[present, "lower"].to_numpy(float)
            hi = sel.loc[present, "upper"].to_numpy(float)
            bars = ax.bar(
                x,
                mean,
                width=width * 0.95,
                color=colours[model],
                label=model,
            )
            # the interval drawn from its own ends: a bootstrap percentile interval need not contain the
            # point estimate's mean, so it is no +/- error around the bar
            ax.vlines(x, lo, hi, color="#333333", linewidth=0.8)
            for bar, value in zip(bars.patches, present):
                bar.set_gid(
                    f"bar:{model}:{statistic}={value:g}"
                    if isinstance(value, float)
                    else f"bar:{model}:{statistic}={value}"
                )
        ax.set_xticks(range(len(values)), [f"{v:g}" if isinstance(v, float) else str(v) for v in values])
        ax.set_title(statistic, loc="left")
        ax.set_xlabel(statistic)
        ax.set_ylabel("predicted tie probability")
        ax.set_ylim(bottom=0)
        if len(models) > 1:
            ax.legend()
    return fig


BOX_FACE = "#dbe9f6"


def _unique_text(column: pd.Series) -> list[str]:
    """The column's distinct values as text, in order of first appearance (fast on long columns)."""
    return [str(v) for v in pd.unique(column)]


@_styled
def gof(table: pd.DataFrame, simulated: pd.DataFrame, model: str | None = None, period: str | None = None) -> Figure:
    """Goodness of fit (gof.parquet and gof_simulated.parquet, tergm/gof.py): per statistic, boxplots of
    the simulated counts per value (box: quartiles and median; whiskers: 2.5-97.5 %, the interval
    gof.parquet reports; no outlier points) and the observed counts as a black line. `model`: default the
    first; `period`: default "pooled" when present.

    The boxes are drawn as three collections per panel (boxes, whiskers with caps, medians) rather than
    with Axes.bxp's six artists per box: a 230-node degree distribution has ~50 boxes per panel, and
    saving thousands of artists three times dominated the report's time."""
    model = model if model is not None else _unique_text(table["model"])[0]
    table = table[table["model"].astype(str) == model]
    if table.empty:
        raise ValueError(f"model {model!r} is not in the gof table")
    period = _period_choice(table, period)
    table = table[table["period"].astype(str) == period]
    sims = simulated[(simulated["model"] == model) & (simulated["period"] == period)]
    statistics = _unique_text(table["statistic"])
    fig, axes = _grid(len(statistics), columns=2, width=4.0, height=2.5)
    by_statistic = dict(tuple(sims.groupby("statistic", sort=False)))
    for ax, statistic in zip(axes, statistics):
        rows = table[table["statistic"].astype(str) == statistic]
        labels = rows["value"].astype(str).tolist()
        draws = by_statistic.get(statistic, sims.iloc[:0])
        counts = (
            draws.assign(value=draws["value"].astype(str))
            .pivot_table(index="draw", columns="value", values="count", aggfunc="first")
            .reindex(columns=labels)
            .to_numpy(float)
        )
        if counts.shape[0] == 0:
            counts = np.zeros((1, len(labels)))
        lo, q1, med, q3, hi = np.nanquantile(counts, [0.025, 0.25, 0.5, 0.75, 0.975], axis=0)
        x = np.arange(1, len(labels) + 1, dtype=float)
        half, cap = 0.3, 0.15
        boxes = [[(p - half, a), (p + half, a), (p + half, b), (p - half, b)] for p, a, b in zip(x, q1, q3)]
        whiskers = (
            [[(p, a), (p, b)] for p, a, b in zip(x, lo, q1)]
            + [[(p, a), (p, b)] for p, a, b in zip(x, q3, hi)]
            + [[(p - cap, v), (p + cap, v)] for p, v in zip(x, lo)]
            + [[(p - cap, v), (p + cap, v)] for p, v in zip(x, hi)]
        )
        medians = [[(p - half, v), (p + half, v)] for p, v in zip(x, med)]
        ax.add_collection(
            PolyCollection(
                boxes, facecolors=BOX_FACE, edgecolors=PALETTE[0], linewidths=0.7, gid=f"boxes:{model}:{statistic}"
            )
        )
        ax.add_collection(
            LineCollection(whiskers, colors=PALETTE[0], linewidths=0.7, gid=f"whiskers:{model}:{statistic}")
        )
        ax.add_collection(
            LineCollection(medians, colors=PALETTE[0], linewidths=1.0, gid=f"medians:{model}:{statistic}")
        )
        ax.plot(
            x,
            rows["observed"].to_numpy(float),
            color="#000000",
            linewidth=1.2,
            marker=".",
            markersize=3,
            label="observed",
            gid=f"observed:{model}:{statistic}",
        )
        ax.autoscale_view()
        ax.set_xlim(0.4, len(labels) + 0.6)
        step = max(1, math.ceil(len(labels) / 20))  # at most ~20 tick labels
        ax.set_xticks(x[::step], labels[::step], rotation=90 if statistic in ("model", "triad_census") else 0)
        ax.set_title("model statistics" if statistic == "model" else statistic, loc="left")
        ax.set_ylabel("count")
    fig.suptitle(f"{model}: simulated (boxes) against observed (line), period {period}", fontsize=9)
    fig.legend(
        handles=[
            Patch(facecolor=BOX_FACE, edgecolor=PALETTE[0], linewidth=0.7, label="simulated"),
            *axes[0].get_legend_handles_labels()[0],
        ],
        loc="outside lower center",
        ncols=2,
    )
    return fig


@_styled
def sensitivity(table: pd.DataFrame) -> Figure:
    """Rewiring sensitivity (sensitivity.parquet): per term, the mean refit estimate per rewiring level with
    its 2.5-97.5 % spread, and the baseline (the fit on the observed networks) as a dashed line."""
    table = table if "model" in table.columns else table.assign(model="model")
    models = _models(table)
    colours = model_colours(models)
    terms = list(dict.fromkeys(table["term"].astype(str)))
    fig, axes = _grid(len(terms), columns=3, width=2.7, height=2.2)
    for ax, term in zip(axes, terms):
        rows = table[table["term"].astype(str) == term]
        for k, model in enumerate(models):
            sel = rows[rows["model"].astype(str) == model].sort_values("level")
            if sel.empty:
                continue
            level = sel["level"].to_numpy(float) + (k - (len(models) - 1) / 2) * 0.012
            mean = sel["mean"].to_numpy(float)
            (line,) = ax.plot(level, mean, color=colours[model], marker="o", markersize=3, linewidth=1.0, label=model)
            line.set_gid(f"sensitivity:{model}:{term}")
            # the 2.5-97.5 % spread from its own ends (refits that all equal the baseline give a zero-length
            # spread whose quantiles may sit a rounding error off the mean)
            ax.vlines(
                level, sel["q025"].to_numpy(float), sel["q975"].to_numpy(float), color=colours[model], linewidth=1.0
            )
            ax.axhline(
                float(sel["baseline"].iloc[0]),
                color=colours[model] if len(models) > 1 else REFERENCE_GREY,
                linestyle="--",
                linewidth=0.9,
                gid=f"baseline:{model}:{term}",
            )
        ax.set_title(term, loc="left")
        ax.set_xlabel("share of ties rewired")
    if len(models) > 1:
        fig.legend(*_model_handles(models, colours), loc="outside upper center", ncols=len(models))
    fig.supylabel("estimate (mean and 2.5-97.5 % of refits)", fontsize=8)
    return fig


@_styled
def bootstrap(replicates: pd.DataFrame, coefficients: pd.DataFrame | None = None) -> Figure:
    """Bootstrap replicate distributions (bootstrap_replicates.parquet): a histogram per term of the
    converged replicates' estimates, per model, with the estimate (coefficients.parquet) as a line."""
    replicates = replicates if "model" in replicates.columns else replicates.assign(model="model")
    models = _models(replicates)
    colours = model_colours(models)
    fixed = {"model", "replicate", "periods", "converged"}
    terms = [c for c in replicates.columns if c not in fixed]
    fig, axes = _grid(len(terms), columns=3, width=2.7, height=2.0)
    converged = replicates[replicates["converged"].astype(bool)]
    for ax, term in zip(axes, terms):
        for model in models:
            values = converged.loc[converged["model"].astype(str) == model, term].to_numpy(float)
            values = values[np.isfinite(values)]
            if not len(values):
                continue
            ax.hist(
                values,
                bins=min(30, max(5, len(values) // 4)),
                histtype="stepfilled",
                alpha=0.45,
                color=colours[model],
                edgecolor=colours[model],
                linewidth=0.8,
                label=model,
                gid=f"replicates:{model}:{term}",
            )
            if coefficients is not None:
                table = coefficients if "model" in coefficients.columns else coefficients.assign(model="model")
                row = table[(table["model"].astype(str) == model) & (table["term"].astype(str) == term)]
                if not row.empty:
                    ax.axvline(
                        float(row["Estimate"].iloc[0]),
                        color=colours[model],
                        linewidth=1.2,
                        gid=f"estimate:{model}:{term}",
                    )
        ax.set_title(term, loc="left")
        ax.set_yticks([])
        ax.grid(False)
    fig.supxlabel("replicate estimates (line: the estimate on all periods)", fontsize=8)
    if len(models) > 1:
        fig.legend(*_model_handles(models, colours), loc="outside upper center", ncols=len(models))
    return fig


def _model_handles(models, colours):
    return [Patch(color=colours[m], alpha=0.6) for m in models], list(models)


def fixed_layout(edges: pd.DataFrame, iterations: int = 120) -> dict[str, tuple[float, float]]:
    """Node positions used for every period (Fruchterman-Reingold on the union of the periods' ties,
    started from a circle in label order, so the same edges always give the same picture)."""
    nodes = sorted(set(edges["i"].astype(str)) | set(edges["j"].astype(str)))
    n = len(nodes)
    if n == 0:
        return {}
    index = {v: k for k, v in enumerate(nodes)}
    ties = edges[edges["tie"].astype(float) > 0]
    pairs = (
        np.unique(
            np.sort(np.column_stack([ties["i"].astype(str).map(index), ties["j"].astype(str).map(index)]), axis=1),
            axis=0,
        )
        if len(ties)
        else np.zeros((0, 2), int)
    )
    angle = 2 * np.pi * np.arange(n) / n
    pos = np.column_stack([np.cos(angle), np.sin(angle)])
    k = 1.0 / math.sqrt(n)
    temperature = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=2), 1e-3)
        force = (delta / distance[..., None] * (k * k / distance)[..., None]).sum(axis=1)
        if len(pairs):
            d = pos[pairs[:, 0]] - pos[pairs[:, 1]]
            length = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
            pull = d * (length / k)[:, None]
            np.subtract.at(force, pairs[:, 0], pull)
            np.add.at(force, pairs[:, 1], pull)
        step = np.linalg.norm(force, axis=1)
        pos += force / np.maximum(step, 1e-9)[:, None] * np.minimum(step, temperature)[:, None]
        temperature *= 0.97
    pos -= pos.mean(axis=0)
    pos /= max(np.abs(pos).max(), 1e-9)
    return {v: (float(pos[index[v], 0]), float(pos[index[v], 1])) for v in nodes}


@_styled
def snapshots(edges: pd.DataFrame, periods: list[str] | None = None, max_periods: int = 4) -> Figure:
    """Network snapshots (edge rows: period, i, j, tie): up to `max_periods` periods evenly spaced, every
    node at the same place in each (`fixed_layout`), so change between periods is visible."""
    available = _unique_text(edges["period"])
    if periods is None:
        take = np.unique(np.linspace(0, len(available) - 1, min(max_periods, len(available))).round().astype(int))
        periods = [available[t] for t in take]
    layout = fixed_layout(edges)
    fig, axes = _grid(len(periods), columns=len(periods), width=2.4, height=2.5)
    xy = np.array(list(layout.values())) if layout else np.zeros((0, 2))
    for ax, period in zip(axes, periods):
        ties = edges[(edges["period"].astype(str) == period) & (edges["tie"].astype(float) > 0)]
        segments = [(layout[str(i)], layout[str(j)]) for i, j in zip(ties["i"], ties["j"])]
        ax.add_collection(LineCollection(segments, colors="#9a9a9a", linewidths=0.4, gid=f"ties:{period}:"))
        ax.scatter(xy[:, 0], xy[:, 1], s=6, color=PALETTE[0], zorder=3, gid=f"nodes:{period}:")
        ax.set_title(f"{period} ({len(ties)} ties)", loc="left")
        ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), aspect="equal", xticks=[], yticks=[])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig


METADATA = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    "png": {"Software": None},
}


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """The figure as SVG, PDF or PNG (300 dpi) with nothing that varies between runs (no dates, fixed SVG
    ids). The first call fixes the layout: constrained layout runs during its draw, and later formats reuse
    those positions (laying out again for every format would double the time)."""
    if fmt not in METADATA:
        raise ValueError(f"format {fmt!r}: expected one of {sorted(METADATA)}")
    with plt.rc_context(STYLE):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=PNG_DPI if fmt == "png" else 100, metadata=METADATA[fmt])
        if fig.get_layout_engine() is not None and not isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
            fig.set_layout_engine("none")
    return buffer.getvalue()
