"""dyadflow.report from results tables: each figure draws what its table says, the regression table's
layouts, bad results directories, byte-identical regeneration.

`write_synthetic_results` writes a results directory with every table of the results contract
(RESULTS_CONTRACT: three models, bootstrap, prediction, profiles, marginal effects, gof, sensitivity,
edges); the ROC/PR tables are made by tergm.metrics from synthetic scores, so they are real curves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyadflow.report import (
    ReportError,
    figures,
    load_results,
    regression_table,
    to_latex,
    to_markdown,
    write_report_html,
)

MODELS = {
    "network": ["edges", "gwesp.fixed.0.5", "edgecov.mlat", "absdiff.polyarchy"],
    "logit": ["edges", "edgecov.mlat", "absdiff.polyarchy"],
    "memory": ["edges", "gwesp.fixed.0.5", "edgecov.mlat", "absdiff.polyarchy", "memory.stability"],
}
PERIODS = [str(y) for y in range(2001, 2007)]


def _write(frame: pd.DataFrame, directory: Path, stem: str, csv: bool = True) -> None:
    frame.to_parquet(directory / f"{stem}.parquet", index=False)
    if csv:
        frame.to_csv(directory / f"{stem}.csv", index=False)


def write_synthetic_results(directory: Path, seed: int = 3) -> Path:
    """A complete results directory following the contract (see the module docstring)."""
    from dyadflow.tergm.metrics import evaluate_predictions, random_baseline
    from dyadflow.tergm.sensitivity import aggregate

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    R = 40
    coef_rows, replicate_frames, wide = [], [], {}
    union = list(dict.fromkeys(t for terms in MODELS.values() for t in terms))
    for model, terms in MODELS.items():
        estimate = rng.normal(0, 1, len(terms))
        estimate[0] = -4.0
        sd = rng.uniform(0.1, 0.8, len(terms))
        reps = estimate + sd * rng.standard_normal((R, len(terms)))
        converged = np.ones(R, bool)
        converged[[5, 17]] = model != "network"
        reps[~converged] = np.nan
        lo, hi = np.nanpercentile(reps, [2.5, 97.5], axis=0)
        for k, term in enumerate(terms):
            coef_rows.append(
                [
                    model,
                    term,
                    estimate[k],
                    lo[k],
                    hi[k],
                    np.nanmean(reps[:, k]),
                    np.nanstd(reps[:, k], ddof=1),
                    sd[k],
                    estimate[k] / sd[k],
                    0.05,
                ]
            )
        frame = pd.DataFrame(np.nan, index=range(R), columns=union)
        frame[terms] = reps
        frame.insert(0, "model", model)
        frame.insert(1, "replicate", np.arange(1, R + 1))
        frame.insert(2, "periods", [" ".join(rng.choice(PERIODS, 4)) for _ in range(R)])
        frame.insert(3, "converged", converged)
        replicate_frames.append(frame)
    coefficients = pd.DataFrame(
        coef_rows, columns=["model", "term", "Estimate", "2.5%", "97.5%", "boot_mean", "boot_sd", "Std.Err", "z", "p"]
    )
    _write(coefficients, directory, "coefficients")
    _write(pd.concat(replicate_frames, ignore_index=True), directory, "bootstrap_replicates")
    for model in MODELS:
        part = coefficients[coefficients["model"] == model].set_index("term")
        wide[model] = part["Estimate"]
        wide[f"{model}_se"] = part["boot_sd"]
    pd.DataFrame(wide).reindex(union).rename_axis("term").reset_index().to_csv(
        directory / "regression_table.csv", index=False
    )

    # prediction: real curves of synthetic scores
    observed = (rng.random(400) < 0.15).astype(np.int8)
    rocpr, auc = [], []
    for k, model in enumerate(MODELS):
        for kind in ("mple", "simulation"):
            scores = observed * rng.uniform(0.2 + 0.1 * k, 1, 400) + rng.uniform(0, 0.6, 400)
            metrics = evaluate_predictions(observed, scores)
            for curve, points in (("roc", metrics.roc), ("pr", metrics.pr)):
                rocpr.append(points.assign(model=model, kind=kind, period="pooled", curve=curve))
            auc.append({"model": model, "kind": kind, "period": "pooled", **metrics.areas()})
    base = random_baseline(observed)
    for curve, points in (("roc", base.roc), ("pr", base.pr)):
        rocpr.append(points.assign(model="random", kind="mple", period="pooled", curve=curve))
    auc.append({"model": "random", "kind": "mple", "period": "pooled", **base.areas()})
    rocpr = pd.concat(rocpr, ignore_index=True)[["model", "kind", "period", "curve", "x", "y", "threshold"]]
    rocpr.to_parquet(directory / "rocpr.parquet", index=False)
    _write(
        pd.DataFrame(auc)[
            [
                "model",
                "kind",
                "period",
                "roc_auc",
                "pr_auc",
                "average_precision",
                "pr_auc_trapezoid",
                "n_positive",
                "n_negative",
            ]
        ],
        directory,
        "auc",
    )

    profile_rows = []
    for model in ("network", "memory"):
        for statistic, values in (("shared partners", range(5)), ("third-party ties", range(4))):
            for v in values:
                mean = 1 / (1 + np.exp(3 - 0.6 * v))
                profile_rows.append(
                    [model, statistic, float(v), mean, mean * 0.8, min(1.0, mean * 1.2), 50 - v, "bootstrap"]
                )
    pd.DataFrame(
        profile_rows,
        columns=["model", "statistic", "value", "mean_probability", "lower", "upper", "n_dyads", "interval"],
    ).to_parquet(directory / "profiles.parquet", index=False)
    pd.DataFrame(
        [
            [m, t, 0.01 * (k + 1), 0.005 * (k + 1), 0.02 * (k + 1)]
            for m, terms in MODELS.items()
            for k, t in enumerate(terms[1:])
        ],
        columns=["model", "term", "effect", "lower", "upper"],
    ).to_parquet(directory / "marginal_effects.parquet", index=False)

    gof_rows, sim_rows = [], []
    for model in ("network", "memory"):
        for period in ("2005", "pooled"):
            for statistic, labels in (
                ("degree", [str(v) for v in range(7)]),
                ("esp", [str(v) for v in range(5)]),
                ("geodesic", ["1", "2", "3", "inf"]),
                ("model", MODELS[model][:3]),
            ):
                for v, label in enumerate(labels):
                    sims = rng.poisson(10 + 3 * v, 30).astype(float)
                    lower, upper = np.quantile(sims, [0.025, 0.975])
                    gof_rows.append([model, period, statistic, label, 11.0 + 3 * v, sims.mean(), lower, upper, 0.5])
                    sim_rows += [[model, period, statistic, label, d, c] for d, c in enumerate(sims)]
    _write(
        pd.DataFrame(
            gof_rows,
            columns=[
                "model",
                "period",
                "statistic",
                "value",
                "observed",
                "sim_mean",
                "sim_lower",
                "sim_upper",
                "p_value",
            ],
        ),
        directory,
        "gof",
    )
    pd.DataFrame(sim_rows, columns=["model", "period", "statistic", "value", "draw", "count"]).to_parquet(
        directory / "gof_simulated.parquet", index=False
    )
    _write(
        pd.DataFrame(
            [
                ["network", "2005", "edges", 0.3, 0.95, 3.0, "poor mixing (lag-1 autocorrelation 0.95)"],
                ["network", "2005", "gwesp.fixed.0.5", 0.3, 0.4, 20.0, ""],
            ],
            columns=[
                "model",
                "period",
                "term",
                "acceptance_rate",
                "autocorrelation",
                "effective_sample_size",
                "warning",
            ],
        ),
        directory,
        "mcmc_diagnostics",
    )

    terms = MODELS["network"]
    levels = [0.1, 0.3, 0.5]
    base = coefficients[coefficients["model"] == "network"].set_index("term")["Estimate"]
    estimates = {lv: base.to_numpy() * (1 - lv) + 0.1 * rng.standard_normal((12, len(terms))) for lv in levels}
    _write(aggregate(base, estimates, terms), directory, "sensitivity")

    nodes = [f"N{k:02d}" for k in range(15)]
    edge_rows = []
    adjacency = np.triu(rng.random((15, 15)) < 0.12, 1)
    for period in PERIODS:
        adjacency = adjacency | np.triu(rng.random((15, 15)) < 0.02, 1)
        for i in range(15):
            for j in range(i + 1, 15):
                edge_rows.append([period, nodes[i], nodes[j], int(adjacency[i, j]), 0.1, "network"])
    pd.DataFrame(edge_rows, columns=["period", "i", "j", "tie", "probability", "model"]).to_parquet(
        directory / "edge_probabilities.parquet", index=False
    )

    run = {
        "spec": {"dataset": {"spec": "data/dataset.toml"}},
        "formula": None,
        "models": {m: "cmaa ~ " + " + ".join(t) for m, t in MODELS.items()},
        "seeds": {"bootstrap": 12345, "sensitivity": 20210101},
        "bootstrap": {"R": R, "batch_size": 20},
        "data": {
            "dataset_spec": "data/dataset.toml",
            "store": "data/store",
            "dataset_hash": "abc123",
            "period_hashes": {p: f"hash{p}" for p in PERIODS},
            "nodes": 15,
        },
        "design": {"rows": 630, "terms": union, "periods": PERIODS},
        "validation": {"train": PERIODS[:-1], "test": PERIODS[-1:]},
        "versions": {"python": "3.11", "dyadflow": "0.1.0"},
        "timings_s": {"ingest": 0.1, "fit": 0.2, "bootstrap": 1.0, "sensitivity": 2.0, "gof": 1.5, "predict": 0.4},
    }
    (directory / "run.json").write_text(json.dumps(run, indent=2))
    return directory


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_synthetic_results(tmp_path_factory.mktemp("synthetic") / "results")


# ---- figures draw their tables ------------------------------------------------------------------------------


def _by_gid(fig, prefix: str) -> dict:
    found = {}
    for artist in fig.findobj():
        gid = artist.get_gid()
        if gid and gid.startswith(prefix):
            found[gid] = artist
    return found


def test_coefficient_plot_has_one_point_and_interval_per_row(synthetic):
    table = load_results(synthetic).coefficients
    fig = figures.coefficients(table)
    points, intervals = _by_gid(fig, "estimate:"), _by_gid(fig, "interval:")
    assert len(points) == len(intervals) == len(table)
    for row in table.itertuples(index=False):
        estimate, lo, hi = row.Estimate, row._3, row._4
        point = points[f"estimate:{row.model}:{row.term}"]
        assert point.get_xdata()[0] == pytest.approx(estimate)
        assert list(intervals[f"interval:{row.model}:{row.term}"].get_xdata()) == pytest.approx([lo, hi])
        filled = point.get_markerfacecolor() != "white"
        assert filled == (lo > 0 or hi < 0)
    # the "filled" rule is exercised both ways
    significant = (table["2.5%"] > 0) | (table["97.5%"] < 0)
    assert significant.any() and not significant.all()


def test_roc_and_pr_curves_are_the_table_and_roc_runs_from_origin_to_one(synthetic):
    results = load_results(synthetic)
    fig = figures.roc_pr(results.rocpr, results.auc)
    rocs = _by_gid(fig, "roc:")
    prs = _by_gid(fig, "pr:")
    curves = results.rocpr.groupby(["model", "kind"]).ngroups
    assert len(rocs) == len(prs) == curves == 7
    for gid, line in rocs.items():
        x, y = line.get_xdata(), line.get_ydata()
        assert (x[0], y[0]) == (0.0, 0.0) and (x[-1], y[-1]) == (1.0, 1.0), gid
        _, model, kind = gid.split(":")
        rows = results.rocpr.query("model == @model and kind == @kind and curve == 'roc'")
        np.testing.assert_array_equal(x, rows["x"].to_numpy())
    area = results.auc.query("model == 'network' and kind == 'simulation'").iloc[0]
    assert f"(ROC-AUC {area['roc_auc']:.3f}, PR-AUC {area['pr_auc']:.3f})" in rocs["roc:network:simulation"].get_label()
    assert "leak-free" in rocs["roc:network:simulation"].get_label()
    assert "conditional on observed test network" in rocs["roc:network:mple"].get_label()
    assert rocs["roc:random:mple"].get_linestyle() == "--"


def test_profile_bars_have_the_tables_heights_and_intervals(synthetic):
    table = load_results(synthetic).profiles
    fig = figures.profiles(table)
    bars = _by_gid(fig, "bar:")
    assert len(bars) == len(table)
    for row in table.itertuples(index=False):
        bar = bars[f"bar:{row.model}:{row.statistic}={row.value:g}"]
        assert bar.get_height() == pytest.approx(row.mean_probability)
    # error bar ends: the lower/upper columns
    ends = set()
    for ax in fig.axes:
        for collection in ax.collections:
            for segment in collection.get_segments():
                ends.add((round(segment[0][1], 9), round(segment[1][1], 9)))
    for row in table.itertuples(index=False):
        assert (round(row.lower, 9), round(row.upper, 9)) in ends


def test_gof_boxes_and_observed_line_follow_the_tables(synthetic):
    results = load_results(synthetic)
    fig = figures.gof(results.gof, results.gof_simulated, model="memory")
    observed = _by_gid(fig, "observed:memory:")
    pooled = results.gof.query("model == 'memory' and period == 'pooled'")
    assert set(observed) == {f"observed:memory:{s}" for s in pooled["statistic"].unique()}
    for statistic, rows in pooled.groupby("statistic"):
        line = observed[f"observed:memory:{statistic}"]
        np.testing.assert_array_equal(line.get_ydata(), rows["observed"].to_numpy())
        sims = results.gof_simulated.query("model == 'memory' and period == 'pooled' and statistic == @statistic")
        medians = _by_gid(fig, f"medians:memory:{statistic}")[f"medians:memory:{statistic}"].get_segments()
        boxes = _by_gid(fig, f"boxes:memory:{statistic}")[f"boxes:memory:{statistic}"].get_paths()
        assert len(medians) == len(boxes) == len(rows)
        for k, value in enumerate(rows["value"]):
            counts = sims[sims["value"] == value]["count"]
            assert medians[k][:, 1] == pytest.approx([np.median(counts)] * 2)
            assert medians[k][:, 0].mean() == pytest.approx(line.get_xdata()[k])  # under its observed point
            assert sorted(set(boxes[k].vertices[:, 1])) == pytest.approx(sorted(set(np.quantile(counts, [0.25, 0.75]))))
    with pytest.raises(ValueError, match="nope"):
        figures.gof(results.gof, results.gof_simulated, model="nope")


def test_sensitivity_points_spread_and_dashed_baseline(synthetic):
    table = load_results(synthetic).sensitivity
    fig = figures.sensitivity(table)
    for term, rows in table.groupby("term"):
        line = _by_gid(fig, f"sensitivity:model:{term}")[f"sensitivity:model:{term}"]
        rows = rows.sort_values("level")
        np.testing.assert_allclose(line.get_xdata(), rows["level"])
        np.testing.assert_allclose(line.get_ydata(), rows["mean"])
        baseline = _by_gid(fig, f"baseline:model:{term}")[f"baseline:model:{term}"]
        assert baseline.get_ydata()[0] == pytest.approx(rows["baseline"].iloc[0])
        assert baseline.get_linestyle() == "--"
        bars = [c for c in line.axes.collections if len(c.get_segments()) == len(rows)]
        ends = sorted((round(s[0][1], 9), round(s[1][1], 9)) for s in bars[0].get_segments())
        assert ends == sorted(zip(rows["q025"].round(9), rows["q975"].round(9)))


def test_bootstrap_histograms_count_the_converged_replicates(synthetic):
    results = load_results(synthetic)
    fig = figures.bootstrap(results.replicates, results.coefficients)
    hist = _by_gid(fig, "replicates:network:edges")["replicates:network:edges"]
    converged = results.replicates.query("model == 'network' and converged")["edges"]
    assert len(converged) == 38  # 2 of 40 replicates failed
    # a stepfilled histogram: one polygon from the smallest to the largest converged replicate, whose area is
    # (number of replicates) x (bin width)
    xy = hist.get_xy()
    assert xy[:, 0].min() == pytest.approx(converged.min()) and xy[:, 0].max() == pytest.approx(converged.max())
    area = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
    bins = min(30, max(5, 38 // 4))
    assert area == pytest.approx(38 * (converged.max() - converged.min()) / bins)
    line = _by_gid(fig, "estimate:network:edges")["estimate:network:edges"]
    assert line.get_xdata()[0] == pytest.approx(
        results.coefficients.query("model == 'network' and term == 'edges'")["Estimate"].iloc[0]
    )


def test_snapshots_keep_every_node_in_place_and_draw_each_periods_ties(synthetic):
    edges = load_results(synthetic).edges
    fig = figures.snapshots(edges, periods=["2001", "2006"])
    nodes = _by_gid(fig, "nodes:")
    np.testing.assert_array_equal(nodes["nodes:2001:"].get_offsets(), nodes["nodes:2006:"].get_offsets())
    ties = _by_gid(fig, "ties:")
    for period in ("2001", "2006"):
        assert len(ties[f"ties:{period}:"].get_segments()) == edges.query("period == @period")["tie"].sum() > 0


# ---- regression table -----------------------------------------------------------------------------------


def test_regression_table_layouts(synthetic):
    results = load_results(synthetic)
    table = regression_table(results.coefficients, results.regression_table)
    assert table.models == list(MODELS) and table.terms[-1] == "memory.stability"
    row = results.coefficients.query("model == 'network' and term == 'edges'").iloc[0]
    cell = table.cells[("edges", "network")]
    assert cell.se == pytest.approx(row["boot_sd"]) and cell.significant == (row["97.5%"] < 0 or row["2.5%"] > 0)
    latex = to_latex(table)
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert r"memory.stability &  &  & $-" in latex  # only the third model has it
    assert f"$-{abs(row['Estimate']):.3f}^{{*}}$" in latex and f"$({row['boot_sd']:.3f})$" in latex
    assert r"gwesp.fixed.0.5" in latex and "0 outside the 95\\% confidence interval" in latex
    markdown = to_markdown(table).splitlines()
    assert markdown[0] == "| | network | logit | memory |"
    edges_line = next(k for k, line in enumerate(markdown) if line.startswith("| edges |"))
    assert f"({row['boot_sd']:.3f})" in markdown[edges_line + 1]


def test_latex_escapes_term_names():
    table = regression_table(
        pd.DataFrame(
            {"term": ["nodefactor.region_A&B"], "Estimate": [1.0], "2.5%": [0.5], "97.5%": [1.5], "Std.Err": [0.25]}
        )
    )
    latex = to_latex(table)
    assert r"nodefactor.region\_A\&B & $1.000^{*}$ \\" in latex
    assert "MPLE standard errors" in table.note


# ---- the page and its files -----------------------------------------------------------------------------


def test_report_has_every_section_and_paper_files(synthetic):
    path = write_report_html(synthetic, generated_at="TEST")
    html = path.read_text()
    for title in (
        "Run overview",
        "Regression table",
        "Coefficient plot",
        "Bootstrap diagnostics",
        "Out-of-sample prediction",
        "Interpretation",
        "Goodness of fit",
        "Rewiring sensitivity",
        "Network snapshots",
    ):
        assert f"<h2>{title}</h2>" in html
    assert "(not run)" not in html and 'class="not-run-note"' not in html
    assert html.count('<img src="data:image/svg+xml;base64,') == 8  # gof: one figure per model
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html) and "<script" not in html
    assert "leak-free" in html and "poor mixing" in html and "abc123" in html
    stems = ["coefficients", "bootstrap", "roc_pr", "profiles", "gof_network", "gof_memory", "sensitivity", "snapshots"]
    for stem in stems:
        assert (synthetic / "figures" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
        png = (synthetic / "figures" / f"{stem}.png").read_bytes()
        assert png.startswith(b"\x89PNG")
    assert (synthetic / "regression_table.tex").read_text().startswith(r"\begin{table}")
    assert (synthetic / "regression_table.md").exists()
    leftovers = [p.name for p in synthetic.rglob(".*.tmp")]
    assert leftovers == []


def test_png_is_300_dpi(synthetic):
    from PIL import Image

    write_report_html(synthetic, generated_at="TEST")
    with Image.open(synthetic / "figures" / "coefficients.png") as image:
        assert round(image.info["dpi"][0]) == 300


def test_regeneration_gives_the_same_bytes_apart_from_the_time(synthetic):
    first = write_report_html(synthetic, generated_at="2026-01-01 00:00:00 UTC").read_bytes()
    files = {p: p.read_bytes() for p in sorted((synthetic / "figures").iterdir())}
    tex = (synthetic / "regression_table.tex").read_bytes()
    second = write_report_html(synthetic).read_bytes()
    assert first != second  # the time line differs ...
    strip = re.compile(rb"Generated [^<]* by dyadflow")
    assert strip.sub(b"", first) == strip.sub(b"", second)  # ... and nothing else
    assert {p: p.read_bytes() for p in sorted((synthetic / "figures").iterdir())} == files
    assert (synthetic / "regression_table.tex").read_bytes() == tex


def test_sections_that_did_not_run_say_so(tmp_path):
    directory = write_synthetic_results(tmp_path / "results")
    for name in (
        "rocpr.parquet",
        "auc.csv",
        "auc.parquet",
        "profiles.parquet",
        "marginal_effects.parquet",
        "gof.parquet",
        "gof.csv",
        "gof_simulated.parquet",
        "mcmc_diagnostics.parquet",
        "sensitivity.parquet",
        "sensitivity.csv",
        "edge_probabilities.parquet",
        "bootstrap_replicates.parquet",
        "bootstrap_replicates.csv",
    ):
        (directory / name).unlink()
    run = json.loads((directory / "run.json").read_text())
    run["timings_s"] = {"fit": 0.2}
    (directory / "run.json").write_text(json.dumps(run))
    html = write_report_html(directory).read_text()
    assert html.count("(not run)") == 6
    for text in (
        "Prediction was not run",
        "No bootstrap was run",
        "Goodness of fit was not run",
        "No rewiring sensitivity batch was run",
        "no edge data",
        "No interpretation tables",
    ):
        assert text in html
    assert html.count("<img ") == 1  # the coefficient plot alone


# ---- bad input ------------------------------------------------------------------------------------------


def _listing(directory: Path) -> dict:
    return {p.relative_to(directory): p.stat().st_mtime_ns for p in directory.rglob("*")}


def test_not_a_results_directory(tmp_path):
    with pytest.raises(ReportError, match="no run.json"):
        write_report_html(tmp_path)
    with pytest.raises(ReportError, match="not a directory"):
        write_report_html(tmp_path / "absent")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda d: (d / "gof_simulated.parquet").write_bytes(b"PAR1 not really"),
            r"gof_simulated\.parquet: cannot be read",
        ),
        (lambda d: (d / "sensitivity.parquet").unlink(), r"sensitivity\.parquet: missing, although run.json says"),
        (lambda d: (d / "coefficients.parquet").unlink(), r"coefficients\.parquet: missing"),
        (lambda d: (d / "auc.csv").unlink() or (d / "auc.parquet").unlink(), r"auc\.parquet or auc\.csv: missing"),
        (
            lambda d: pd.read_parquet(d / "rocpr.parquet").drop(columns="y").to_parquet(d / "rocpr.parquet"),
            r"rocpr\.parquet: missing column\(s\) \['y'\]",
        ),
        (lambda d: (d / "run.json").write_text("{not json"), r"run\.json: not valid JSON"),
    ],
)
def test_broken_table_names_the_file_and_writes_nothing(tmp_path, damage, message):
    directory = write_synthetic_results(tmp_path / "results")
    damage(directory)
    before = _listing(directory)
    with pytest.raises(ReportError, match=message):
        write_report_html(directory)
    assert _listing(directory) == before


def test_random_baseline_under_each_kind_is_drawn_once(synthetic):
    """tergm.prediction writes the random baseline once per kind; the figure shows it once."""
    results = load_results(synthetic)
    random = results.rocpr[results.rocpr["model"] == "random"].assign(kind="simulation")
    fig = figures.roc_pr(pd.concat([results.rocpr, random], ignore_index=True), results.auc)
    assert [gid for gid in _by_gid(fig, "roc:random")] == ["roc:random:mple"]
    assert sum("random graph" in text.get_text() for text in fig.legends[0].get_texts()) == 1


def test_profiles_with_two_interval_kinds_draw_the_bootstrap_one(synthetic):
    """tergm.interpret.probability_profile gives bootstrap and subsample rows for the same values."""
    table = load_results(synthetic).profiles
    both = pd.concat([table.assign(interval="subsample", lower=0.0, upper=1.0), table], ignore_index=True)
    fig = figures.profiles(both)
    assert len(_by_gid(fig, "bar:")) == len(table)
    segments = [s for ax in fig.axes for c in ax.collections for s in c.get_segments()]
    assert len(segments) == len(table) and not any(s[0][1] == 0.0 and s[1][1] == 1.0 for s in segments)
    assert len(_by_gid(figures.profiles(both, interval="subsample"), "bar:")) == len(table)
