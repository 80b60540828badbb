"""A plain logit of ties on dyadic covariates, with conventional and cluster-robust standard errors.

For a formula without network terms (only `edges`, the intercept, and covariate terms: nodecov,
nodefactor, nodematch, absdiff, edgecov, ...; lagged terms such as memory and delrecip are
covariates given the previous period), the dyads are independent given the covariates and the
pseudolikelihood is the likelihood of an ordinary logit. `logit` reports for it

- conventional standard errors: the inverse information at the maximum (statsmodels' GLM nonrobust);
- cluster-robust ("sandwich", CRV1) standard errors, clustered by dyad by default: with per-row
  scores s_r = x_r (y_r - p_r), their sums S_g over each cluster g and the information H,

      V = c * H^-1 (sum_g S_g S_g') H^-1,

  where the small-sample factor c is, by `correction`:
    "statsmodels" (default): c = G/(G-1) * (N-1)/(N-K), what statsmodels' GLM(Binomial) applies for
        cov_type="cluster" (its default use_correction=True), and Stata's factor for `regress,
        vce(cluster ...)`;
    "stata": c = G/(G-1), the factor Stata's maximum-likelihood estimators (`logit ..., vce(cluster
        id)`) apply (their _robust call has k = 1, so (N-1)/(N-k) = 1);
    "none": c = 1.
  (G clusters, N rows, K coefficients.) For N in the thousands the two differ by (N-1)/(N-K) ~ 1 + K/N;
- z = estimate / SE and two-sided normal p-values, Wald intervals (on the cluster-robust SEs when
  clustered);
- optionally (R > 0) btergm's period bootstrap: percentile intervals of R refits on resampled periods
  (tergm.api.fit_design's draws and replicates, the same seeds as a btergm fit of the same design).

Clusters (`cluster=`): "dyad" (the same dyad across periods: the ordered pair tail -> head for a
directed panel, the unordered pair for an undirected one), "tail", "head", "period", the name of a
dyadic covariate of the panel (e.g. a dyad id column of a Stata dyad-year table), an array of one
label per design row, or None (conventional standard errors only).

A dyad-year table (CSV, Parquet or Stata .dta) runs through it as any panel: a dataset spec with
`[network] format = "dyad_years"` turns its y column into the networks and its other columns into
dyadic covariates (storage.ingest), and the model names them with edgecov(...).

The flow calls `logit(formula, panel, design=..., ...)` with the design it built from the stored
change statistics, so nothing is computed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from dyadflow.tergm.bootstrap import percentile_interval
from dyadflow.tergm.design import Design, Model, build_design, parse_model
from dyadflow.tergm.estimate import EstimationError, mple
from dyadflow.tergm.results import ModelResults, interval_labels, term_index
from dyadflow.tergm.terms import StructuralTerm

CLUSTER_KEYS = ("dyad", "tail", "head", "period")
CORRECTIONS = ("statsmodels", "stata", "none")


class LogitError(EstimationError):
    """A model or clustering a plain logit cannot take; the message names the argument."""


@dataclass(frozen=True, repr=False)
class LogitFit(ModelResults):
    """A plain logit: estimates, conventional and (when clustered) cluster-robust covariances, and
    optionally period-bootstrap replicates. `vcov`, `ci` and `standard_errors`' Std.Err/z/p use the
    cluster-robust covariance when the fit is clustered, the conventional one otherwise."""

    names: list[str]
    estimate: np.ndarray  # (p,)
    covariance_conventional: np.ndarray  # (p, p) inverse information at the maximum
    covariance_cluster: np.ndarray | None  # (p, p) cluster-robust (CRV1 with `correction`), None if unclustered
    cluster: str | None  # what the clusters are ("dyad", "tail", ..., a covariate name, "labels")
    n_clusters: int | None
    correction: str
    nobs: int
    n_periods: int
    loglik: float
    formula: str | None = None
    replicates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)
    resamples: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64), repr=False, compare=False)
    replicate_converged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False, compare=False)
    seed: int | None = None

    @property
    def R(self) -> int:
        return int(self.replicates.shape[0])

    def _estimates(self) -> np.ndarray:
        return self.estimate

    def _covariance(self) -> np.ndarray:
        return self.covariance_conventional if self.covariance_cluster is None else self.covariance_cluster

    @property
    def vcov_conventional(self) -> pd.DataFrame:
        index = term_index(self.names)
        return pd.DataFrame(self.covariance_conventional, index=index, columns=index.rename(None))

    def standard_errors(self) -> pd.DataFrame:
        """Estimate, Std.Err, z, p (cluster-robust when clustered), and the conventional
        Std.Err/z/p as `Std.Err.conventional`, `z.conventional`, `p.conventional`; with bootstrap
        replicates also their sd (`boot_sd`)."""
        table = super().standard_errors()
        if self.covariance_cluster is not None:
            se = np.sqrt(np.diag(self.covariance_conventional))
            z = self.estimate / se
            table["Std.Err.conventional"] = se
            table["z.conventional"] = z
            table["p.conventional"] = 2 * norm.sf(np.abs(z))
        if self.R:
            table["boot_sd"] = self.replicates.std(axis=0, ddof=1) if self.R > 1 else np.nan
        return table

    def bootstrap_ci(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals of the period-bootstrap replicates (btergm's confint), replicates with
        any non-finite coefficient dropped."""
        if not self.R:
            raise LogitError("this logit has no bootstrap replicates: fit it with R >= 1")
        lower, upper = interval_labels(level)
        complete = self.replicates[np.isfinite(self.replicates).all(axis=1)]
        bounds = np.array([percentile_interval(complete[:, j], level) for j in range(len(self.names))])
        return pd.DataFrame(
            {"Estimate": self.estimate, lower: bounds[:, 0], upper: bounds[:, 1]}, index=term_index(self.names)
        )

    def to_frame(self) -> pd.DataFrame:
        """ci(), standard_errors(), and with replicates the bootstrap interval as `boot 2.5%`/`boot 97.5%`."""
        frame = super().to_frame()
        if self.R:
            boot = self.bootstrap_ci().drop(columns="Estimate")
            frame = pd.concat([frame, boot.add_prefix("boot ")], axis=1)
        return frame

    def _summary_header(self, level: float) -> list[str]:
        lines = ["=" * 26, "Logit", "=" * 26, ""]
        if self.formula:
            lines += [f"Formula:   {self.formula}", ""]
        lines.append(f"Observations: {self.nobs}   Periods: {self.n_periods}   Log likelihood: {self.loglik:.4f}")
        if self.covariance_cluster is not None:
            lines.append(
                f"Standard errors clustered by {self.cluster} ({self.n_clusters} clusters; "
                f"small-sample correction: {self.correction})"
            )
        else:
            lines.append("Conventional standard errors (inverse information)")
        if self.R:
            lines.append(f"Period bootstrap: {self.R} replicates (boot columns: percentile intervals)")
        lines += ["", f"Estimates with {100 * level:g}% Wald intervals:"]
        return lines

    def _summary_table(self, level: float) -> pd.DataFrame:
        table = pd.concat([self.ci(level), super().standard_errors().drop(columns="Estimate")], axis=1)
        if self.covariance_cluster is not None:
            table["Std.Err.conventional"] = np.sqrt(np.diag(self.covariance_conventional))
        if self.R:
            table = pd.concat([table, self.bootstrap_ci(level).drop(columns="Estimate").add_prefix("boot ")], axis=1)
        return table

    def _repr_kind(self) -> str:
        clustered = f"clustered by {self.cluster}" if self.covariance_cluster is not None else "conventional SEs"
        return f"nobs={self.nobs}, {clustered}"


# ------------------------------------------------------------------------------------------- fitting


def network_terms(model: Model) -> list[str]:
    """The model's network terms (every structural term but `edges`, the intercept)."""
    from dyadflow.kernels.degree import edges

    return [
        name
        for term in model.terms
        if isinstance(term, StructuralTerm) and term.kernel is not edges
        for name in term.names
    ]


def check_plain_logit(model: Model) -> None:
    """Refuse network terms: their change statistics depend on the other ties, so the dyads are not
    independent and the logit's likelihood is only a pseudolikelihood (fit those with btergm)."""
    network = network_terms(model)
    if network:
        raise LogitError(
            f"formula: a plain logit takes no network terms, but the model has {network}; "
            "use dyadflow.btergm / dyadflow.ergm for network models"
        )


def logit(
    formula: str,
    panel,
    *,
    cluster: str | Sequence | np.ndarray | None = "dyad",
    correction: str = "statsmodels",
    R: int = 0,
    seed: int = 12345,
    resamples=None,
    design: Design | None = None,
    map_batches: Callable[[Callable, list], list] | None = None,
    batch_size: int = 25,
    temporal: bool = True,
) -> LogitFit:
    """Fit the plain logit of `formula` on `panel` (see the module docstring).

    cluster: "dyad" (default), "tail", "head", "period", a dyadic covariate's name, one label per
        design row, or None.
    correction: the cluster-robust small-sample factor, "statsmodels" (default), "stata" or "none".
    R, seed, resamples, map_batches, batch_size: the period bootstrap, as tergm.btergm (R = 0: none).
    design: the design of `formula` on `panel` already built (e.g. from the stored change statistics);
        checked against the model's names.
    temporal: name dyadic covariates as btergm does ("edgecov.x[[i]]"); False as ergm ("edgecov.x").
    """
    from dyadflow.storage.panel import Panel

    if not isinstance(panel, Panel):
        raise TypeError(
            f"panel: logit needs a Panel (dyadflow.open_panel or Panel.from_arrays), got {type(panel).__name__}"
        )
    if correction not in CORRECTIONS:
        raise LogitError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if not isinstance(R, (int, np.integer)) or isinstance(R, bool) or R < 0:
        raise LogitError(f"R must be an integer >= 0, got {R!r}")
    model = parse_model(formula, panel, temporal=temporal)
    check_plain_logit(model)
    if design is None:
        design = build_design(model.formula, panel, temporal=temporal)
    elif list(design.names) != list(model.names):
        raise LogitError(f"design: its terms {design.names} are not the formula's {model.names}")
    labels, described = cluster_labels(design, panel, cluster)
    estimate = mple(design)
    replicates = np.zeros((0, len(design.names)))
    drawn = np.zeros((0, design.n_periods), np.int64)
    converged = np.zeros(0, bool)
    if R or resamples is not None:
        from dyadflow.tergm.api import fit_design

        boot = fit_design(
            design, R=R, seed=seed, resamples=resamples, map_batches=map_batches, batch_size=batch_size, formula=formula
        )
        replicates, drawn, converged = boot.replicates, boot.resamples, boot.replicate_converged
    conventional = estimate.covariance
    robust, groups = (
        (None, None) if labels is None else cluster_covariance(design, estimate.coef, conventional, labels, correction)
    )
    return LogitFit(
        names=list(design.names),
        estimate=np.asarray(estimate.coef, float),
        covariance_conventional=conventional,
        covariance_cluster=robust,
        cluster=described,
        n_clusters=groups,
        correction=correction,
        nobs=int(design.X.shape[0]),
        n_periods=design.n_periods,
        loglik=float(estimate.loglik),
        formula=formula,
        replicates=replicates,
        resamples=drawn,
        replicate_converged=converged,
        seed=seed if (R and resamples is None) else None,
    )


def logit_from_fit(
    fit, panel, *, cluster: str | Sequence | np.ndarray | None = "dyad", correction: str = "statsmodels"
) -> LogitFit:
    """The plain logit of an MPLE fit (tergm.Fit) of a formula without network terms: its design and
    period-bootstrap replicates as they are, plus conventional and cluster-robust standard errors (the
    flows fit and bootstrap every model alike, then report plain logits through this)."""
    result = logit(
        fit.formula, panel, design=fit.design_matrix, cluster=cluster, correction=correction, temporal=fit.temporal
    )
    return replace(
        result,
        replicates=fit.replicates,
        resamples=fit.resamples,
        replicate_converged=fit.replicate_converged,
        seed=fit.seed,
    )


def cluster_covariance(
    design: Design, coef: np.ndarray, bread: np.ndarray, labels: np.ndarray, correction: str = "statsmodels"
) -> tuple[np.ndarray, int]:
    """The CRV1 sandwich bread @ (sum_g S_g S_g') @ bread times the small-sample factor of `correction`
    (module docstring), and the number of clusters G. bread: the inverse information at `coef`."""
    if correction not in CORRECTIONS:
        raise LogitError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    X, y = design.X, design.y
    N, K = X.shape
    codes, uniques = pd.factorize(pd.Series(labels), sort=True)
    G = len(uniques)
    if G < 2:
        raise LogitError(f"cluster: cluster-robust standard errors need at least 2 clusters, got {G}")
    fitted = 0.5 * (1.0 + np.tanh(0.5 * (X @ coef)))  # the logistic function, stable at both ends
    scores = X * (y - fitted)[:, None]
    sums = np.zeros((G, K))
    np.add.at(sums, codes, scores)
    meat = sums.T @ sums
    factor = {"statsmodels": G / (G - 1) * (N - 1) / (N - K), "stata": G / (G - 1), "none": 1.0}[correction]
    covariance = factor * (bread @ meat @ bread)
    return (covariance + covariance.T) / 2, G


def cluster_labels(design: Design, panel, cluster) -> tuple[np.ndarray | None, str | None]:
    """One cluster label per design row for `cluster` (see `logit`), and what the clusters are."""
    if cluster is None:
        return None, None
    N = design.X.shape[0]
    if not isinstance(cluster, str):
        labels = np.asarray(cluster)
        if labels.shape != (N,):
            raise LogitError(f"cluster: an array of labels needs one per design row ({N}), got shape {labels.shape}")
        if pd.isna(pd.Series(labels)).any():
            raise LogitError("cluster: the labels contain missing values")
        return labels, "labels"
    periods = np.repeat(np.arange(design.n_periods), np.diff(design.offsets))
    tails = np.concatenate([design.nodes[t][design.dyads[design.period_rows(t), 0]] for t in range(design.n_periods)])
    heads = np.concatenate([design.nodes[t][design.dyads[design.period_rows(t), 1]] for t in range(design.n_periods)])
    tails, heads = tails.astype(str), heads.astype(str)
    if cluster == "dyad":
        if not design.directed:  # the unordered pair, whatever order each period lists it in
            first = tails <= heads
            tails, heads = np.where(first, tails, heads), np.where(first, heads, tails)
        return np.char.add(np.char.add(tails, "\x1f"), heads), cluster
    if cluster == "tail":
        return tails, cluster
    if cluster == "head":
        return heads, cluster
    if cluster == "period":
        return np.asarray(design.periods, dtype=object)[periods].astype(str), cluster
    labels = np.empty(N)
    for t, name in enumerate(design.periods):
        period = panel[panel.period_names.index(name)]
        if cluster not in period.dyad_covariates:
            known = sorted(period.dyad_covariates)
            raise LogitError(
                f"cluster: {cluster!r} is neither one of {CLUSTER_KEYS} nor a dyadic covariate of "
                f"period {name} (its dyadic covariates: {known})"
            )
        rows = design.period_rows(t)
        values = np.asarray(period.dyad_covariates[cluster])
        labels[rows] = values[design.dyads[rows, 0], design.dyads[rows, 1]]
    if np.isnan(labels).any():
        raise LogitError(f"cluster: the dyadic covariate {cluster!r} is missing for some dyads in the likelihood")
    return labels, cluster
