"""Fitted models: one small results base (`ModelResults`) for every model family, and the MPLE family's
`Fit` (btergm's bootstrapped MPLE and ergm's cross-sectional MPLE).

Every family reads the same way:

    fit.names          coefficient names, formula order (ergm's spelling)
    fit.coef           pandas Series of the estimates, indexed by term
    fit.vcov           pandas DataFrame, rows and columns labelled by term
    fit.ci(level)      DataFrame: Estimate, lower, upper (columns named like R's confint: "2.5%", "97.5%")
    fit.to_frame()     one row per term: ci() plus the family's standard-error columns
    fit.summary()      the printed table as a string (it never prints)
    fit.nobs           observations in the likelihood

The families: `Fit` (here), `tergm.mcmle.MleFit` (MCMC-MLE), `tergm.logit.LogitFit` (plain logit with
conventional and cluster-robust standard errors). The design a fit was estimated on is not part of its
results: `Fit` references the one design it was built from (never a copy; `design_matrix`) for the
quantities computed on demand from it (ergm's MPLE covariance, the change-statistic table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.stats import norm

from dyadflow.tergm.bootstrap import btergm_standard_errors, percentile_interval
from dyadflow.tergm.design import Design, DesignOutline
from dyadflow.tergm.estimate import MpleResult, evaluate, glm_compatible_fit, unpack_information


def interval_labels(level: float) -> tuple[str, str]:
    """Column names of a `level` interval, as R's confint prints them ("2.5%", "97.5%")."""
    if not 0 < level < 1:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")
    return f"{100 * (1 - level) / 2:g}%", f"{100 * (1 + level) / 2:g}%"


def term_index(names) -> pd.Index:
    return pd.Index(list(names), name="term")


class ModelResults:
    """What every fitted model family offers (see the module docstring).

    A subclass provides `names`, `nobs`, `_estimates()` (the (p,) estimates in `names` order),
    `_covariance()` (their (p, p) covariance) and `_summary_header()` (the lines above the table); it
    may override `ci` (e.g. bootstrap percentile intervals) and `standard_errors` (more columns)."""

    names: list[str]
    nobs: int

    def _estimates(self) -> np.ndarray:
        raise NotImplementedError

    def _covariance(self) -> np.ndarray:
        raise NotImplementedError

    def _summary_header(self, level: float) -> list[str]:
        raise NotImplementedError

    def _summary_footer(self) -> list[str]:
        return []

    @property
    def coef(self) -> pd.Series:
        """Estimates by term, in formula order."""
        return pd.Series(np.asarray(self._estimates(), dtype=float), index=term_index(self.names), name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the estimates, rows and columns labelled by term."""
        index = term_index(self.names)
        return pd.DataFrame(np.asarray(self._covariance(), dtype=float), index=index, columns=index.rename(None))

    def _wald_standard_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(np.asarray(self._covariance(), dtype=float)))

    def ci(self, level: float = 0.95) -> pd.DataFrame:
        """Estimate and Wald interval (estimate -/+ z_(1+level)/2 * SE from `vcov`) per term."""
        lower, upper = interval_labels(level)
        estimate = np.asarray(self._estimates(), dtype=float)
        half = norm.ppf((1 + level) / 2) * self._wald_standard_errors()
        return pd.DataFrame(
            {"Estimate": estimate, lower: estimate - half, upper: estimate + half}, index=term_index(self.names)
        )

    def standard_errors(self) -> pd.DataFrame:
        """Estimate, standard error (from `vcov`), z and two-sided normal p per term."""
        estimate = np.asarray(self._estimates(), dtype=float)
        se = self._wald_standard_errors()
        z = estimate / se
        return pd.DataFrame(
            {"Estimate": estimate, "Std.Err": se, "z": z, "p": 2 * norm.sf(np.abs(z))}, index=term_index(self.names)
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per term: `ci()` followed by `standard_errors()`' other columns."""
        return pd.concat([self.ci(), self.standard_errors().drop(columns="Estimate")], axis=1)

    def summary(self, level: float = 0.95) -> str:
        """The model's table with its header, as text (print it to show it)."""
        table = self._summary_table(level)
        lines = self._summary_header(level)
        lines.append(table.to_string(float_format=lambda v: f"{v:.4f}"))
        return "\n".join(lines + self._summary_footer())

    def _summary_table(self, level: float) -> pd.DataFrame:
        return self.ci(level)

    def __repr__(self) -> str:
        coefs = ", ".join(f"{name}={value:.4g}" for name, value in self.coef.items())
        return f"<{type(self).__name__} {self._repr_kind()}: {coefs}>"

    def _repr_kind(self) -> str:
        return f"nobs={self.nobs}"


@dataclass(frozen=True, repr=False)
class Fit(ModelResults):
    """A btergm fit (MPLE and R period-bootstrap replicates) or, with R = 0, ergm's cross-sectional MPLE.

    Intervals: bootstrap percentile intervals exactly as btergm's confint when there are replicates,
    else Wald intervals from ergm's MPLE covariance."""

    mple: MpleResult
    # The design it was estimated on, referenced (not part of the results; see the module docstring);
    # its outline alone when the period engine fitted it (the rows stayed on the workers).
    design_matrix: Design | DesignOutline = field(repr=False, compare=False)
    replicates: np.ndarray  # (R, p) bootstrap estimates (R = 0 for a cross-sectional ergm fit)
    resamples: np.ndarray  # (R, T) 0-based period indices each replicate drew
    replicate_converged: np.ndarray  # (R,) False where the replicate has no finite MLE (glm.fit's iterate kept)
    formula: str | None = None
    seed: int | None = None
    diverging: list[list[str]] = field(default_factory=list)  # per replicate, terms without a finite MLE
    # What simulation needs to rebuild the model (tergm/simulation.py): the panel fitted and the naming.
    panel: object | None = field(default=None, repr=False, compare=False)
    temporal: bool = True

    @classmethod
    def without_replicates(cls, mple: MpleResult, design: Design | DesignOutline, formula: str | None = None) -> Fit:
        """The MPLE alone: no bootstrap replicates, Wald intervals."""
        p, T = len(design.names), design.n_periods
        return cls(
            mple=mple,
            design_matrix=design,
            replicates=np.zeros((0, p)),
            resamples=np.zeros((0, T), dtype=np.int64),
            replicate_converged=np.zeros(0, dtype=bool),
            formula=formula,
        )

    @property
    def names(self) -> list[str]:  # type: ignore[override]  # a Fit reads its MPLE
        return list(self.mple.names)

    def _estimates(self) -> np.ndarray:
        return self.mple.coef

    @property
    def R(self) -> int:
        return int(self.replicates.shape[0])

    @property
    def n_periods(self) -> int:
        return self.design_matrix.n_periods

    @property
    def nobs(self) -> int:  # type: ignore[override]  # a Fit counts its design
        """Dyads in the pseudolikelihood (each period counted once)."""
        return self.design_matrix.rows

    @property
    def nobs_btergm(self) -> int:
        """btergm's "Number of observations": n(n-1) per period, even for undirected networks."""
        return int(sum(len(nodes) * (len(nodes) - 1) for nodes in self.design_matrix.nodes))

    def _covariance(self) -> np.ndarray:
        return self._mple_covariance

    @cached_property
    def _mple_covariance(self) -> np.ndarray:
        """The MPLE covariance exactly as ergm reports it (MPLE.covariance.method = "invHess").

        ergm takes glm's `cov.unscaled`: the inverse information at the IRLS weights of glm.fit's
        last iteration, i.e. at glm's *penultimate* iterate, not at the maximum. It differs from
        `mple.covariance` (the inverse information at the exact maximum) by glm's stopping tolerance,
        up to ~2e-4 relative (flomarriage ~ edges + gwesp(0.25)); this reproduces R's digits.
        Computed on first use (one glm.fit emulation over the compressed design). A fit by the
        period engine has no rows here to replay glm.fit on: its covariance is the inverse
        information at the exact maximum (`mple.covariance`)."""
        if not isinstance(self.design_matrix, Design):
            return self.mple.covariance
        glm = glm_compatible_fit(self.design_matrix)
        # after a single IRLS iteration the weights came from glm's start, which has no coefficients;
        # glm.fit practically never stops there, and the iterate is then the best stand-in.
        at = glm.coef - glm.last_step if glm.iterations > 1 else glm.coef
        if not np.isfinite(at).all():
            return self.mple.covariance
        counts = np.ones((1, self.design_matrix.n_periods), dtype=np.int64)
        totals = evaluate(self.design_matrix, counts, at[None, :])[0]
        return np.linalg.inv(unpack_information(totals, len(self.names)))

    def _complete_replicates(self) -> np.ndarray:
        """btergm's confint drops replicates with any NA coefficient before computing intervals."""
        return self.replicates[np.isfinite(self.replicates).all(axis=1)]

    def ci(self, level: float = 0.95) -> pd.DataFrame:
        """Estimate and interval per term: bootstrap percentile intervals exactly as btergm's confint
        (boot.ci type "perc"); for a fit without replicates, Wald intervals from ergm's MPLE
        covariance (`vcov`)."""
        if not self.R:
            return super().ci(level)
        lower, upper = interval_labels(level)
        estimate = self.mple.coef
        complete = self._complete_replicates()
        bounds = np.array([percentile_interval(complete[:, j], level) for j in range(len(estimate))])
        return pd.DataFrame(
            {"Estimate": estimate, lower: bounds[:, 0], upper: bounds[:, 1]}, index=term_index(self.names)
        )

    def standard_errors(self) -> pd.DataFrame:
        """btergm.se's table (SE = RMS deviation of replicates from the estimate, z = -mean/SE) plus the
        replicates' mean and sd; ergm's MPLE standard errors (from `vcov`) when there are no replicates."""
        if not self.R:
            return super().standard_errors()
        stats = btergm_standard_errors(self.replicates, self.mple.coef)
        columns = {
            "Estimate": self.mple.coef,
            "boot_mean": stats["boot_mean"],
            "boot_sd": stats["boot_sd"],
            "Std.Err": stats["se"],
            "z": stats["z"],
            "p": stats["p"],
        }
        return pd.DataFrame(columns, index=term_index(self.names))

    def _summary_header(self, level: float) -> list[str]:
        """btergm's summary: formula, time steps, bootstrap size."""
        lines = ["=" * 26, "Summary of model fit", "=" * 26, ""]
        if self.formula:
            lines += [f"Formula:   {self.formula}", ""]
        lines += [f"Time steps: {self.n_periods}", ""]
        if self.R:
            lines += [f"Bootstrapping sample size: {self.R}", ""]
            lines += [f"Estimates and {100 * level:g}% confidence intervals:"]
        else:
            lines += [f"MPLE with {100 * level:g}% Wald intervals (inverse Hessian):"]
        return lines

    def _summary_footer(self) -> list[str]:
        lines = []
        if self.R and not self.replicate_converged.all():
            k = int((~self.replicate_converged).sum())
            terms = sorted({name for names in self.diverging for name in names})
            lines.append(
                f"\n{k} of {self.R} replicates have no finite MLE (terms {terms}); "
                "their values are glm.fit's stopping point, as btergm reports them."
            )
        dropped = self.R - len(self._complete_replicates())
        if dropped:
            lines.append(f"{dropped} replicates with NA coefficients were dropped from the intervals.")
        return lines

    def design(self) -> pd.DataFrame:
        """The change-statistic table: one row per dyad and period (period, tail, head, response, statistics)."""
        d = self.design_matrix
        if not isinstance(d, Design):
            raise ValueError(
                "this fit's design rows live on the Dask workers that fitted it (the period engine): "
                "rebuild them with tergm.design.build_design(fit.formula, panel) where memory allows"
            )
        lengths = np.diff(d.offsets)
        period = np.repeat(np.arange(d.n_periods), lengths)
        tails: np.ndarray | list = (
            np.concatenate([d.nodes[t][d.dyads[d.period_rows(t), 0]] for t in range(d.n_periods)]) if len(d.y) else []
        )
        heads: np.ndarray | list = (
            np.concatenate([d.nodes[t][d.dyads[d.period_rows(t), 1]] for t in range(d.n_periods)]) if len(d.y) else []
        )
        frame = pd.DataFrame(
            {
                "period": np.asarray(d.periods, dtype=object)[period],
                "tail": tails,
                "head": heads,
                "response": d.y.astype(np.int8),
            }
        )
        statistics = pd.DataFrame(d.X, columns=d.names)
        return pd.concat([frame, statistics], axis=1)

    def _repr_kind(self) -> str:
        kind = f"btergm, R={self.R}" if self.R else "ergm MPLE"
        return f"{kind}, {self.n_periods} periods"
