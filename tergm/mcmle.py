"""MCMC maximum likelihood for cross-sectional ERGMs and pooled TERGMs (ergm's MCMLE, btergm's mtergm).

Start at the MPLE. Each iteration simulates `samplesize` networks per period at the current theta_t
(kernels/sampler.py, chains started at the observed networks), takes d = g(sim) - g(obs) and
maximises the Geyer-Thompson approximation of the log-likelihood ratio

    L(eta) = eta . xi - sum_t log mean_k exp(eta . d_tk),     eta = theta - theta_t,

by Newton steps. xi is Hummel et al.'s (2012) partial-step target: xi = (1 - gamma) mean(d), with the
largest gamma in (0, 1] (grid of 0.01) such that the target pushed 5 % further lies inside the convex
hull of the sampled d (ergm's MCMLE.steplength.margin = 0.05); gamma = 1 targets the observed
statistics. Periods are independent given their lagged networks, so a pooled TERGM sums over them.

Stop (ergm's "Hotelling" termination, MCMLE.conv.min.pval = 0.5) when gamma = 1 and Hotelling's T^2
test of E d = 0, with the covariance corrected for autocorrelation by each statistic's effective
sample size, has p > 0.5. Standard errors: the inverse Fisher information I^-1 (I = the simulated
covariance of g at the MLE, summed over periods) plus the Monte-Carlo variance of the estimate,
I^-1 Var(mean d) I^-1; `mcmc_share` is the second's share of each variance, as ergm's summary reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.stats import f as f_dist

from dyadflow.tergm.arguments import check_integer
from dyadflow.tergm.gof import effective_sample_size
from dyadflow.tergm.results import ModelResults
from dyadflow.tergm.simulation import (
    SimulationError,
    chain_inputs,
    chain_seed,
    check_counts,
    fit_model,
    observed_statistics,
    run_period_chain,
)

HOTELLING_MIN_P = 0.5
STEP_MARGIN = 0.05
DEFAULT_SAMPLESIZE = 1024


@dataclass(frozen=True, repr=False)
class MleFit(ModelResults):
    """An MCMC-MLE fit, read like every fitted model (tergm.results.ModelResults): coef, vcov (inverse
    information plus Monte-Carlo variance), Wald ci, summary, to_frame (with the MCMC share)."""

    names: list[str]
    estimate: np.ndarray
    covariance: np.ndarray  # total: inverse information + Monte-Carlo variance
    mcmc_share: np.ndarray  # (p,) Monte-Carlo share of each variance
    observed: np.ndarray  # (p,) observed statistics (summed over periods)
    simulated_mean: np.ndarray  # (p,) mean simulated statistics at the estimate
    simulated_mean_se: np.ndarray  # (p,) Monte-Carlo standard error of that mean
    iterations: int
    converged: bool
    hotelling_p: float
    formula: str | None
    n_periods: int
    nobs: int
    mple_fit: object = field(repr=False, compare=False)
    panel: object | None = field(default=None, repr=False, compare=False)
    temporal: bool = True
    history: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    estimate_kind = "MLE"
    R = 0  # no bootstrap replicates (the report writer reads this)

    def _estimates(self) -> np.ndarray:
        return self.estimate

    def _covariance(self) -> np.ndarray:
        return self.covariance

    @property
    def mple(self):  # what simulate() reads: the coefficients to simulate from
        return _Coefficients(self.estimate, self.names)

    def standard_errors(self) -> pd.DataFrame:
        table = super().standard_errors()
        table.insert(2, "MCMC %", 100 * self.mcmc_share)
        return table

    def _summary_header(self, level: float) -> list[str]:
        lines = ["=" * 26, "Summary of model fit (MCMC-MLE)", "=" * 26, ""]
        if self.formula:
            lines += [f"Formula:   {self.formula}", ""]
        lines += [
            f"Time steps: {self.n_periods}",
            f"Iterations: {self.iterations}"
            f" ({'converged' if self.converged else 'NOT converged'}; Hotelling p = {self.hotelling_p:.3f})",
            "",
        ]
        return lines

    def _summary_table(self, level: float) -> pd.DataFrame:
        return pd.concat([self.ci(level), self.standard_errors().drop(columns="Estimate")], axis=1)

    def _repr_kind(self) -> str:
        return f"{self.n_periods} periods, {'converged' if self.converged else 'not converged'}"


@dataclass(frozen=True)
class _Coefficients:
    coef: np.ndarray
    names: list[str]


def _inside_hull(point: np.ndarray, points: np.ndarray) -> bool:
    """Is `point` a convex combination of the rows of `points`? (a feasibility LP)"""
    k = points.shape[0]
    res = linprog(
        np.zeros(k),
        A_eq=np.vstack([points.T, np.ones(k)]),
        b_eq=np.append(point, 1.0),
        bounds=(0, None),
        method="highs",
    )
    return res.status == 0


def hummel_step(d: np.ndarray) -> float:
    """Largest gamma (grid 0.01) with mean + (1 + margin) * gamma * (0 - mean) inside the hull of d."""
    mean = d.mean(axis=0)
    active = d.std(axis=0) > 0
    if not active.any():
        return 1.0
    pts, m = d[:, active], mean[active]
    lo, hi = 0.0, 1.0
    if _inside_hull(m - (1 + STEP_MARGIN) * m, pts):
        return 1.0
    for _ in range(7):  # bisection to ~0.01
        mid = (lo + hi) / 2
        if _inside_hull(m - (1 + STEP_MARGIN) * mid * m, pts):
            lo = mid
        else:
            hi = mid
    return max(lo, 0.01)


def _log_mean_exp_terms(eta, d):
    """log mean exp(eta . d_k), and the weighted mean and covariance of d under weights exp(eta . d)."""
    s = d @ eta
    top = s.max()
    w = np.exp(s - top)
    total = w.sum()
    w /= total
    mean = w @ d
    centred = d - mean
    cov = (centred * w[:, None]).T @ centred
    return top + np.log(total / len(s)), mean, cov


def geyer_thompson(ds: list[np.ndarray], xi: np.ndarray, max_iter: int = 50) -> np.ndarray:
    """argmax_eta eta . xi - sum_t log mean exp(eta . d_t) by damped Newton (the objective is concave)."""
    p = xi.shape[0]
    eta = np.zeros(p)

    def objective(e):
        value, grad, hess = e @ xi, xi.copy(), np.zeros((p, p))
        for d in ds:
            lme, mean, cov = _log_mean_exp_terms(e, d)
            value -= lme
            grad -= mean
            hess -= cov
        return value, grad, hess

    value, grad, hess = objective(eta)
    for _ in range(max_iter):
        step = np.linalg.lstsq(-hess, grad, rcond=None)[0]
        t = 1.0
        while t > 1e-6:
            new_value, new_grad, new_hess = objective(eta + t * step)
            if new_value >= value - 1e-12:
                break
            t /= 2
        eta = eta + t * step
        value, grad, hess = new_value, new_grad, new_hess
        if np.abs(t * step).max() < 1e-9:
            break
    return eta


def _mean_covariance(ds: list[np.ndarray]) -> np.ndarray:
    """Var of sum_t mean_k d_tk, each statistic's variance inflated by nsim / ESS (autocorrelation)."""
    p = ds[0].shape[1]
    total = np.zeros((p, p))
    for d in ds:
        n = d.shape[0]
        cov = np.cov(d, rowvar=False).reshape(p, p)
        inflate = np.ones(p)
        for j in range(p):
            ess = effective_sample_size(d[:, j])
            if np.isfinite(ess) and ess > 0:
                inflate[j] = max(n / ess, 1.0)
        scale = np.sqrt(inflate)
        total += cov * np.outer(scale, scale) / n
    return total


def hotelling_p(ds: list[np.ndarray]) -> float:
    mean = sum(d.mean(axis=0) for d in ds)
    V = _mean_covariance(ds)
    active = np.diag(V) > 0
    if not active.any():
        return 1.0
    mean, V = mean[active], V[np.ix_(active, active)]
    p = int(active.sum())
    n = min(d.shape[0] for d in ds)
    t2 = float(mean @ np.linalg.lstsq(V, mean, rcond=None)[0])
    if n <= p:
        return float("nan")
    stat = t2 * (n - p) / (p * (n - 1))
    return float(f_dist.sf(stat, p, n - p))


def mcmle(
    fit,
    *,
    samplesize: int = DEFAULT_SAMPLESIZE,
    burnin: int | None = None,
    interval: int | None = None,
    max_iterations: int = 20,
    seed: int = 12345,
    panel=None,
    map_tasks=None,
    progress=None,
) -> MleFit:
    """MCMC-MLE of the model of an MPLE `fit` (tergm.btergm or tergm.ergm), started at its estimate.

    samplesize: networks per period and iteration (ergm's MCMC.samplesize, 1024); interval: proposals
    between them (default max(256, dyads / 8)); burnin: before the first (default 16 intervals).
    """
    check_integer("samplesize", samplesize, minimum=10, error=SimulationError)
    check_integer("max_iterations", max_iterations, minimum=1, error=SimulationError)
    check_counts(samplesize, burnin, interval, seed)
    model, panel = fit_model(fit, panel)
    indices = list(model.likelihood_periods)
    inputs = [chain_inputs(model, panel, t) for t in indices]
    observed = sum(observed_statistics(item) for item in inputs)
    theta = np.array([fit.coef[name] for name in model.names], float)

    def sample(theta, iteration):
        def one(k):
            item = inputs[k]
            step = interval if interval is not None else max(256, item.n_dyads // 8)
            warm = burnin if burnin is not None else 16 * step
            result = run_period_chain(
                item, theta, nsim=samplesize, burnin=warm, interval=step, seed=chain_seed(seed, indices[k], iteration)
            )
            return result["statistics"] - observed_statistics(item)

        items = list(range(len(inputs)))
        return [one(k) for k in items] if map_tasks is None else list(map_tasks(one, items))

    history = [theta.copy()]
    converged = False
    p_value = float("nan")
    ds = sample(theta, 0)
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        pooled = sum(ds)
        gamma = hummel_step(pooled)
        p_value = hotelling_p(ds)
        if progress is not None:
            progress(iteration, gamma, p_value)
        if gamma >= 1.0 and p_value > HOTELLING_MIN_P and iteration > 1:
            converged = True
            break
        xi = (1.0 - gamma) * sum(d.mean(axis=0) for d in ds)
        theta = theta + geyer_thompson(ds, xi)
        history.append(theta.copy())
        ds = sample(theta, iteration)
    information = sum(np.cov(d, rowvar=False).reshape(len(theta), len(theta)) for d in ds)
    inverse = np.linalg.pinv(information)
    V_mean = _mean_covariance(ds)
    mc = inverse @ V_mean @ inverse
    total = inverse + mc
    share = np.diag(mc) / np.diag(total)
    sim_mean = observed + sum(d.mean(axis=0) for d in ds)
    return MleFit(
        names=list(model.names),
        estimate=theta,
        covariance=total,
        mcmc_share=share,
        observed=observed,
        simulated_mean=sim_mean,
        simulated_mean_se=np.sqrt(np.diag(V_mean)),
        iterations=iteration,
        converged=converged,
        hotelling_p=p_value,
        formula=fit.formula,
        n_periods=len(indices),
        nobs=int(sum(item.n_dyads for item in inputs)),
        mple_fit=fit,
        panel=panel,
        temporal=getattr(fit, "temporal", True),
        history=history,
    )
