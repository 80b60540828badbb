"""Out-of-sample prediction: fit each model on the training periods, predict the tie of every dyad of
each test period, and measure the predictions with ROC and precision-recall curves (tergm.metrics).

    result = validate({"network": "y ~ edges + gwesp(0.5, fixed=TRUE) + memory", "logit": "y ~ edges + ..."},
                      panel, holdout_last=1, R=100)
    print(result.summary())
    result.write("results/")       # predictions.parquet, rocpr.parquet, auc.csv/.parquet, ...

Two kinds of prediction, told apart in every table by the `kind` column:

- kind="mple": the tie probability given the rest of the observed test network, logistic(theta . x_ij)
  with x_ij the change statistics of the test period's design. The design is built exactly as btergm's
  `gof(fit, target = ..., formula = networks[last_train:test] ~ ...)` builds it: structural terms read
  the OBSERVED test network (the other ties of the very network being predicted), lagged terms (memory,
  delrecip) the period just before (for the first test period: the last training period), covariates
  the test period's own; the time index of timecov continues the training periods' count. Because the
  network terms see the test period's other ties, these predictions flatter network models.
- kind="simulation" (validate(simulate=nsim)): the mean tie indicator over nsim networks simulated for
  the test period from the fitted coefficients (btergm's gof), conditional only on the covariates and
  the lagged earlier networks: the leak-free comparison.

The random-graph baseline (model "random") scores every dyad of a test period alike at that period's
observed density (btergm's `rgraph`, without its Monte-Carlo noise): ROC-AUC 1/2, PR-AUC = the density.
It is listed under each kind present so every comparison has its baseline. Test periods are evaluated
one by one and "pooled" (all their dyads together).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from dyadflow.tergm.design import Design, design_for_period, parse_model
from dyadflow.tergm.metrics import (
    MetricsError,
    PredictionMetrics,
    evaluate_predictions,
    random_baseline,
)
from dyadflow.tergm.results import Fit

RANDOM_MODEL = "random"
POOLED = "pooled"
KINDS = ("mple", "simulation")

PREDICTION_COLUMNS = ["model", "kind", "period", "tail", "head", "observed", "probability"]
ROCPR_COLUMNS = ["model", "kind", "period", "curve", "x", "y", "threshold"]
AUC_COLUMNS = [
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


class PredictionError(ValueError):
    """A validation split or model set that cannot be evaluated; the message names the problem."""


# ---------------------------------------------------------------------------------------------
# The split


@dataclass(frozen=True)
class Split:
    """Training and test periods as panel indices (training consecutive, every test period after it)."""

    train: list[int]
    test: list[int]
    period_names: list[str]

    @property
    def train_names(self) -> list[str]:
        return [self.period_names[t] for t in self.train]

    @property
    def test_names(self) -> list[str]:
        return [self.period_names[t] for t in self.test]

    @property
    def span(self) -> range:
        """Panel indices from the first training to the last test period (the prediction panel)."""
        return range(self.train[0], self.test[-1] + 1)


def period_range(panel, first, last) -> list[str]:
    """The names of the panel's periods from `first` to `last` inclusive (a run spec's
    `train = [1990, 1999]`)."""
    names = list(panel.period_names)
    for label, what in ((first, "first"), (last, "last")):
        if str(label) not in names:
            raise PredictionError(f"the {what} period {label!r} of the range is not in the panel; periods: {names}")
    lo, hi = names.index(str(first)), names.index(str(last))
    if lo > hi:
        raise PredictionError(f"the range {first!r}..{last!r} runs backwards (periods: {names})")
    return names[lo : hi + 1]


def resolve_split(
    panel, *, train: Sequence[str] | None = None, test: Sequence[str] | None = None, holdout_last: int | None = None
) -> Split:
    """Validate a split: `test` (period names) or `holdout_last` (the last k periods), and `train`
    (period names; default: every period before the first test period). Training periods must be
    consecutive (lagged terms read the period before); every test period must come after them."""
    names = list(panel.period_names)
    if test is not None and holdout_last is not None:
        raise PredictionError("give either test periods or holdout_last, not both")
    if test is None and holdout_last is None:
        raise PredictionError("no test periods: give test=[period names] or holdout_last=k")
    if holdout_last is not None:
        if (
            isinstance(holdout_last, bool)
            or not isinstance(holdout_last, (int, np.integer))
            or not (1 <= holdout_last < len(names))
        ):
            raise PredictionError(
                f"holdout_last must be a whole number from 1 to {len(names) - 1} (the panel has {len(names)} "
                f"periods), got {holdout_last!r}"
            )
        test = names[len(names) - int(holdout_last) :]
    test_idx = _indices(names, test or [], "test")  # set above: given, or the last holdout_last periods
    if not test_idx:
        raise PredictionError("the test set is empty: give at least one test period")
    if train is None:
        train_idx = list(range(min(test_idx)))
        if not train_idx:
            raise PredictionError(f"no periods before the first test period {names[min(test_idx)]!r} to train on")
    else:
        train_idx = _indices(names, train, "training")
        if not train_idx:
            raise PredictionError("the training set is empty: give at least one training period")
    train_idx, test_idx = sorted(train_idx), sorted(test_idx)
    if train_idx != list(range(train_idx[0], train_idx[-1] + 1)):
        raise PredictionError(
            f"training periods must be consecutive (lagged terms read the period before); got "
            f"{[names[t] for t in train_idx]}"
        )
    inside = [names[t] for t in test_idx if t <= train_idx[-1]]
    if inside:
        raise PredictionError(
            f"test period(s) {inside} lie inside the training range {names[train_idx[0]]}..{names[train_idx[-1]]}: "
            "every test period must come after the last training period"
        )
    return Split(train=train_idx, test=test_idx, period_names=names)


def _indices(names: list[str], labels: Sequence, what: str) -> list[int]:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise PredictionError(f"{what} periods must be a list of period names, got {labels!r}")
    labels = [str(label) for label in labels]
    unknown = [label for label in labels if label not in names]
    if unknown:
        raise PredictionError(f"unknown {what} period(s) {unknown}; the panel's periods: {names}")
    duplicated = sorted({label for label in labels if labels.count(label) > 1})
    if duplicated:
        raise PredictionError(f"{what} period(s) {duplicated} given more than once")
    return [names.index(label) for label in labels]


# ---------------------------------------------------------------------------------------------
# Fitting and the test design


def fit_training(formula: str, panel, split: Split, *, R: int = 0, seed: int = 12345, model: str = "model"):
    """btergm on the training periods (R = 0: the MPLE alone, with Wald intervals)."""
    from dyadflow.tergm.api import btergm

    train_panel = panel.select(split.train)
    lag = parse_model(formula, panel.select(split.span), temporal=True).lag
    if len(split.train) <= lag:
        raise PredictionError(
            f"model {model!r} has lagged terms needing {lag} earlier period(s), so its {len(split.train)} "
            f"training period(s) {split.train_names} leave none in the likelihood: train on at least {lag + 1}"
        )
    if isinstance(R, bool) or not isinstance(R, (int, np.integer)) or R < 0:
        raise PredictionError(f"R (bootstrap replicates) must be a whole number >= 0, got {R!r}")
    if R == 0:  # no replicates: btergm's bootstrap needs R >= 1, so replay an empty set of draws
        n_likelihood = len(split.train) - lag
        with warnings.catch_warnings():  # its one-period warning is about bootstrap intervals, absent here
            warnings.filterwarnings("ignore", message="only one period")
            return btergm(formula, train_panel, resamples=np.zeros((0, n_likelihood), dtype=np.int64), seed=seed)
    return btergm(formula, train_panel, R=int(R), seed=seed)


def holdout_design(fit, panel, split: Split, *, model: str = "model") -> Design:
    """The design of the split's test periods for `fit`'s formula, conditional on each observed test
    network (see the module docstring): the model compiled on the panel from the first training to the
    last test period, so lagged terms read the preceding period and timecov's time index continues."""
    span = panel.select(split.span)
    compiled = parse_model(fit.formula, span, temporal=True)
    if list(compiled.names) != list(fit.names):
        raise PredictionError(
            f"model {model!r}: on the test periods the formula gives terms {compiled.names}, on the training "
            f"periods {fit.names}: a factor covariate has levels in the test periods not seen in training"
        )
    positions = [t - split.train[0] for t in split.test]
    pieces = [design_for_period(compiled, span, t) for t in positions]
    sizes = [len(y) for _, y, _ in pieces]
    return Design(
        names=list(compiled.names),
        X=np.concatenate([X for X, _, _ in pieces]),
        y=np.concatenate([y for _, y, _ in pieces]),
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        periods=[span.period_names[t] for t in positions],
        dyads=np.concatenate([d for _, _, d in pieces]),
        nodes=[span[t].nodes for t in positions],
        directed=compiled.directed,
    )


def mple_probabilities(coef, design: Design) -> np.ndarray:
    """Tie probability of every design row given the rest of its network: logistic(X . coef)."""
    return expit(design.X @ np.asarray(coef, dtype=np.float64))


def simulated_probabilities(fit, panel, split: Split, design: Design, *, nsim: int, seed: int) -> np.ndarray:
    """The mean tie indicator over `nsim` networks simulated for each test period (chains started at the
    empty network, so nothing of the observed test network enters), at the design's rows."""
    from dyadflow.tergm.simulation import simulate

    span = panel.select(split.span)
    sims = simulate(fit, periods=design.periods, nsim=nsim, seed=seed, panel=span, start="empty")
    out = np.empty(len(design.y))
    for k, period in enumerate(design.periods):
        rows = design.period_rows(k)
        probability = sims[period].tie_probability()
        out[rows] = probability[design.dyads[rows, 0], design.dyads[rows, 1]]
    return out


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ValidationResult:
    predictions: pd.DataFrame  # PREDICTION_COLUMNS
    rocpr: pd.DataFrame  # ROCPR_COLUMNS
    auc: pd.DataFrame  # AUC_COLUMNS
    train: list[str]
    test: list[str]
    models: dict[str, str]  # name -> formula
    fitted: dict = field(default_factory=dict, repr=False, compare=False)  # name -> Fit (training)

    @cached_property
    def fits(self) -> pd.DataFrame:
        """The training fits' coefficient table (the contract's coefficients schema: model, term, Estimate,
        2.5%, 97.5%, ...). Computed on first use: without replicates its Wald intervals need ergm's
        MPLE covariance, which costs more than the whole prediction on a large panel."""
        return pd.concat([_coefficients(name, fit) for name, fit in self.fitted.items()], ignore_index=True)

    def write(self, directory) -> list[Path]:
        """predictions.parquet, rocpr.parquet, auc.csv, auc.parquet and validation_coefficients.parquet/.csv
        (the training fits; the run's own coefficients.parquet holds the full-panel fits)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in (
            ("predictions", self.predictions),
            ("rocpr", self.rocpr),
            ("auc", self.auc),
            ("validation_coefficients", self.fits),
        ):
            path = directory / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            paths.append(path)
        for name, frame in (("auc", self.auc), ("validation_coefficients", self.fits)):
            path = directory / f"{name}.csv"
            frame.to_csv(path, index=False)
            paths.append(path)
        return paths

    def summary(self) -> str:
        """The AUC table, saying which predictions are conditional on the observed test network."""
        lines = [f"Out-of-sample prediction: trained on {_span_text(self.train)}, tested on {', '.join(self.test)}", ""]
        kinds = [k for k in KINDS if (self.auc["kind"] == k).any()]
        for kind in kinds:
            if kind == "mple":
                lines += [
                    "MPLE tie probabilities (kind = mple): CONDITIONAL ON THE OBSERVED TEST NETWORK - the",
                    "network terms see the other ties of the network being predicted, which flatters",
                    "network models against a logit. Not a leak-free comparison.",
                ]
            else:
                lines += [
                    "Simulation-based predictions (kind = simulation): mean tie indicator over networks",
                    "simulated from the fitted coefficients, given only covariates and earlier networks:",
                    "LEAK-FREE (the test network's ties are not used).",
                ]
            table = self.auc[self.auc["kind"] == kind].drop(columns="kind")
            lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
            lines.append("")
        lines.append(
            "pr_auc: Davis-Goadrich interpolation (never above 1); average_precision: step sum; "
            "pr_auc_trapezoid: linear interpolation, for comparison. Model 'random': a Bernoulli "
            "graph at the observed density."
        )
        return "\n".join(lines)


def _span_text(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]} ({len(names)} periods)"


def validate(
    models: Mapping[str, str],
    panel,
    *,
    train: Sequence[str] | None = None,
    test: Sequence[str] | None = None,
    holdout_last: int | None = None,
    R: int = 0,
    seed: int = 12345,
    simulate: int = 0,
    fit_training_periods: Callable[[str, str, Split], Fit] | None = None,
) -> ValidationResult:
    """Fit each model (name -> formula) on the training periods and predict every dyad of the test
    periods (see the module docstring). R, seed: btergm's bootstrap of each training fit (R = 0: none).
    simulate: number of networks per test period for the simulation-based (leak-free) prediction;
    0 = MPLE probabilities only.
    fit_training_periods(name, formula, split) -> Fit: fits a model on split.train in place of
    `fit_training` (flows.periods fits it on Dask workers); it must give fit_training's numbers."""
    if not isinstance(models, Mapping) or not models:
        raise PredictionError("models must be a non-empty mapping of model name -> formula")
    for name, formula in models.items():
        if not isinstance(name, str) or not name:
            raise PredictionError(f"model names must be non-empty strings, got {name!r}")
        if name == RANDOM_MODEL:
            raise PredictionError(f"the model name {RANDOM_MODEL!r} is reserved for the random-graph baseline")
        if not isinstance(formula, str):
            raise PredictionError(f"model {name!r}: the formula must be a string, got {type(formula).__name__}")
    if isinstance(simulate, bool) or not isinstance(simulate, (int, np.integer)) or simulate < 0:
        raise PredictionError(f"simulate (networks per test period) must be a whole number >= 0, got {simulate!r}")
    split = resolve_split(panel, train=train, test=test, holdout_last=holdout_last)
    kinds = ["mple"] + (["simulation"] if simulate else [])

    fitted, predictions = {}, []
    observed = None
    for name, formula in models.items():
        if fit_training_periods is None:
            fit = fit_training(formula, panel, split, R=R, seed=seed, model=name)
        else:
            fit = fit_training_periods(name, formula, split)
        fitted[name] = fit
        design = holdout_design(fit, panel, split, model=name)
        if observed is None:
            observed = design
        elif not _same_rows(observed, design):
            raise AssertionError("the models' test designs cover different dyads")
        scores = {"mple": mple_probabilities(fit.mple.coef, design)}
        if simulate:
            scores["simulation"] = simulated_probabilities(fit, panel, split, design, nsim=int(simulate), seed=seed)
        for kind in kinds:
            predictions.append(_prediction_frame(name, kind, design, scores[kind]))
    predictions = pd.concat(predictions, ignore_index=True)
    rocpr, auc = score_predictions(predictions)
    return ValidationResult(
        predictions=predictions,
        rocpr=rocpr,
        auc=auc,
        train=split.train_names,
        test=split.test_names,
        models=dict(models),
        fitted=fitted,
    )


def score_predictions(predictions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rocpr, auc) tables of a predictions table (PREDICTION_COLUMNS, any models and kinds, one or more
    periods): per model, kind and period, plus "pooled" over several periods, and the random-graph
    baseline (model "random") under each kind. Every model of a kind must predict the same dyads."""
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise PredictionError(f"the predictions table lacks column(s) {missing}")
    if (predictions["model"] == RANDOM_MODEL).any():
        raise PredictionError(f"the model name {RANDOM_MODEL!r} is reserved for the random-graph baseline")
    periods = list(dict.fromkeys(predictions["period"]))
    rocpr: list[pd.DataFrame] = []
    auc: list[dict] = []
    for (name, kind), frame in predictions.groupby(["model", "kind"], sort=False):
        for period, y, score in _periods_and_pooled(frame, periods):
            _collect(rocpr, auc, name, kind, period, _evaluate(y, score, period))
    for kind, frame in predictions.groupby("kind", sort=False):
        frame = frame[frame["model"] == frame["model"].iloc[0]]
        for period, y, _ in _periods_and_pooled(frame, periods):
            if period == POOLED:  # pooled baseline: each period at its own density
                score = frame.groupby("period", sort=False)["observed"].transform("mean").to_numpy()
                _collect(rocpr, auc, RANDOM_MODEL, kind, period, _evaluate(y, score, period))
            else:
                _collect(rocpr, auc, RANDOM_MODEL, kind, period, _evaluate(y, None, period))
    return pd.concat(rocpr, ignore_index=True)[ROCPR_COLUMNS], pd.DataFrame(auc, columns=AUC_COLUMNS)


def _coefficients(name: str, fit) -> pd.DataFrame:
    frame = fit.to_frame().reset_index()
    frame.insert(0, "model", name)
    return frame


def _same_rows(a: Design, b: Design) -> bool:
    return a.periods == b.periods and np.array_equal(a.dyads, b.dyads) and np.array_equal(a.y, b.y)


def _prediction_frame(name: str, kind: str, design: Design, probability: np.ndarray) -> pd.DataFrame:
    lengths = np.diff(design.offsets)
    tails = np.concatenate([design.nodes[k][design.dyads[design.period_rows(k), 0]] for k in range(design.n_periods)])
    heads = np.concatenate([design.nodes[k][design.dyads[design.period_rows(k), 1]] for k in range(design.n_periods)])
    return pd.DataFrame(
        {
            "model": name,
            "kind": kind,
            "period": np.repeat(np.asarray(design.periods, dtype=object), lengths),
            "tail": tails.astype(str).astype(object),
            "head": heads.astype(str).astype(object),
            "observed": design.y.astype(np.int8),
            "probability": np.asarray(probability, dtype=np.float64),
        }
    )


def _periods_and_pooled(frame: pd.DataFrame, periods: list[str]):
    for period in periods:
        rows = frame[frame["period"] == period]
        yield period, rows["observed"].to_numpy(), rows["probability"].to_numpy()
    if len(periods) > 1:
        yield POOLED, frame["observed"].to_numpy(), frame["probability"].to_numpy()


def _evaluate(observed: np.ndarray, scores: np.ndarray | None, period: str) -> PredictionMetrics:
    """Metrics of one test period (scores None: the random baseline at its density)."""
    try:
        return random_baseline(observed) if scores is None else evaluate_predictions(observed, scores)
    except MetricsError as error:
        raise PredictionError(f"test period {period!r} cannot be evaluated: {error}") from None


def _collect(rocpr: list, auc: list, name: str, kind: str, period: str, metrics: PredictionMetrics) -> None:
    for curve, points in (("roc", metrics.roc), ("pr", metrics.pr)):
        rocpr.append(points.assign(model=name, kind=kind, period=period, curve=curve))
    auc.append({"model": name, "kind": kind, "period": period, **metrics.areas()})
