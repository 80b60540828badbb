"""Networks simulated from a fitted (T)ERGM, period by period, as btergm simulates each time step:
conditional on the period's covariates and (for memory, delrecip, ...) the lagged *observed* network.

    sims = simulate(fit, nsim=100, seed=1)          # every period in the fit's likelihood
    sims["2000"].statistics                          # (nsim, p) g(y) of each draw
    sims["2000"].tie_probability()                   # mean tie indicator (simulated prediction)
    simulated_predictions(fit, panel, ["2000"])      # the same as rows for tergm.metrics

Each period is one MCMC chain (kernels/sampler.py, ergm's TNT proposal; kernels/sampler_fast.py
where every term of the model has a fast path) started at the observed
network (start="observed", ergm's default) or at the empty one (start="empty"). Draws are stored
compactly: the ties of every draw as indices into the period's free dyads.

Defaults follow ergm's control.simulate (MCMC.interval = 1024, MCMC.burnin = 16 * interval), with the
interval scaled up for large periods to one sixteenth of the free dyads, so a draw is separated by
enough proposals to touch a fair share of the dyads.

Statistics: g(y) - g(empty network) for the structural terms (ergm's summary adds the empty
network's value only for terms such as isolates where it is not 0), and the sum over ties of the
covariate value for covariate / temporal terms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dyadflow.kernels.cache import needs_compiling
from dyadflow.kernels.dispatch import CODES, statistics_from_empty, statistics_need_compiling
from dyadflow.kernels.sampler import run_chain, run_tnt_chain, sampler_state
from dyadflow.kernels.sampler_fast import fast_terms, run_fast_chain
from dyadflow.tergm.arguments import check_integer
from dyadflow.tergm.design import Model, design_for_period, parse_model

DEFAULT_INTERVAL = 1024  # ergm's MCMC.interval
BURNIN_INTERVALS = 16  # ergm's MCMC.burnin = MCMC.interval * 16
TNT_DYAD_PROBABILITY = 0.5
# False runs every chain on the generic kernels (kernels.sampler.run_chain) even where the fast path
# applies: the tests check both paths against exact enumeration.
FAST_PATH = True


def chains_need_compiling(formula: str, panel) -> bool:
    """Whether simulating the model of `formula` will compile numba code (its chain, its summary
    statistics) rather than load numba's disk cache: minutes on a first run, which a progress display
    should say."""
    model = parse_model(formula, panel)
    fast = FAST_PATH and fast_terms(model.codes, model.par_offsets, model.params, model.directed, CODES) is not None
    return needs_compiling(run_fast_chain if fast else run_chain) or statistics_need_compiling(model.codes)


class SimulationError(ValueError):
    """Bad arguments to simulate / gof / mcmle; the message names the argument."""


@dataclass(frozen=True)
class PeriodDraws:
    """The draws of one period's chain."""

    period: str
    nodes: np.ndarray
    directed: bool
    names: list[str]
    observed: np.ndarray  # (p,) statistics of the observed network
    statistics: np.ndarray  # (nsim, p) statistics of each draw
    dyads: np.ndarray  # (m, 2) free dyads (tail, head node indices)
    tie_ptr: np.ndarray  # (nsim + 1,): draw k's ties are dyads[tie_dyads[tie_ptr[k]:tie_ptr[k+1]]]
    tie_dyads: np.ndarray
    fixed_ties: np.ndarray  # (f, 2) ties outside the free dyads, present in every draw
    accepted: int
    proposals: int

    @property
    def nsim(self) -> int:
        return int(self.statistics.shape[0])

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposals if self.proposals else float("nan")

    def edges(self, k: int) -> np.ndarray:
        """(ties, 2) tail/head node indices of draw k."""
        free = self.dyads[self.tie_dyads[self.tie_ptr[k] : self.tie_ptr[k + 1]]]
        return np.concatenate([free, self.fixed_ties]) if len(self.fixed_ties) else free

    def network(self, k: int) -> np.ndarray:
        """(n, n) uint8 adjacency matrix of draw k."""
        n = len(self.nodes)
        adj = np.zeros((n, n), np.uint8)
        e = self.edges(k)
        adj[e[:, 0], e[:, 1]] = 1
        if not self.directed:
            adj[e[:, 1], e[:, 0]] = 1
        return adj

    def dyad_tie_frequency(self) -> np.ndarray:
        """(m,) share of draws with a tie on each free dyad: the simulated tie probability."""
        counts = np.bincount(self.tie_dyads, minlength=len(self.dyads))
        return counts / max(self.nsim, 1)

    def tie_probability(self) -> np.ndarray:
        """(n, n) mean tie indicator over the draws (free dyads; fixed dyads 0/1 as observed)."""
        n = len(self.nodes)
        prob = np.zeros((n, n))
        if len(self.fixed_ties):
            prob[self.fixed_ties[:, 0], self.fixed_ties[:, 1]] = 1.0
        prob[self.dyads[:, 0], self.dyads[:, 1]] = self.dyad_tie_frequency()
        if not self.directed:
            prob = np.maximum(prob, prob.T)
        return prob


@dataclass(frozen=True)
class Simulation:
    names: list[str]
    periods: list[PeriodDraws]
    nsim: int
    burnin: int | None
    interval: int | None
    seed: int

    def __getitem__(self, label) -> PeriodDraws:
        for draws in self.periods:
            if draws.period == str(label):
                return draws
        raise KeyError(f"no simulated period {label!r}; simulated: {[d.period for d in self.periods]}")

    def __iter__(self):
        return iter(self.periods)

    def __len__(self) -> int:
        return len(self.periods)


# ---------------------------------------------------------------------------------------------
# Inputs of one period's chain


@dataclass(frozen=True)
class ChainInputs:
    """Everything kernels.sampler.run_chain needs for one period (picklable, for Dask workers)."""

    period: str
    nodes: np.ndarray
    directed: bool
    codes: np.ndarray
    par_offsets: np.ndarray
    params: np.ndarray
    col_offsets: np.ndarray
    structural_columns: np.ndarray
    covariate_columns: np.ndarray
    dyads: np.ndarray
    cov_X: np.ndarray
    start: np.ndarray  # (n, n) uint8 observed network of the period
    observed_free: np.ndarray  # (m,) bool observed tie on each free dyad
    names: list[str]

    @property
    def n_dyads(self) -> int:
        return int(len(self.dyads))


def check_sampler_supports(model: Model) -> None:
    """Every term must be a kernel term or a network-independent covariate block (the same terms
    the MPLE design takes); a lagged term reads only *earlier* networks, so it is fixed too."""
    # All registered terms qualify today; the check guards future terms that read the current network
    # outside a kernel.
    from dyadflow.tergm.terms import CovariateTerm, StructuralTerm

    for term in model.terms:
        if isinstance(term, StructuralTerm):
            continue
        if isinstance(term, CovariateTerm) and term.lag >= 0:
            continue
        raise SimulationError(f"the sampler does not support the term {', '.join(term.names)}")


def chain_inputs(model: Model, panel, t: int) -> ChainInputs:
    """The chain inputs of panel period t (t in model.likelihood_periods)."""
    X, y, dyads = design_for_period(model, panel, t)
    period = panel[t]
    p = len(model.names)
    covariate_columns = np.setdiff1d(np.arange(p), model.structural_columns)
    return ChainInputs(
        period=period.name,
        nodes=np.asarray(period.nodes),
        directed=model.directed,
        codes=model.codes,
        par_offsets=model.par_offsets,
        params=model.params,
        col_offsets=model.kernel_col_offsets,
        structural_columns=model.structural_columns,
        covariate_columns=covariate_columns,
        dyads=dyads.astype(np.int64),
        cov_X=np.ascontiguousarray(X[:, covariate_columns]),
        start=np.asarray(period.network, np.uint8),
        observed_free=y.astype(bool),
        names=list(model.names),
    )


def observed_statistics(inputs: ChainInputs, adj: np.ndarray | None = None) -> np.ndarray:
    """g(y) of `adj` (default: the observed network), in design column order."""
    adj = inputs.start if adj is None else adj
    p = len(inputs.names)
    out = np.zeros(p)
    tails, heads = np.nonzero(adj if inputs.directed else np.triu(adj, 1))
    empty = sampler_state(np.zeros_like(adj), inputs.directed)
    out[inputs.structural_columns] = statistics_from_empty(
        inputs.codes,
        inputs.par_offsets,
        inputs.params,
        inputs.col_offsets,
        empty,
        tails.astype(np.int64),
        heads.astype(np.int64),
    )
    free_ties = adj[inputs.dyads[:, 0], inputs.dyads[:, 1]].astype(bool)
    out[inputs.covariate_columns] = inputs.cov_X[free_ties].sum(axis=0)
    return out


def run_period_chain(
    inputs: ChainInputs,
    coef: np.ndarray,
    *,
    nsim: int,
    burnin: int,
    interval: int,
    seed: int,
    start: str = "observed",
    start_network: np.ndarray | None = None,
) -> dict:
    """One chain for one period; returns a dict of arrays (checkpointable by flows.fanout)."""
    coef = np.asarray(coef, np.float64)
    if start_network is not None:
        adj = np.asarray(start_network, np.uint8)
    elif start == "observed":
        adj = inputs.start
    else:
        adj = inputs.start.copy()
        adj[inputs.dyads[:, 0], inputs.dyads[:, 1]] = 0
        if not inputs.directed:
            adj[inputs.dyads[:, 1], inputs.dyads[:, 0]] = 0
    start_stats = observed_statistics(inputs, adj)
    struct, cov, tie_ptr, ties, accepted, proposals = run_tnt_chain(
        inputs.codes,
        inputs.par_offsets,
        inputs.params,
        inputs.col_offsets,
        adj,
        inputs.directed,
        inputs.dyads,
        coef[inputs.structural_columns],
        inputs.cov_X,
        coef[inputs.covariate_columns],
        int(burnin),
        int(interval),
        int(nsim),
        int(seed),
        TNT_DYAD_PROBABILITY,
        generic=not FAST_PATH,
    )
    stats = np.empty((nsim, len(inputs.names)))
    stats[:, inputs.structural_columns] = struct
    stats[:, inputs.covariate_columns] = cov
    stats += start_stats
    return {
        "statistics": stats,
        "tie_ptr": tie_ptr,
        "tie_dyads": ties,
        "accepted": np.int64(accepted),
        "proposals": np.int64(proposals),
    }


def chain_seed(seed: int, period_index: int, chain: int = 0) -> int:
    """The chain's generator seed: numpy SeedSequence(seed) spawned at (period, chain), so it depends
    on nothing but these (not on workers or order)."""
    sequence = np.random.SeedSequence(int(seed), spawn_key=(int(period_index), int(chain)))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def default_interval(n_dyads: int) -> int:
    return max(DEFAULT_INTERVAL, n_dyads // 16)


def _fixed_ties(inputs: ChainInputs) -> np.ndarray:
    adj = inputs.start.copy()
    adj[inputs.dyads[:, 0], inputs.dyads[:, 1]] = 0
    if not inputs.directed:
        adj[inputs.dyads[:, 1], inputs.dyads[:, 0]] = 0
        adj = np.triu(adj, 1)
    return np.column_stack(np.nonzero(adj)).astype(np.int64)


def check_counts(nsim, burnin, interval, seed) -> None:
    """The chain arguments of simulate, gof and mcmle (tergm.arguments' messages)."""
    check_integer("nsim", nsim, minimum=1, error=SimulationError)
    if burnin is not None:
        check_integer("burnin", burnin, minimum=0, error=SimulationError)
    if interval is not None:
        check_integer("interval", interval, minimum=1, error=SimulationError)
    check_integer("seed", seed, minimum=0, error=SimulationError)


def fit_model(fit, panel=None) -> tuple[Model, object]:
    """The fit's model compiled on `panel` (default: the panel it was fitted on)."""
    panel = panel if panel is not None else getattr(fit, "panel", None)
    if panel is None:
        raise SimulationError("the fit does not carry its panel: pass panel=")
    if not fit.formula:
        raise SimulationError("the fit has no formula to simulate from")
    model = parse_model(fit.formula, panel, temporal=getattr(fit, "temporal", True))
    if list(model.names) != list(fit.names):
        raise SimulationError(
            f"the model on this panel has terms {model.names}, the fit {fit.names}: covariate levels differ"
        )
    check_sampler_supports(model)
    return model, panel


def resolve_periods(model: Model, panel, periods) -> list[int]:
    """Panel indices of the requested period labels (default: the likelihood periods)."""
    if periods is None:
        return list(model.likelihood_periods)
    if isinstance(periods, (str, int, np.integer)):
        periods = [periods]
    indices = []
    for label in periods:
        label = str(label)
        if label not in panel.period_names:
            raise SimulationError(f"period {label!r} is not in the panel (periods {panel.period_names})")
        t = panel.period_names.index(label)
        if t < model.lag:
            raise SimulationError(
                f"period {label!r} has no lagged network for the temporal terms (the first {model.lag} "
                "periods only provide earlier networks)"
            )
        indices.append(t)
    return indices


def simulate(
    fit,
    periods: Sequence | str | None = None,
    nsim: int = 100,
    burnin: int | None = None,
    interval: int | None = None,
    seed: int = 12345,
    *,
    panel=None,
    coef=None,
    start: str = "observed",
    map_tasks: Callable[[Callable, list], list] | None = None,
) -> Simulation:
    """Simulate `nsim` networks for each period from the fit's coefficients (or `coef`).

    periods: period labels (default: every period in the fit's likelihood); a period of `panel` beyond
        the fitted ones (out-of-sample prediction) needs `panel` holding it and its lagged networks.
    burnin, interval: proposals before the first draw and between draws (defaults: module docstring).
    seed: one chain per period, seeded by SeedSequence(seed) at the period's panel index.
    start: "observed" (ergm's default) or "empty".
    map_tasks(fn, items) -> list: runs fn(item) for each item (e.g. flows.fanout on Dask); the
        result does not depend on it.
    """
    check_counts(nsim, burnin, interval, seed)
    if start not in ("observed", "empty"):
        raise SimulationError(f"start must be 'observed' or 'empty', got {start!r}")
    model, panel = fit_model(fit, panel)
    indices = resolve_periods(model, panel, periods)
    coef = np.asarray(fit.mple.coef if coef is None else coef, np.float64)
    if coef.shape != (len(model.names),) or not np.isfinite(coef).all():
        raise SimulationError(f"coef must be {len(model.names)} finite numbers, got {coef}")
    inputs = {t: chain_inputs(model, panel, t) for t in indices}

    def one(t):
        item = inputs[t]
        step = interval if interval is not None else default_interval(item.n_dyads)
        warm = burnin if burnin is not None else BURNIN_INTERVALS * step
        return run_period_chain(
            item, coef, nsim=nsim, burnin=warm, interval=step, seed=chain_seed(seed, t), start=start
        )

    results = [one(t) for t in indices] if map_tasks is None else list(map_tasks(one, indices))
    draws = []
    for t, result in zip(indices, results):
        item = inputs[t]
        draws.append(
            PeriodDraws(
                period=item.period,
                nodes=item.nodes,
                directed=item.directed,
                names=list(model.names),
                observed=observed_statistics(item),
                statistics=result["statistics"],
                dyads=item.dyads,
                tie_ptr=result["tie_ptr"],
                tie_dyads=result["tie_dyads"],
                fixed_ties=_fixed_ties(item),
                accepted=int(result["accepted"]),
                proposals=int(result["proposals"]),
            )
        )
    return Simulation(names=list(model.names), periods=draws, nsim=nsim, burnin=burnin, interval=interval, seed=seed)


def simulated_predictions(
    fit,
    panel,
    periods,
    nsim: int = 100,
    seed: int = 12345,
    burnin: int | None = None,
    interval: int | None = None,
    *,
    start: str = "empty",
    map_tasks=None,
):
    """Simulated out-of-sample prediction as rows for tergm.metrics.evaluate_predictions: for each of
    `periods` (labels of `panel`, which holds them and their lagged networks), the mean tie indicator
    over `nsim` networks simulated from the fit, conditional on the period's covariates and lagged
    observed networks (btergm's gof for a held-out period).

    Chains start from the empty network: starting from the observed network of a held-out period (ergm's
    default for in-sample gof) would leak the very ties being predicted.

    Returns a DataFrame with one row per free dyad of each period: kind ("simulation"), period, tail,
    head (node labels as str), observed (int8), probability.
    """
    import pandas as pd

    if periods is None:
        raise SimulationError("periods: name the held-out period(s) to predict")
    sims = simulate(
        fit,
        periods=periods,
        nsim=nsim,
        burnin=burnin,
        interval=interval,
        seed=seed,
        panel=panel,
        start=start,
        map_tasks=map_tasks,
    )
    frames = []
    for draws in sims:
        period = panel[panel.period_names.index(draws.period)]
        labels = np.asarray([str(node) for node in draws.nodes], dtype=object)
        tails, heads = draws.dyads[:, 0], draws.dyads[:, 1]
        frames.append(
            pd.DataFrame(
                {
                    "kind": "simulation",
                    "period": draws.period,
                    "tail": labels[tails],
                    "head": labels[heads],
                    "observed": np.asarray(period.network, np.uint8)[tails, heads].astype(np.int8),
                    "probability": draws.dyad_tie_frequency(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
