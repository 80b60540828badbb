"""Several models per run: the run spec's [models.<name>] and [validation] tables, one set of change
statistics for the union of the models' terms (each model's design bit for bit its own build), and the
flow end to end on a small demo panel: every model equal to a standalone btergm, results side by side,
the validation's tables, the Prefect artifacts, identical files on 1 and 2 workers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flows_conftest import isolated_prefect  # noqa: F401  (fixture)

from dyadflow.flows.spec import RunSpecError, parse_run_spec

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

NETWORK = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE)"
LOGIT = "cmaa ~ edges + absdiff('polyarchy') + edgecov(mlat) + edgecov(contiguity)"
FULL = (
    "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.5, fixed=TRUE) + absdiff('polyarchy')"
    " + edgecov(mlat) + edgecov(contiguity)"
)
MODELS = {"network": NETWORK, "logit": LOGIT, "full": FULL}
R, SEED, BATCH = 12, 777, 4
LEVELS, SIMULATIONS = [0.0, 0.3], 2
DATASET = {"spec": "data/dataset.toml", "store": "data/store"}


# ------------------------------------------------------------------------------------------ run spec


def _spec(**tables):
    return {"dataset": DATASET, **tables}


def test_models_tables_parse_in_order_with_bootstrap_overrides(tmp_path):
    spec = parse_run_spec(
        _spec(
            models={
                "network": {"formula": NETWORK},
                "logit": {"formula": LOGIT, "R": 0, "seed": 5},
                "full": {"formula": FULL, "batch_size": 3},
            },
            bootstrap={"R": 20, "seed": 9, "batch_size": 7},
            validation={"train": [1990, 1993], "test": [1994], "simulate": 2, "models": ["full", "logit"]},
            sensitivity={"levels": [0.5], "model": "logit"},
            gof={"model": "full"},
        ),
        base=tmp_path,
    )
    assert spec.model_names == ["network", "logit", "full"] and spec.formula == NETWORK
    assert [(m.R, m.seed, m.batch_size) for m in spec.models] == [(20, 9, 7), (0, 5, 7), (20, 9, 3)]
    assert spec.validation.train == ("1990", "1993") and spec.validation.test == ("1994",)
    assert spec.validation.models == ("full", "logit") and spec.validation.simulate == 2
    assert spec.sensitivity.model == "logit" and spec.gof.model == "full"
    assert spec.model("full").formula == FULL and spec.model(None).name == "network"
    default = parse_run_spec(
        _spec(models={"a": {"formula": NETWORK}, "b": {"formula": LOGIT}}, validation={"holdout_last": 2}),
        base=tmp_path,
    )
    assert default.validation.models == ("a", "b") and default.validation.holdout_last == 2
    assert default.validation.simulate == 0 and default.validation.train is None


def test_a_model_table_is_one_model_named_model(tmp_path):
    spec = parse_run_spec(_spec(model={"formula": LOGIT, "estimate": "MLE"}, bootstrap={"R": 3}), base=tmp_path)
    assert spec.model_names == ["model"] and spec.formula == LOGIT and spec.estimate == "MLE"
    assert spec.models[0].R == 3


@pytest.mark.parametrize(
    "tables, message",
    [
        ({"model": {"formula": LOGIT}, "models": {"a": {"formula": LOGIT}}}, r"either one \[model\] table or \[models"),
        ({"models": {}}, r"\[models\] holds no model"),
        ({"models": {"a": {"formula": LOGIT, "sead": 1}}}, r"unknown key 'sead' in \[models.a\]; did you mean 'seed'"),
        ({"models": {"a": {"estimate": "MPLE"}}}, r"\[models.a\] formula is required"),
        ({"models": {"a": {"formula": LOGIT, "R": -1}}}, r"\[models.a\] R = -1"),
        ({"models": {"a": {"formula": LOGIT, "estimate": "Bayes"}}}, r"\[models.a\] estimate"),
        ({"models": {"a b": {"formula": LOGIT}}}, r"a model name must be letters"),
        ({"models": {"random": {"formula": LOGIT}}}, r"'random' is reserved"),
        ({"models": {"a": {"formula": LOGIT}, "a_se": {"formula": LOGIT}}}, r"clash with the standard-error column"),
        (
            {"models": {"a": {"formula": LOGIT}}, "validation": {"test": [1994], "models": ["a", "probit"]}},
            r"\[validation\] models: \['probit'\] is not model\(s\) of this run spec; its models are \['a'\]",
        ),
        (
            {"models": {"a": {"formula": LOGIT}}, "sensitivity": {"model": "b"}},
            r"\[sensitivity\] model = 'b' is not a model of this run spec",
        ),
        ({"model": {"formula": LOGIT}, "gof": {"model": "full"}}, r"\[gof\] model = 'full' is not a model"),
        ({"model": {"formula": LOGIT}, "validation": {"test": [1994], "holdout_last": 1}}, "exactly one of test"),
        ({"model": {"formula": LOGIT}, "validation": {"train": [1990, 1993]}}, "exactly one of test"),
        (
            {"model": {"formula": LOGIT}, "validation": {"train": [1990, 1995], "test": [1992]}},
            r"test period\(s\) \['1992'\] lie inside the training range 1990..1995",
        ),
        ({"model": {"formula": LOGIT}, "validation": {"train": [1990], "test": [1992]}}, r"expected \[first, last\]"),
        ({"model": {"formula": LOGIT}, "validation": {"holdout_last": 0}}, r"\[validation\] holdout_last = 0"),
        (
            {"model": {"formula": LOGIT}, "validation": {"holdout_last": 1, "simulat": 3}},
            r"unknown key 'simulat' in \[validation\]; did you mean 'simulate'",
        ),
        ({"model": {"formula": LOGIT}, "engine": {"mode": "disk"}}, r"\[engine\] mode = 'disk': expected one of"),
        ({"model": {"formula": LOGIT}, "engine": {"design_budget_gb": 0}}, r"design_budget_gb must be a positive"),
        ({"model": {"formula": LOGIT}, "engine": {"spill": "yes"}}, r"\[engine\] spill must be true or false"),
    ],
)
def test_run_spec_model_and_validation_errors(tmp_path, tables, message):
    with pytest.raises(RunSpecError, match=message):
        parse_run_spec(_spec(**tables), base=tmp_path)


def test_auto_engine_moves_the_designs_to_the_workers_above_the_budget(demo, tmp_path):
    """design_bytes is every likelihood dyad's row and response in float64, per model; "auto" picks
    the period engine above design_budget_gb, and MCMC-MLE models are refused there."""
    from dyadflow import storage
    from dyadflow.flows.stages import check_periods_engine, choose_engine, design_bytes

    directory, panel = demo
    nodes = storage.period_nodes(directory / "data" / "store")
    assert [list(n) for n in nodes] == [list(panel[t].nodes) for t in range(len(panel))]
    rows = sum(len(n) * (len(n) - 1) // 2 for n in nodes)  # undirected, no lagged terms
    assert design_bytes({"logit": LOGIT}, panel, nodes) == rows * (4 + 1) * 8
    base = {"dataset": {"spec": str(directory / "data/dataset.toml"), "store": str(directory / "data/store")}}
    both = {"models": {"logit": {"formula": LOGIT}, "full": {"formula": FULL}}}
    needed = design_bytes({"logit": LOGIT, "full": FULL}, panel, nodes)
    for budget, expected in ((needed / 1e9, "memory"), (needed / 1e9 * 0.99, "periods")):
        spec = parse_run_spec({**base, **both, "engine": {"design_budget_gb": budget}}, base=tmp_path)
        assert choose_engine(spec, panel) == expected
    forced = parse_run_spec({**base, **both, "engine": {"mode": "memory", "design_budget_gb": 1e-9}}, base=tmp_path)
    assert choose_engine(forced, panel) == "memory"
    mle = parse_run_spec(
        {**base, "model": {"formula": LOGIT, "estimate": "MLE"}, "engine": {"mode": "periods"}}, base=tmp_path
    )
    with pytest.raises(RunSpecError, match="fitted by MCMC-MLE"):
        check_periods_engine(mle)


# ------------------------------------------------------------------- one union of change statistics


def _panel(periods: int, seed: int = 0):
    from dyadflow.storage.panel import Panel

    rng = np.random.default_rng(seed)
    n = 7
    dist = rng.random((n, n)).round(2)
    np.fill_diagonal(dist, 0)
    networks = []
    for _ in range(periods):
        adj = (rng.random((n, n)) < 0.35).astype(np.uint8)
        np.fill_diagonal(adj, 0)
        networks.append(adj)
    groups = [rng.choice(list("abc"), n) for _ in range(periods)]
    return Panel.from_arrays(
        networks,
        directed=True,
        period_names=[str(2000 + t) for t in range(periods)],
        dyad_covariates={"dist": dist},
        node_attributes={"group": groups},
    )


UNION_MODELS = {  # two lags (memory needs the period before), shared and own terms, factor levels
    "network": "y ~ edges + mutual + gwesp(0.5, fixed=TRUE) + memory(type='stability')",
    "logit": "y ~ edges + edgecov(dist) + nodefactor('group') + timecov(transform='linear')",
    "full": "y ~ edges + mutual + edgecov('dist') + gwesp(0.5, fixed = TRUE) + memory(type='stability')"
    " + nodematch('group')",
    "plain": "y ~ nodefactor('group') + edges",
}


def _assert_same_design(got, expected):
    assert got.names == expected.names and got.periods == expected.periods
    for field in ("X", "y", "offsets", "dyads"):
        a, b = getattr(got, field), getattr(expected, field)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), field
        assert a.flags.c_contiguous and a.flags.c_contiguous == b.flags.c_contiguous, field  # the estimators need it
    assert all(np.array_equal(a, b) for a, b in zip(got.nodes, expected.nodes))


def test_each_model_is_the_union_design_selected_by_name_bit_for_bit(demo):
    from dyadflow.flows.stages import changestats, period_content_hashes, union_models
    from dyadflow.tergm.design import build_design, parse_model

    store = demo[0] / "data" / "store"  # derived arrays live next to an ingested dataset
    panel = _panel(4, seed=3)
    hashes = period_content_hashes(panel)

    parsed = {name: parse_model(f, panel) for name, f in UNION_MODELS.items()}
    groups = union_models(parsed, panel)
    assert [(union.lag, members) for union, members in groups] == [(1, ["network", "full"]), (0, ["logit", "plain"])]
    # shared terms once (edgecov(dist) and edgecov('dist'), gwesp written two ways), first-appearance order
    lagged, plain = groups[0][0].names, groups[1][0].names
    assert lagged == parsed["network"].names + [n for n in parsed["full"].names if n not in parsed["network"].names]
    assert len(lagged) == 6 and len(plain) == len(parsed["logit"].names)  # plain's terms are all in logit

    first = changestats(UNION_MODELS, panel, hashes, store=store)
    assert list(first.designs) == list(UNION_MODELS)
    assert first.computed == ["2001", "2002", "2003", "2000", "2001", "2002", "2003"]  # once per period per lag
    for name, formula in UNION_MODELS.items():
        _assert_same_design(first.designs[name], build_design(formula, panel))
    again = changestats(UNION_MODELS, panel, hashes, store=store)
    assert again.computed == [] and len(again.reused) == 7
    for name, formula in UNION_MODELS.items():
        _assert_same_design(again.designs[name], build_design(formula, panel))
    alone = changestats(UNION_MODELS["network"], panel, hashes, store=store)  # its own key: not the union's rows
    assert alone.reused == [] and list(alone.designs) == ["model"]
    _assert_same_design(alone.design, build_design(UNION_MODELS["network"], panel))
    # logit's formula is its group's union (plain adds nothing): the same rows, the same key
    alone = changestats(UNION_MODELS["logit"], panel, hashes, store=store)
    assert alone.computed == [] and len(alone.reused) == 4
    _assert_same_design(alone.design, build_design(UNION_MODELS["logit"], panel))


def test_one_coefficient_name_from_two_different_terms_is_refused():
    from dyadflow.flows.stages import union_models
    from dyadflow.tergm.design import parse_model
    from dyadflow.tergm.formula import FormulaError

    panel = _panel(3)
    parsed = {
        "a": parse_model("y ~ edges + timecov(transform='linear')", panel),
        "b": parse_model("y ~ edges + timecov(transform='quadratic')", panel),
    }
    if parsed["a"].names != parsed["b"].names:
        pytest.skip("timecov's transforms have different names here")
    with pytest.raises(FormulaError, match="give the same coefficient name"):
        union_models(parsed, panel)


def test_validation_split_errors_name_the_key():
    from dyadflow.flows.spec import ValidationSpec
    from dyadflow.flows.stages import validation_split

    panel = _panel(5)  # periods 2000..2004
    formulas = {"lagged": UNION_MODELS["network"], "plain": UNION_MODELS["plain"]}
    split = validation_split(ValidationSpec(models=("lagged", "plain"), holdout_last=2), formulas, panel)
    assert split.train == ["2000", "2001", "2002"] and split.test == ["2003", "2004"]
    split = validation_split(ValidationSpec(models=("plain",), train=("2001", "2002"), test=("2004",)), formulas, panel)
    assert split.train == ["2001", "2002"] and split.test == ["2004"]
    for spec, message in [
        (
            ValidationSpec(models=("plain",), train=("2000", "2003"), test=("2002",)),
            r"test period\(s\) \['2002'\] lie inside the training range 2000..2003",
        ),
        (ValidationSpec(models=("plain",), train=("2002", "2003"), test=("2001",)), r"come before the training range"),
        (
            ValidationSpec(models=("lagged",), train=("2000", "2000"), test=("2001",)),
            r"model 'lagged' has lagged terms needing 1 earlier period\(s\), so the 1 training period\(s\)",
        ),
        (ValidationSpec(models=("plain",), test=("1999",)), r"\[validation\] test: period '1999' is not in the panel"),
        (ValidationSpec(models=("plain",), test=("2000",)), "no period before the first test period"),
        (ValidationSpec(models=("plain",), holdout_last=5), "holdout_last = 5 leaves no period to train on"),
        (ValidationSpec(models=("plain",), train=("2003", "2001"), test=("2004",)), "runs backwards"),
    ]:
        with pytest.raises(RunSpecError, match=message):
            validation_split(spec, formulas, panel)
    # one training period is enough for a model without lagged terms
    assert validation_split(
        ValidationSpec(models=("plain",), train=("2000", "2000"), test=("2001",)), formulas, panel
    ).train == ["2000"]


def test_the_validation_stage_passes_the_spec_to_validate(monkeypatch):
    """stages.validation calls tergm.prediction.validate with the [validation] models (in their order),
    the resolved split, no bootstrap of the training fits, the run's seed and `simulate`."""
    import dyadflow.tergm.prediction as prediction
    from dyadflow.flows.spec import ValidationSpec
    from dyadflow.flows.stages import validation

    calls = []
    monkeypatch.setattr(prediction, "validate", lambda models, panel, **kw: calls.append((dict(models), kw)) or "done")
    formulas = {"lagged": UNION_MODELS["network"], "plain": UNION_MODELS["plain"], "unused": UNION_MODELS["logit"]}
    spec = ValidationSpec(models=("plain", "lagged"), train=("2001", "2002"), test=("2004",), simulate=3)
    assert validation(spec, formulas, _panel(5), seed=5) == "done"
    [(models, arguments)] = calls
    assert list(models.items()) == [("plain", UNION_MODELS["plain"]), ("lagged", UNION_MODELS["network"])]
    assert arguments == {
        "train": ["2001", "2002"],
        "test": ["2004"],
        "R": 0,
        "seed": 5,
        "simulate": 3,
        "fit_training_periods": None,  # the training fits in this process (flows passes the period engine's)
    }


# --------------------------------------------------------------------------------- the flow, end to end


def write_spec(
    directory: Path,
    *,
    output: str,
    workers: int = 2,
    validation: str | None = None,
    models: dict | None = None,
    engine: str = "",
) -> Path:
    models = models or MODELS
    blocks = "\n".join(f'[models.{name}]\nformula = "{formula}"\n' for name, formula in models.items())
    validation = (
        validation
        if validation is not None
        else ('[validation]\ntrain = [1990, 1993]\ntest = [1994]\nmodels = ["network", "logit", "full"]\n')
    )
    text = f"""
[dataset]
spec = "data/dataset.toml"
store = "data/store"

{blocks}
[bootstrap]
R = {R}
seed = {SEED}
batch_size = {BATCH}

{validation}
[interpretation]
profiles = ["shared_partners", "edgecov.mlat[[i]]"]
subsamples = 20
edge_probabilities = true
model = "full"

[sensitivity]
levels = {LEVELS}
simulations = {SIMULATIONS}
seed = 3
model = "logit"

{engine}
[cluster]
kind = "local"
workers = {workers}

[output]
directory = "{output}"
"""
    path = directory / f"{output}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from dyadflow import storage
    from dyadflow.storage.demo import write_demo_dataset

    directory = tmp_path_factory.mktemp("multimodel")
    write_demo_dataset(directory / "data", nodes=30, periods=5, seed=21)
    storage.ingest(directory / "data" / "dataset.toml", directory / "data" / "store")
    return directory, storage.open_panel(directory / "data" / "store")


@pytest.fixture(scope="module")
def standalone(demo):
    """Each model fitted alone, in this process: tergm's btergm, no flow, no Dask."""
    from dyadflow.tergm import btergm

    _, panel = demo
    return {name: btergm(formula, panel, R=R, seed=SEED, batch_size=BATCH) for name, formula in MODELS.items()}


@pytest.fixture(scope="module")
def two_workers(isolated_prefect, demo):
    from dyadflow.flows.workflow import run_flow

    directory, _ = demo
    return Path(run_flow(str(write_spec(directory, output="two"))))


RESULT_FILES = [
    "coefficients.parquet",
    "coefficients.csv",
    "regression_table.csv",
    "bootstrap_replicates.parquet",
    "bootstrap_replicates.csv",
    "sensitivity.parquet",
    "sensitivity.csv",
    "sensitivity_estimates.parquet",
    "predictions.parquet",
    "rocpr.parquet",
    "auc.csv",
    "auc.parquet",
    "profiles.parquet",
    "marginal_effects.parquet",
    "edge_probabilities.parquet",
    "summary.txt",
    "run.json",
]


def test_every_file_is_written(two_workers):
    import importlib.util

    missing = [name for name in RESULT_FILES if not (two_workers / name).is_file()]
    assert not missing
    if importlib.util.find_spec("dyadflow.report") is not None:  # the report package, once installed
        assert (two_workers / "report.html").is_file()


def test_interpretation_files_are_the_interpret_api_on_the_models_fit(two_workers, standalone):
    from dyadflow.tergm.interpret import edge_probabilities, marginal_effects, probability_profile

    fit = standalone["full"]  # [interpretation] model = "full"
    profiles = pd.concat(
        [
            probability_profile(fit, statistic, subsamples=20, seed=12345, model="full")
            for statistic in ("shared_partners", "edgecov.mlat[[i]]")
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(pd.read_parquet(two_workers / "profiles.parquet"), profiles, check_exact=True)
    assert set(profiles.interval) == {"bootstrap", "subsample"}
    effects = pd.read_parquet(two_workers / "marginal_effects.parquet")
    pd.testing.assert_frame_equal(effects, marginal_effects(fit, model="full"), check_exact=True)
    edges = pd.read_parquet(two_workers / "edge_probabilities.parquet")
    pd.testing.assert_frame_equal(edges, edge_probabilities(fit).assign(model="full"), check_exact=True)
    assert "Average marginal effects (model 'full'" in (two_workers / "summary.txt").read_text()


def test_a_profile_of_a_statistic_not_in_the_model_is_refused_before_fitting(isolated_prefect, demo):
    from dyadflow.flows.workflow import run_flow

    directory, _ = demo
    spec = write_spec(directory, output="badprofile", workers=1)
    spec.write_text(spec.read_text().replace('"edgecov.mlat[[i]]"', '"nodecov.gdp"'))
    with pytest.raises(RunSpecError, match=r"profiles: \['nodecov.gdp'\] are neither terms of model 'full'"):
        run_flow(str(spec))
    assert not (directory / "badprofile" / "coefficients.parquet").exists()


def test_each_model_equals_a_standalone_btergm_bit_for_bit(two_workers, standalone):
    coefficients = pd.read_parquet(two_workers / "coefficients.parquet")
    assert list(coefficients.columns[:5]) == ["model", "term", "Estimate", "2.5%", "97.5%"]
    assert list(dict.fromkeys(coefficients.model)) == list(MODELS)
    replicates = pd.read_parquet(two_workers / "bootstrap_replicates.parquet")
    assert list(replicates.columns[:4]) == ["model", "replicate", "periods", "converged"]
    union = list(dict.fromkeys(term for fit in standalone.values() for term in fit.names))
    assert list(replicates.columns[4:]) == union
    for name, fit in standalone.items():
        block = coefficients[coefficients.model == name].drop(columns="model").set_index("term")
        assert list(block.index) == fit.names
        expected = fit.to_frame()
        pd.testing.assert_frame_equal(block[expected.columns], expected, check_exact=True, check_names=False)
        # the plain logit alone adds cluster-robust and conventional SEs (tests/test_logit_flow.py checks them)
        extra = block.drop(columns=expected.columns)
        assert list(extra.columns) == ["Std.Err.cluster", "z.cluster", "p.cluster", "Std.Err.conventional"]
        assert extra.notna().all().all() if name == "logit" else extra.isna().all().all()
        rows = replicates[replicates.model == name]
        assert np.array_equal(rows[fit.names].to_numpy(), fit.replicates)
        others = [t for t in union if t not in fit.names]
        assert rows[others].isna().all().all()
        assert list(rows.periods) == [" ".join(fit.design_matrix.periods[t] for t in row) for row in fit.resamples]
    # the same seed and the same periods: every model drew the same bootstrap samples
    assert len({tuple(replicates[replicates.model == m].periods) for m in MODELS}) == 1
    regression = pd.read_csv(two_workers / "regression_table.csv")
    assert list(regression.columns) == ["term"] + [c for m in MODELS for c in (m, f"{m}_se")]
    assert list(regression.term) == union
    for name, fit in standalone.items():
        table = regression.set_index("term")
        np.testing.assert_allclose(table.loc[fit.names, name].to_numpy(), fit.mple.coef, rtol=1e-15)
        np.testing.assert_allclose(table.loc[fit.names, f"{name}_se"], fit.to_frame()["Std.Err"], rtol=1e-15)


def test_summary_is_a_regression_table(two_workers, standalone):
    summary = (two_workers / "summary.txt").read_text()
    header = next(line for line in summary.splitlines() if "network" in line and "logit" in line)
    assert header.split() == list(MODELS)
    full = standalone["full"]
    table = full.to_frame()
    for term in full.names:
        line = next(line for line in summary.splitlines() if line.startswith(term + " "))
        estimate = f"{table.loc[term, 'Estimate']:.4f}"
        assert estimate in line
        marked = table.loc[term, "2.5%"] > 0 or table.loc[term, "97.5%"] < 0
        assert (estimate + "*" in line) == marked
        below = summary.splitlines()[summary.splitlines().index(line) + 1]
        assert f"({table.loc[term, 'Std.Err']:.4f})" in below
    assert "gwesp.fixed.0.5" in summary and "Replicates" in summary
    assert "Sensitivity of model 'logit'" in summary
    assert "Out-of-sample prediction" in summary


def test_sensitivity_runs_for_the_named_model(two_workers, standalone):
    table = pd.read_parquet(two_workers / "sensitivity.parquet")
    assert set(table.model) == {"logit"}
    zero = table[table.level == 0.0].set_index("term").loc[standalone["logit"].names]
    assert np.array_equal(zero.baseline.to_numpy(), standalone["logit"].mple.coef)


def test_run_json_and_validation_tables(two_workers, demo):
    record = json.loads((two_workers / "run.json").read_text())
    assert record["models"] == MODELS
    assert record["validation"]["train"] == ["1990", "1991", "1992", "1993"]
    assert record["validation"]["test"] == ["1994"]
    assert record["sensitivity_model"] == "logit"
    assert set(record["designs"]) == set(MODELS) and record["designs"]["logit"]["periods"][0] == "1990"
    assert "prediction" in record["timings_s"]
    predictions = pd.read_parquet(two_workers / "predictions.parquet")
    assert list(predictions.columns) == ["model", "kind", "period", "tail", "head", "observed", "probability"]
    assert set(predictions.model) == set(MODELS) and set(predictions.period) == {"1994"}
    auc = pd.read_csv(two_workers / "auc.csv")
    assert set(auc.model) == set(MODELS) | {"random"}
    rocpr = pd.read_parquet(two_workers / "rocpr.parquet")
    assert {"model", "kind", "period", "curve", "x", "y", "threshold"} <= set(rocpr.columns)
    from dyadflow.tergm.prediction import validate  # the flow's tables are validate's, called directly

    direct = validate(MODELS, demo[1], train=["1990", "1991", "1992", "1993"], test=["1994"], R=0, seed=SEED)
    pd.testing.assert_frame_equal(predictions, direct.predictions, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(two_workers / "auc.parquet"), direct.auc, check_exact=True)
    pd.testing.assert_frame_equal(rocpr, direct.rocpr, check_exact=True)


def test_prefect_artifacts_are_published(two_workers):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:

        def artifacts(key):
            return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))

        table, markdown = artifacts("dyadflow-two-coefficients"), artifacts("dyadflow-two-summary")
    assert table and table[0].type == "table"
    rows = json.loads(table[0].data) if isinstance(table[0].data, str) else table[0].data
    assert len(rows) == sum(len(f.split("+")) for f in MODELS.values())
    assert markdown and markdown[0].type == "markdown"
    text = markdown[0].data
    assert "roc_auc" in text and "report.html" in text and "Sensitivity" in text


def test_one_worker_gives_identical_files(two_workers, demo):
    from dyadflow.flows.workflow import run_flow

    directory, _ = demo
    one = Path(run_flow(str(write_spec(directory, output="one", workers=1))))
    for name in RESULT_FILES:
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(two_workers / name), pd.read_parquet(one / name), check_exact=True
            )
        elif name != "run.json":  # run.json records the cluster and the timings
            assert (two_workers / name).read_bytes() == (one / name).read_bytes(), name


def test_the_period_engine_gives_the_in_memory_files(two_workers, demo):
    """[engine] mode = "periods": every model's fit and bootstrap, and the validation's training fits,
    on the workers (the driver never holds a design); the same tables bit for bit. The stages that read
    every row in one process are not run, and run.json, summary.txt and the report say why."""
    from dyadflow.flows.workflow import run_flow

    directory, _ = demo
    engine = '[engine]\nmode = "periods"\n'
    periods = Path(run_flow(str(write_spec(directory, output="periods", engine=engine))))
    for name in ["bootstrap_replicates.parquet", "predictions.parquet", "rocpr.parquet", "auc.parquet"]:
        pd.testing.assert_frame_equal(
            pd.read_parquet(periods / name), pd.read_parquet(two_workers / name), check_exact=True
        )
    mine, memory = (
        pd.read_parquet(periods / "coefficients.parquet"),
        pd.read_parquet(two_workers / "coefficients.parquet"),
    )
    # the plain logit's cluster-robust columns need its rows in one process: not computed here
    assert set(memory.columns) - set(mine.columns) == {
        "Std.Err.cluster",
        "z.cluster",
        "p.cluster",
        "Std.Err.conventional",
    }
    pd.testing.assert_frame_equal(mine, memory[mine.columns], check_exact=True)
    run = json.loads((periods / "run.json").read_text())
    assert run["engine"] == "periods" and json.loads((two_workers / "run.json").read_text())["engine"] == "memory"
    assert set(run["skipped"]) == {"interpretation", "sensitivity", "cluster_se"}
    assert run["designs"] == json.loads((two_workers / "run.json").read_text())["designs"]
    assert not (periods / "profiles.parquet").exists() and not (periods / "sensitivity.parquet").exists()
    assert "Not run (periods engine)" in (periods / "summary.txt").read_text()
    assert "This run skipped it" in (periods / "report.html").read_text()
    # each model's MPLE and bootstrap batches were checkpointed; a rerun loads them, rewriting none
    saved = {path: path.stat().st_mtime_ns for path in (periods / ".checkpoints" / "periods").iterdir()}
    assert len(saved) == len(MODELS) * (1 + -(-R // BATCH))
    again = Path(run_flow(str(write_spec(directory, output="periods", engine=engine))))
    coefficients = pd.read_parquet(again / "coefficients.parquet")
    pd.testing.assert_frame_equal(coefficients, memory[mine.columns], check_exact=True)
    assert {path: path.stat().st_mtime_ns for path in (periods / ".checkpoints" / "periods").iterdir()} == saved


def test_flow_refuses_a_split_too_short_for_the_lag_before_fitting(two_workers, demo):
    from dyadflow.flows.workflow import run_flow

    directory, _ = demo
    lagged = {"stable": "cmaa ~ edges + edgecov(mlat) + memory(type='stability')", **MODELS}
    path = write_spec(
        directory, output="short", models=lagged, validation="[validation]\ntrain = [1990, 1990]\ntest = [1991]\n"
    )
    with pytest.raises(RunSpecError, match=r"model 'stable' has lagged terms"):
        run_flow(str(path))
    assert not (directory / "short" / "coefficients.parquet").exists()


def test_predict_flow_runs_the_validation_alone(two_workers, demo):
    from dyadflow.flows.workflow import predict_flow

    directory, _ = demo
    path = write_spec(directory, output="predicted", validation='[validation]\nholdout_last = 1\nmodels = ["logit"]\n')
    result = predict_flow(str(path))
    output = Path(result["output"])
    assert "Out-of-sample prediction" in result["summary"]
    assert {"predictions.parquet", "rocpr.parquet", "auc.csv"} <= {p.name for p in output.iterdir()}
    assert not (output / "coefficients.parquet").exists()  # nothing but the validation
    auc = pd.read_csv(output / "auc.csv")
    assert set(auc.model) == {"logit", "random"} and "1994" in set(auc.period.astype(str))
    with pytest.raises(RunSpecError, match="no \\[validation\\] table"):
        predict_flow(str(write_spec(directory, output="nothing", validation="")))


def test_predict_command(demo):
    """`dyadflow predict spec.toml` in a subprocess."""
    import os
    import subprocess

    from flows_conftest import REPO

    directory, _ = demo
    path = write_spec(
        directory, output="command", validation='[validation]\ntest = [1994]\nmodels = ["network", "logit"]\n'
    )
    env = dict(os.environ, PREFECT_HOME=str(directory / "prefect-cli"))
    result = subprocess.run(
        [sys.executable, "-m", "dyadflow.flows.cli", "predict", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "roc_auc" in result.stdout and f"results: {directory / 'command'}" in result.stdout
    auc = pd.read_csv(directory / "command" / "auc.csv")
    assert set(auc.model) == {"network", "logit", "random"}


def test_report_html_is_written_when_the_report_package_is_there(tmp_path, monkeypatch):
    """write_html_report: the report package's path; a report that fails is a warning (the run's tables are
    written), not a failed run; without the package, None."""
    import types

    from dyadflow.flows.report import artifact_key, write_html_report

    written = types.ModuleType("dyadflow.report")
    written.write_report_html = lambda directory: Path(directory) / "report.html"
    monkeypatch.setitem(sys.modules, "dyadflow.report", written)
    assert write_html_report(tmp_path) == tmp_path / "report.html"

    def broken(directory):
        raise ValueError("coefficients.parquet: missing")

    written.write_report_html = broken
    with pytest.warns(UserWarning, match="report.html was not written: coefficients.parquet: missing"):
        assert write_html_report(tmp_path) is None
    monkeypatch.setitem(sys.modules, "dyadflow.report", None)  # not installed: the import fails
    assert write_html_report(tmp_path) is None
    assert artifact_key("Results 2024_v1") == "dyadflow-results-2024-v1" and artifact_key("__") == "dyadflow-results"
