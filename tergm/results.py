"""A fitted (T)ERGM: the MPLE, its bootstrap replicates and the tables btergm prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.stats import norm

from dyadflow.tergm.bootstrap import btergm_standard_errors, percentile_interval
from dyadflow.tergm.design import Design
from dyadflow.tergm.estimate import MpleResult, evaluate, glm_compatible_fit, unpack_information


@dataclass(frozen=True)
class Fit:
    mple: MpleResult
    design_matrix: Design
    replicates: np.ndarray  # (R, p) bootstrap estimates (R = 0 for a cross-sectional ergm fit)
    resamples: np.ndarray  # (R, T) 0-based period indices each replicate drew
    replicate_converged: np.ndarray  # (R,) False where the replicate has no finite MLE (glm.fit's iterate kept)
    formula: str | None = None
    seed: int | None = None
    diverging: list[list[str]] = field(default_factory=list)  # per replicate, terms without a finite MLE
    # What simulation needs to rebuild the model (tergm/simulation.py): the panel fitted and the naming.
    panel: object | None = field(default=None, repr=False, compare=False)
    temporal: bool = True

    @property
    def names(self) -> list[str]:
        return list(self.mple.names)

    @property
    def coef(self) -> dict[str, float]:
        """Estimates by term name, in formula order."""
        return {name: float(value) for name, value in zip(self.mple.names, self.mple.coef)}

    @property
    def R(self) -> int:
        return int(self.replicates.shape[0])

    @property
    def n_periods(self) -> int:
        return self.design_matrix.n_periods

    @property
    def nobs(self) -> int:
        """Dyads in the pseudolikelihood (each period counted once)."""
        return int(self.design_matrix.X.shape[0])

    @property
    def nobs_btergm(self) -> int:
        """btergm's "Number of observations": n(n-1) per period, even for undirected networks."""
        return int(sum(len(nodes) * (len(nodes) - 1) for nodes in self.design_matrix.nodes))

    @cached_property
    def vcov(self) -> np.ndarray:
        """The MPLE covariance exactly as ergm reports it (MPLE.covariance.method = "invHess").

        ergm takes glm's `cov.unscaled`: the inverse information at the IRLS weights of glm.fit's
        last iteration, i.e. at glm's *penultimate* iterate, not at the maximum. It differs from
        `mple.covariance` (the inverse information at the exact maximum) by glm's stopping tolerance,
        up to ~2e-4 relative (flomarriage ~ edges + gwesp(0.25)); this reproduces R's digits.
        Computed on first use (one glm.fit emulation over the compressed design)."""
        glm = glm_compatible_fit(self.design_matrix)
        # after a single IRLS iteration the weights came from glm's start, which has no coefficients;
        # glm.fit practically never stops there, and the iterate is then the best stand-in.
        at = glm.coef - glm.last_step if glm.iterations > 1 else glm.coef
        if not np.isfinite(at).all():
            return self.mple.covariance
        counts = np.ones((1, self.design_matrix.n_periods), dtype=np.int64)
        totals = evaluate(self.design_matrix, counts, at[None, :])[0]
        return np.linalg.inv(unpack_information(totals, len(self.names)))

    def _wald_standard_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    def _complete_replicates(self) -> np.ndarray:
        """btergm's confint drops replicates with any NA coefficient before computing intervals."""
        return self.replicates[np.isfinite(self.replicates).all(axis=1)]

    def ci(self, level: float = 0.95) -> pd.DataFrame:
        """Estimate and interval per term: bootstrap percentile intervals exactly as btergm's confint
        (boot.ci type "perc"); for a fit without replicates, Wald intervals from ergm's MPLE
        covariance (`vcov`)."""
        lower_label, upper_label = _percent(100 * (1 - level) / 2), _percent(100 * (1 + level) / 2)
        estimate = self.mple.coef
        if self.R:
            complete = self._complete_replicates()
            bounds = np.array([percentile_interval(complete[:, j], level) for j in range(len(estimate))])
        else:
            half = norm.ppf((1 + level) / 2) * self._wald_standard_errors()
            bounds = np.column_stack([estimate - half, estimate + half])
        return pd.DataFrame(
            {"Estimate": estimate, lower_label: bounds[:, 0], upper_label: bounds[:, 1]},
            index=pd.Index(self.names, name="term"),
        )

    def standard_errors(self) -> pd.DataFrame:
        """btergm.se's table (SE = RMS deviation of replicates from the estimate, z = -mean/SE) plus the
        replicates' mean and sd; ergm's MPLE standard errors (from `vcov`) when there are no replicates."""
        if self.R:
            stats = btergm_standard_errors(self.replicates, self.mple.coef)
            columns = {"Estimate": self.mple.coef, "boot_mean": stats["boot_mean"], "boot_sd": stats["boot_sd"],
                       "Std.Err": stats["se"], "z": stats["z"], "p": stats["p"]}
        else:
            se = self._wald_standard_errors()
            z = self.mple.coef / se
            columns = {"Estimate": self.mple.coef, "Std.Err": se, "z": z, "p": 2 * norm.sf(np.abs(z))}
        return pd.DataFrame(columns, index=pd.Index(self.names, name="term"))

    def summary(self, level: float = 0.95) -> str:
        """btergm's summary: formula, time steps, bootstrap size, estimates with intervals."""
        table = self.ci(level)
        lines = ["=" * 26, "Summary of model fit", "=" * 26, ""]
        if self.formula:
            lines += [f"Formula:   {self.formula}", ""]
        lines += [f"Time steps: {self.n_periods}", ""]
        if self.R:
            lines += [f"Bootstrapping sample size: {self.R}", ""]
            lines += [f"Estimates and {100 * level:g}% confidence intervals:"]
        else:
            lines += [f"MPLE with {100 * level:g}% Wald intervals (inverse Hessian):"]
        lines.append(table.to_string(float_format=lambda v: f"{v:.4f}"))
        if self.R and not self.replicate_converged.all():
            k = int((~self.replicate_converged).sum())
            terms = sorted({name for names in self.diverging for name in names})
            lines.append(f"\n{k} of {self.R} replicates have no finite MLE (terms {terms}); "
                         "their values are glm.fit's stopping point, as btergm reports them.")
        dropped = self.R - len(self._complete_replicates())
        if dropped:
            lines.append(f"{dropped} replicates with NA coefficients were dropped from the intervals.")
        text = "\n".join(lines)
        print(text)
        return text

    def design(self) -> pd.DataFrame:
        """The change-statistic table: one row per dyad and period (period, tail, head, response, statistics)."""
        d = self.design_matrix
        lengths = np.diff(d.offsets)
        period = np.repeat(np.arange(d.n_periods), lengths)
        tails = np.concatenate([d.nodes[t][d.dyads[d.period_rows(t), 0]] for t in range(d.n_periods)]) if len(d.y) else []
        heads = np.concatenate([d.nodes[t][d.dyads[d.period_rows(t), 1]] for t in range(d.n_periods)]) if len(d.y) else []
        frame = pd.DataFrame({
            "period": np.asarray(d.periods, dtype=object)[period],
            "tail": tails,
            "head": heads,
            "response": d.y.astype(np.int8),
        })
        statistics = pd.DataFrame(d.X, columns=d.names)
        return pd.concat([frame, statistics], axis=1)

    def to_frame(self) -> pd.DataFrame:
        """One row per term: estimate, interval, and btergm's standard-error columns."""
        table = self.ci()
        extra = self.standard_errors().drop(columns="Estimate")
        return pd.concat([table, extra], axis=1)

    def __repr__(self) -> str:
        kind = f"btergm, R={self.R}" if self.R else "ergm MPLE"
        coefs = ", ".join(f"{k}={v:.4g}" for k, v in self.coef.items())
        return f"<Fit {kind}, {self.n_periods} periods: {coefs}>"


def _percent(value: float) -> str:
    return f"{value:g}%"
