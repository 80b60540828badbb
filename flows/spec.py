"""The run spec: one TOML file that fixes a whole workflow (data, models, bootstrap, validation,
sensitivity batch, cluster, output). Relative paths are relative to the spec file.

    [dataset]
    spec = "data/dataset.toml"      # the dataset spec storage.ingest reads
    store = "data/store"            # where the ingested panel and cached change statistics live

    [model]                         # one model (named "model") ...
    formula = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + memory(type='stability')"
    estimate = "MPLE"               # or "MLE": MCMC-MLE started at the MPLE (no bootstrap)

    [models.network]                # ... or several, side by side (not both [model] and [models.*])
    formula = "cmaa ~ edges + gwesp(0.5, fixed=TRUE)"
    [models.logit]
    formula = "cmaa ~ edges + edgecov(mlat)"
    R = 500                         # optional per-model overrides of [bootstrap] R, seed, batch_size
    [models.full]
    formula = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + edgecov(mlat)"

    [bootstrap]
    R = 100
    seed = 12345
    batch_size = 25                 # replicates per Dask task; fixes the batches, not the workers

    [validation]                    # optional: out-of-sample prediction (tergm.prediction.validate)
    train = [1990, 1999]            # first and last training period (names as in the panel; years may be numbers)
    test = [2000]                   # test periods, after the training ones; or instead:
    # holdout_last = 1              # the last N periods (train, if not given: every period before them)
    simulate = 0                    # networks simulated per test period for the leak-free prediction
    models = ["network", "logit"]   # default: every model

    [interpretation]                # optional: tergm.interpret on one model's fit (with its bootstrap)
    profiles = ["shared_partners"]  # mean predicted tie probability per value of these statistics (terms
                                    # of the model or "shared_partners", "tail_degree", "head_degree")
    subsamples = 200                # random half-samples of dyads for the second kind of interval
    seed = 12345
    edge_probabilities = false      # true: also edge_probabilities.parquet (one row per dyad-period)
    model = "full"                  # default: the first model

    [gof]                           # optional: simulation goodness of fit (tergm.gof)
    nsim = 100
    seed = 12345                    # burnin, interval: default as tergm.simulation documents
    model = "full"                  # default: the first model

    [sensitivity]                   # optional
    levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    simulations = 100
    mode = "period"                 # or "agreement"
    seed = 20210101
    model = "full"                  # default: the first model

    [engine]                        # optional: where the designs live (see flows/periods.py)
    mode = "auto"                   # "memory": in the driver; "periods": each period on a Dask worker
                                    # (panels whose design exceeds the driver's memory); "auto": periods
                                    # when the models' design would exceed design_budget_gb
    design_budget_gb = 2.0
    spill = false                   # true: the workers keep their periods in the output directory (Zarr)

    [cluster]                       # optional; see cluster.ClusterSpec
    kind = "local"
    workers = 2

    [output]
    directory = "runs/latest"
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dyadflow.cluster import ClusterSpec, ClusterSpecError
from dyadflow.storage.validation import check_keys
from dyadflow.tergm.logit import CORRECTIONS
from dyadflow.tergm.rewire import MODES


class RunSpecError(ValueError):
    """A run spec that cannot be run; the message names the table and key."""


SINGLE_MODEL = "model"  # the name of the one model of a [model] table


@dataclass(frozen=True)
class SensitivitySpec:
    levels: tuple[float, ...]
    simulations: int = 100
    mode: str = "period"
    seed: int = 20210101
    model: str | None = None  # which model is rewired and refitted (None: the first)


@dataclass(frozen=True)
class GofSpec:
    nsim: int = 100
    burnin: int | None = None
    interval: int | None = None
    seed: int = 12345
    model: str | None = None  # which model's fit is simulated (None: the first)


@dataclass(frozen=True)
class InterpretationSpec:
    """[interpretation]: probability profiles, marginal effects and optionally edge probabilities of one
    model's fit (tergm.interpret); statistics are checked against the model once it is parsed."""

    profiles: tuple[str, ...] = ("shared_partners",)
    subsamples: int = 200
    seed: int = 12345
    edge_probabilities: bool = False
    model: str | None = None  # which model (None: the first)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the run: its formula, estimator and bootstrap (defaults from [bootstrap])."""

    name: str
    formula: str
    estimate: str = "MPLE"
    R: int = 100
    seed: int = 12345
    batch_size: int = 25
    # Plain-logit models (no network terms) also report cluster-robust SEs (tergm.logit): what the
    # clusters are ("dyad", "tail", "head", "period", a dyadic covariate's name; None: conventional
    # SEs only) and the small-sample correction.
    cluster: str | None = "dyad"
    correction: str = "statsmodels"
    cluster_given: bool = False  # the spec named `cluster`: an error for a model with network terms

    def model_key(self) -> str:
        """Identifies what a fit depends on besides the data (formula); stages hash it with the data hash."""
        return hashlib.sha256(json.dumps({"formula": self.formula}, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ValidationSpec:
    """[validation]: the split as written (period labels as strings); resolved against the panel's
    periods by tergm.prediction when the run starts."""

    models: tuple[str, ...]
    train: tuple[str, str] | None = None  # first and last training period
    test: tuple[str, ...] | None = None
    holdout_last: int | None = None
    simulate: int = 0

    def record(self) -> dict:
        return {
            "train": list(self.train) if self.train else None,
            "test": list(self.test) if self.test else None,
            "holdout_last": self.holdout_last,
            "simulate": self.simulate,
            "models": list(self.models),
        }


ENGINE_MODES = ("auto", "memory", "periods")


@dataclass(frozen=True)
class EngineSpec:
    """[engine]: whether the designs are built in the driver ("memory") or period by period on the
    Dask workers, which answer the estimator's requests ("periods", tergm.engine/flows.periods);
    "auto" picks "periods" when the design would exceed design_budget_gb."""

    mode: str = "auto"
    design_budget_gb: float = 2.0
    spill: bool = False


@dataclass(frozen=True)
class RunSpec:
    dataset: Path
    store: Path
    models: tuple[ModelSpec, ...]  # in spec order; the first is the primary model
    output: Path
    R: int = 100  # [bootstrap]: the defaults each model may override
    seed: int = 12345
    batch_size: int = 25
    sensitivity: SensitivitySpec | None = None
    gof: GofSpec | None = None
    validation: ValidationSpec | None = None
    interpretation: InterpretationSpec | None = None
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    engine: EngineSpec = field(default_factory=EngineSpec)
    source: Mapping = field(default_factory=dict)  # the parsed TOML, recorded in run.json

    def with_cluster_address(self, address: str | None) -> RunSpec:
        if not address:
            return self
        return replace(self, cluster=ClusterSpec.from_mapping(self.source.get("cluster"), address=address))

    @property
    def model_names(self) -> list[str]:
        return [m.name for m in self.models]

    @property
    def formulas(self) -> dict[str, str]:
        return {m.name: m.formula for m in self.models}

    def model(self, name: str | None = None) -> ModelSpec:
        """The model called `name` (None: the first)."""
        if name is None:
            return self.models[0]
        for m in self.models:
            if m.name == name:
                return m
        raise RunSpecError(f"no model named {name!r}; the run spec's models are {self.model_names}")

    @property
    def formula(self) -> str:
        """The first model's formula."""
        return self.models[0].formula

    @property
    def estimate(self) -> str:
        """The first model's estimator."""
        return self.models[0].estimate

    def model_key(self) -> str:
        return self.models[0].model_key()


_TABLES = {
    "dataset": {"spec", "store"},
    "model": {"formula", "estimate"},
    "models": None,  # one table per model, checked below
    "gof": {"nsim", "burnin", "interval", "seed", "model"},
    "interpretation": {"profiles", "subsamples", "seed", "edge_probabilities", "model"},
    "bootstrap": {"R", "seed", "batch_size"},
    "validation": {"train", "test", "holdout_last", "simulate", "models"},
    "sensitivity": {"levels", "simulations", "mode", "seed", "model"},
    "engine": {"mode", "design_budget_gb", "spill"},
    "cluster": None,  # checked by ClusterSpec
    "output": {"directory"},
}
_MODEL_KEYS = {"formula", "estimate", "R", "seed", "batch_size", "cluster", "correction"}


def load_run_spec(path: str | Path, *, cluster_address: str | None = None) -> RunSpec:
    path = Path(path)
    if not path.is_file():
        raise RunSpecError(f"run spec {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RunSpecError(
            f"run spec {path}: byte {error.object[error.start]:#04x} at offset {error.start} is "
            "not valid UTF-8; save the file as UTF-8"
        ) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RunSpecError(f"run spec {path} is not valid TOML: {error}") from None
    return parse_run_spec(table, base=path.resolve().parent, cluster_address=cluster_address)


def parse_run_spec(table: Mapping, *, base: Path, cluster_address: str | None = None) -> RunSpec:
    check_keys(table, _TABLES, "the run spec", RunSpecError, "run spec: ")
    for name, keys in _TABLES.items():
        if name in table and not isinstance(table[name], Mapping):
            raise RunSpecError(f"run spec: [{name}] must be a table, got {table[name]!r}")
        if keys is not None and name in table:
            check_keys(table[name], keys, f"[{name}]", RunSpecError)
    dataset = table.get("dataset", {})
    for key in ("spec", "store"):
        if not isinstance(dataset.get(key), str):
            raise RunSpecError(f"[dataset] {key} is required (a path)")
    boot = table.get("bootstrap", {})
    R = _positive_int(boot.get("R", 100), "[bootstrap] R", allow_zero=True)
    seed = _positive_int(boot.get("seed", 12345), "[bootstrap] seed", allow_zero=True)
    batch_size = _positive_int(boot.get("batch_size", 25), "[bootstrap] batch_size")
    models = _models(table, R=R, seed=seed, batch_size=batch_size)
    names = [m.name for m in models]
    gof = None
    if "gof" in table:
        g = table["gof"]
        gof = GofSpec(
            nsim=_positive_int(g.get("nsim", 100), "[gof] nsim"),
            burnin=None if "burnin" not in g else _positive_int(g["burnin"], "[gof] burnin", allow_zero=True),
            interval=None if "interval" not in g else _positive_int(g["interval"], "[gof] interval"),
            seed=_positive_int(g.get("seed", 12345), "[gof] seed", allow_zero=True),
            model=_model_name(g, "[gof] model", names),
        )
    validation = _validation(table["validation"], names) if "validation" in table else None
    interpretation = _interpretation(table["interpretation"], names) if "interpretation" in table else None
    sensitivity = None
    if "sensitivity" in table:
        sens = table["sensitivity"]
        levels = sens.get("levels", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
        if not isinstance(levels, list) or not levels:
            raise RunSpecError("[sensitivity] levels must be a non-empty list of shares in [0, 1]")
        for level in levels:
            if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level <= 1:
                raise RunSpecError(f"[sensitivity] levels: {level!r} is not a share in [0, 1]")
        if len(set(levels)) != len(levels):
            raise RunSpecError(f"[sensitivity] levels repeat a value: {levels}")
        mode = sens.get("mode", "period")
        if mode not in MODES:
            raise RunSpecError(f"[sensitivity] mode = {mode!r}: expected one of {list(MODES)}")
        sensitivity = SensitivitySpec(
            levels=tuple(float(v) for v in levels),
            simulations=_positive_int(sens.get("simulations", 100), "[sensitivity] simulations"),
            mode=mode,
            seed=_positive_int(sens.get("seed", 20210101), "[sensitivity] seed", allow_zero=True),
            model=_model_name(sens, "[sensitivity] model", names),
        )
    try:
        cluster = ClusterSpec.from_mapping(table.get("cluster"), address=cluster_address)
    except ClusterSpecError as error:
        raise RunSpecError(str(error)) from error
    output = table.get("output", {}).get("directory", "runs/latest")
    engine = _engine(table.get("engine", {}))
    return RunSpec(
        dataset=(base / dataset["spec"]).resolve(),
        store=(base / dataset["store"]).resolve(),
        models=models,
        output=(base / output).resolve(),
        R=R,
        seed=seed,
        batch_size=batch_size,
        sensitivity=sensitivity,
        gof=gof,
        validation=validation,
        interpretation=interpretation,
        cluster=cluster,
        engine=engine,
        source=dict(table),
    )


def _engine(table: Mapping) -> EngineSpec:
    mode = table.get("mode", "auto")
    if mode not in ENGINE_MODES:
        raise RunSpecError(f"[engine] mode = {mode!r}: expected one of {list(ENGINE_MODES)}")
    budget = table.get("design_budget_gb", 2.0)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise RunSpecError(f"[engine] design_budget_gb must be a positive number of GB, got {budget!r}")
    spill = table.get("spill", False)
    if not isinstance(spill, bool):
        raise RunSpecError(f"[engine] spill must be true or false, got {spill!r}")
    return EngineSpec(mode=mode, design_budget_gb=float(budget), spill=spill)


def _models(table: Mapping, *, R: int, seed: int, batch_size: int) -> tuple[ModelSpec, ...]:
    """[model] as one model named "model", or each [models.<name>] table in spec order."""
    if "model" in table and "models" in table:
        raise RunSpecError("run spec: give either one [model] table or [models.<name>] tables, not both")
    if "models" in table:
        tables = table["models"]
        if not tables:
            raise RunSpecError('run spec: [models] holds no model; add e.g. [models.full] with formula = "..."')
        for name, model in tables.items():
            if not isinstance(model, Mapping):
                raise RunSpecError(f'run spec: [models.{name}] must be a table with formula = "...", got {model!r}')
            check_keys(model, _MODEL_KEYS, f"[models.{name}]", RunSpecError)
    else:
        tables = {SINGLE_MODEL: table.get("model", {})}
    models = []
    for name, model in tables.items():
        where = "[model]" if "models" not in table else f"[models.{name}]"
        if not _NAME.fullmatch(name):
            raise RunSpecError(
                f"run spec: {where}: a model name must be letters, digits, '_' or '-' "
                f"(it names columns and files), got {name!r}"
            )
        if name.endswith("_se") and name[:-3] in tables:
            raise RunSpecError(
                f"run spec: {where}: the name {name!r} would clash with the standard-error column "
                f"of model {name[:-3]!r} in regression_table.csv"
            )
        if name in _RESERVED_NAMES:
            raise RunSpecError(f"run spec: {where}: the model name {name!r} is reserved ({_RESERVED_NAMES[name]})")
        formula = model.get("formula")
        if not isinstance(formula, str) or "~" not in formula:
            raise RunSpecError(
                f"{where} formula is required, e.g. formula = \"net ~ edges + memory(type='stability')\""
            )
        estimate = model.get("estimate", "MPLE")
        if estimate not in ("MPLE", "MLE"):
            raise RunSpecError(f'{where} estimate = {estimate!r}: expected "MPLE" or "MLE"')
        cluster = model.get("cluster", "dyad")
        if not isinstance(cluster, str) or not cluster:
            raise RunSpecError(
                f'{where} cluster = {cluster!r}: expected "dyad", "tail", "head", "period", '
                'a dyadic covariate\'s name, or "none"'
            )
        correction = model.get("correction", "statsmodels")
        if correction not in CORRECTIONS:
            raise RunSpecError(f"{where} correction = {correction!r}: expected one of {list(CORRECTIONS)}")
        models.append(
            ModelSpec(
                name=name,
                formula=formula,
                estimate=estimate,
                R=_positive_int(model.get("R", R), f"{where} R", allow_zero=True),
                seed=_positive_int(model.get("seed", seed), f"{where} seed", allow_zero=True),
                batch_size=_positive_int(model.get("batch_size", batch_size), f"{where} batch_size"),
                cluster=None if cluster == "none" else cluster,
                correction=correction,
                cluster_given="cluster" in model or "correction" in model,
            )
        )
    return tuple(models)


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_RESERVED_NAMES = {"random": "the random-graph baseline of the validation tables", "term": "a regression_table column"}


def _interpretation(table: Mapping, names: list[str]) -> InterpretationSpec:
    profiles = table.get("profiles", ["shared_partners"])
    if not isinstance(profiles, list) or not all(isinstance(p, str) and p for p in profiles):
        raise RunSpecError(
            f"[interpretation] profiles = {profiles!r}: expected a list of statistic names, "
            'e.g. ["shared_partners", "edgecov.mlat[[i]]"]'
        )
    edge = table.get("edge_probabilities", False)
    if not isinstance(edge, bool):
        raise RunSpecError(f"[interpretation] edge_probabilities = {edge!r}: expected true or false")
    return InterpretationSpec(
        profiles=tuple(profiles),
        subsamples=_positive_int(table.get("subsamples", 200), "[interpretation] subsamples"),
        seed=_positive_int(table.get("seed", 12345), "[interpretation] seed", allow_zero=True),
        edge_probabilities=edge,
        model=_model_name(table, "[interpretation] model", names),
    )


def _model_name(table: Mapping, key: str, names: list[str]) -> str | None:
    """An optional `model = "name"` key, checked against the spec's models."""
    name = table.get("model")
    if name is None:
        return None
    if name not in names:
        raise RunSpecError(f"{key} = {name!r} is not a model of this run spec; its models are {names}")
    return name


def _period_label(value, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RunSpecError(f"{key}: {value!r} is not a period (a name as in the panel, or a year)")
    return str(value)


def _validation(table: Mapping, names: list[str]) -> ValidationSpec:
    """[validation]: the split (train = [first, last], and test = [...] or holdout_last = N), the
    models compared (default all) and how many networks to simulate per test period."""
    train = table.get("train")
    if train is not None:
        if not isinstance(train, list) or len(train) != 2:
            raise RunSpecError(
                f"[validation] train = {train!r}: expected [first, last] training period, e.g. train = [1990, 1999]"
            )
        train = tuple(_period_label(v, "[validation] train") for v in train)
    test, holdout = table.get("test"), table.get("holdout_last")
    if (test is None) == (holdout is None):
        raise RunSpecError("[validation] needs exactly one of test = [periods] or holdout_last = N")
    if test is not None:
        if not isinstance(test, list) or not test:
            raise RunSpecError(
                f"[validation] test = {test!r}: expected a non-empty list of periods, e.g. test = [2000]"
            )
        test = tuple(_period_label(v, "[validation] test") for v in test)
        if len(set(test)) != len(test):
            raise RunSpecError(f"[validation] test repeats a period: {list(test)}")
        if train is not None and set(test) & set(train):
            both = sorted(set(test) & set(train))
            raise RunSpecError(f"[validation] test period(s) {both} are also training periods")
        if train is not None and all(v.lstrip("-").isdigit() for v in train + test):
            inside = [v for v in test if int(train[0]) <= int(v) <= int(train[1])]
            if inside:
                raise RunSpecError(
                    f"[validation] test period(s) {inside} lie inside the training range {train[0]}..{train[1]}"
                )
    else:
        holdout = _positive_int(holdout, "[validation] holdout_last")
    models = table.get("models", names)
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise RunSpecError(f"[validation] models = {models!r}: expected a non-empty list of model names from {names}")
    unknown = [m for m in models if m not in names]
    if unknown:
        raise RunSpecError(
            f"[validation] models: {unknown} {'is' if len(unknown) == 1 else 'are'} not "
            f"model(s) of this run spec; its models are {names}"
        )
    if len(set(models)) != len(models):
        raise RunSpecError(f"[validation] models repeats a name: {models}")
    return ValidationSpec(
        models=tuple(models),
        train=train,
        test=test,
        holdout_last=holdout,
        simulate=_positive_int(table.get("simulate", 0), "[validation] simulate", allow_zero=True),
    )


def _positive_int(value, name: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise RunSpecError(f"{name} = {value!r}: expected a {'non-negative' if allow_zero else 'positive'} integer")
    return value
