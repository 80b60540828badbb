"""Simulation goodness of fit, as ergm's / btergm's `gof`: observed network statistics against the
distribution over networks simulated from the fit, per period and pooled over periods.

    result = gof(fit, nsim=100, seed=1)
    result.table        # model, period, statistic, value, observed, sim_mean, sim_lower, sim_upper, p_value
    result.simulated    # per-draw counts (boxplots)
    result.diagnostics  # MCMC diagnostics per period and model term

Statistics: degree (undirected) or indegree and outdegree (directed); edgewise and dyadwise shared
partners (OTP for directed networks, ergm's gof default; dyads = unordered pairs when undirected,
ordered when directed); geodesic distances ("inf" = unreachable; pairs as for dsp); the triad census
(directed); and the model's own statistics. p-values are ergm's two-sided Monte-Carlo p:
min(1, 2 min(P(sim <= obs), P(sim >= obs))). Quantiles 2.5 / 97.5 % as R's quantile (type 7).
"Pooled" sums each distribution over the periods, draw by draw (every period has nsim draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit, prange

from dyadflow.tergm.simulation import PeriodDraws, Simulation, simulate

TRIAD_TYPES = (
    "003",
    "012",
    "102",
    "021D",
    "021U",
    "021C",
    "111D",
    "111U",
    "030T",
    "030C",
    "201",
    "120D",
    "120U",
    "120C",
    "210",
    "300",
)
# Type (index into TRIAD_TYPES) of each of the 64 configurations of a triad (v, u, w), coded as
# 1 v->u, 2 u->v, 4 v->w, 8 w->v, 16 u->w, 32 w->u (Batagelj & Mrvar's table, as networkx uses).
_TRICODES = (
    np.array(
        [
            1,
            2,
            2,
            3,
            2,
            4,
            6,
            8,
            2,
            6,
            5,
            7,
            3,
            8,
            7,
            11,
            2,
            6,
            4,
            8,
            5,
            9,
            9,
            13,
            6,
            10,
            9,
            14,
            7,
            14,
            12,
            15,
            2,
            5,
            6,
            7,
            6,
            9,
            10,
            14,
            4,
            9,
            9,
            12,
            8,
            13,
            14,
            15,
            3,
            7,
            8,
            11,
            7,
            12,
            14,
            15,
            8,
            14,
            13,
            15,
            11,
            15,
            15,
            16,
        ],
        np.int64,
    )
    - 1
)

# Warn when the lag-1 autocorrelation of a model statistic exceeds this, or its effective sample size
# falls below this share of the draws.
AUTOCORRELATION_WARNING = 0.8
ESS_SHARE_WARNING = 0.1


@njit(cache=True, nogil=True)
def triad_census(adj, tricodes):
    """Counts of the 16 triad types over all n choose 3 triads, by Batagelj & Mrvar's sparse algorithm
    (Social Networks 2001): each triad with at least one tie is visited once, from its tie (v, u),
    v < u, of smallest v and, among those, smallest u; the dyadic ones are counted per tie; 003 is
    the rest. O(ties x degree) instead of O(n^3). A triad's type is tricodes[code] of its six
    possible ties read in any order of its nodes (tricodes covers all 64 codes)."""
    n = adj.shape[0]
    counts = np.zeros(16, np.int64)
    neighbours = np.empty((n, max(n, 1)), np.int64)  # tied either way
    degree = np.zeros(n, np.int64)
    for i in range(n):
        for j in range(n):
            if i != j and (adj[i, j] or adj[j, i]):
                neighbours[i, degree[i]] = j
                degree[i] += 1
    in_s = np.full(n, -1, np.int64)  # in_s[w] == stamp: w is in S = N(u) | N(v) - {u, v}
    stamp = 0
    for v in range(n):
        for a in range(degree[v]):
            u = neighbours[v, a]
            if u <= v:
                continue
            stamp += 1
            size = 0
            base = adj[v, u] + 2 * adj[u, v]
            for b in range(degree[v]):
                w = neighbours[v, b]
                if w != u:
                    in_s[w] = stamp
                    size += 1
                    if u < w:  # w tied to v: the triad's first tie is (v, u) when v < w and u < w
                        code = base + 4 * adj[v, w] + 8 * adj[w, v] + 16 * adj[u, w] + 32 * adj[w, u]
                        counts[tricodes[code]] += 1
            for b in range(degree[u]):
                w = neighbours[u, b]
                if w != v and in_s[w] != stamp:
                    in_s[w] = stamp
                    size += 1
                    # w is tied to u only: the triad's first tie is (v, u) unless w < v
                    if v < w:
                        code = base + 4 * adj[v, w] + 8 * adj[w, v] + 16 * adj[u, w] + 32 * adj[w, u]
                        counts[tricodes[code]] += 1
            counts[tricodes[base]] += n - size - 2  # third node tied to neither: 012 or 102
    total = n * (n - 1) * (n - 2) // 6
    counts[0] += total - counts.sum()  # 003
    return counts


@njit(cache=True, nogil=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, nogil=True)
def _geodesic_counts(out_nbr, outdeg, n, counts):
    """Ordered pairs (i, j), i != j, by distance 1..n-1, then the unreachable ones (into `counts`, of
    length max(n, 1)): a breadth-first search from every node on 64-bit words (a level's frontier
    expands by OR-ing its nodes' neighbour bit rows), n / 64 word operations per frontier node
    instead of one per tie."""
    words = (n + 63) // 64
    bits = np.zeros((n, max(words, 1)), np.uint64)
    for i in range(n):
        for a in range(outdeg[i]):
            j = out_nbr[i, a]
            bits[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    for level in range(counts.shape[0]):
        counts[level] = 0
    visited = np.zeros(max(words, 1), np.uint64)
    frontier = np.zeros(max(words, 1), np.uint64)
    following = np.zeros(max(words, 1), np.uint64)
    for i in range(n):
        visited[:] = 0
        frontier[:] = 0
        visited[i >> 6] = np.uint64(1) << np.uint64(i & 63)
        frontier[i >> 6] = visited[i >> 6]
        reached = 0
        level = 0
        while True:
            level += 1
            following[:] = 0
            for w in range(words):
                x = frontier[w]
                if x == 0:
                    continue
                for b in range(64):
                    if (x >> np.uint64(b)) & np.uint64(1):
                        v = w * 64 + b
                        for u in range(words):
                            following[u] |= bits[v, u]
            found = 0
            for u in range(words):
                fresh = following[u] & ~visited[u]
                following[u] = fresh
                visited[u] |= fresh
                found += _popcount(fresh)
            if found == 0:
                break
            counts[level - 1] += found
            reached += found
            frontier, following = following, frontier
        if n > 0:
            counts[n - 1] += n - 1 - reached


@njit(cache=True, nogil=True)
def _distribution_counts(adj, directed, tricodes, degree, outdegree, esp, dsp, geodesic, triads):
    """Every gof count vector of one network in one compiled pass, into the given rows (lengths n, n,
    max(n - 1, 1), max(n - 1, 1), max(n, 1), 16): degree (indegree when directed), outdegree, esp,
    dsp, geodesic, triad census (directed only). Shared partners from the neighbour lists (OTP when
    directed: k with i->k->j), geodesics by breadth-first search from every node. Rows are filled
    element by element: no array-to-slice assignment, whose shape-check error path alone costs numba
    seconds to compile."""
    n = adj.shape[0]
    outdeg = np.zeros(n, np.int64)
    indeg = np.zeros(n, np.int64)
    for i in range(n):
        for j in range(n):
            outdeg[i] += adj[i, j]
            indeg[j] += adj[i, j]
    out_nbr = np.empty((n, max(n, 1)), np.int64)
    in_nbr = np.empty((n, max(n, 1)), np.int64)
    fill_out = np.zeros(n, np.int64)
    fill_in = np.zeros(n, np.int64)
    for i in range(n):
        for j in range(n):
            if adj[i, j]:
                out_nbr[i, fill_out[i]] = j
                fill_out[i] += 1
                in_nbr[j, fill_in[j]] = i
                fill_in[j] += 1
    for i in range(n):
        degree[i] = 0
        outdegree[i] = 0
    for i in range(n):
        degree[indeg[i]] += 1  # undirected: the degree
        outdegree[outdeg[i]] += 1
    shared = np.zeros((n, n), np.int64)  # shared[i, j] = #k with i->k->j
    for k in range(n):
        for a in range(indeg[k]):
            i = in_nbr[k, a]
            for b in range(outdeg[k]):
                shared[i, out_nbr[k, b]] += 1
    for s in range(esp.shape[0]):
        esp[s] = 0
        dsp[s] = 0
    for i in range(n):
        first = 0 if directed else i + 1
        for j in range(first, n):
            if j != i:
                dsp[shared[i, j]] += 1
                if adj[i, j]:
                    esp[shared[i, j]] += 1
    _geodesic_counts(out_nbr, outdeg, n, geodesic)
    if not directed:  # every unordered pair was reached from both ends, at the same distance
        for level in range(geodesic.shape[0]):
            geodesic[level] //= 2
    census = triad_census(adj, tricodes) if directed else np.zeros(16, np.int64)
    for c in range(16):
        triads[c] = census[c]


def _count_arrays(nsim: int, n: int) -> tuple[np.ndarray, ...]:
    """Zeroed (nsim, length) arrays for _distribution_counts' rows, in its order."""
    width = max(n - 1, 1)
    return tuple(np.zeros((nsim, length), np.int64) for length in (n, n, width, width, max(n, 1), 16))


@njit(cache=True, parallel=True)
def _draw_counts(
    n, directed, dyads, tie_ptr, tie_dyads, fixed_ties, tricodes, degree, outdegree, esp, dsp, geodesic, triads
):
    """_distribution_counts of every draw k (the network of PeriodDraws.network(k)) into row k of the
    count arrays (_count_arrays), draws in parallel."""
    nsim = tie_ptr.shape[0] - 1
    for k in prange(nsim):
        adj = np.zeros((n, n), np.uint8)
        for e in range(fixed_ties.shape[0]):
            adj[fixed_ties[e, 0], fixed_ties[e, 1]] = 1
            if not directed:
                adj[fixed_ties[e, 1], fixed_ties[e, 0]] = 1
        for s in range(tie_ptr[k], tie_ptr[k + 1]):
            i, j = dyads[tie_dyads[s], 0], dyads[tie_dyads[s], 1]
            adj[i, j] = 1
            if not directed:
                adj[j, i] = 1
        _distribution_counts(adj, directed, tricodes, degree[k], outdegree[k], esp[k], dsp[k], geodesic[k], triads[k])


def _as_named(counts, directed: bool) -> dict[str, np.ndarray]:
    degree, outdegree, esp, dsp, geodesic, triads = counts
    out = {"indegree": degree, "outdegree": outdegree} if directed else {"degree": degree}
    out["esp"], out["dsp"], out["geodesic"] = esp, dsp, geodesic
    if directed:
        out["triad_census"] = triads
    return out


def network_distributions(adj: np.ndarray, directed: bool) -> dict[str, np.ndarray]:
    """Each gof distribution of one network: statistic -> counts indexed by value (degree: 0..n-1;
    esp, dsp: 0..n-2; geodesic: 1..n-1 then the unreachable pairs)."""
    adj = np.ascontiguousarray(adj, np.uint8)
    counts = _count_arrays(1, adj.shape[0])
    _distribution_counts(adj, bool(directed), _TRICODES, *(row[0] for row in counts))
    return _as_named(tuple(row[0] for row in counts), bool(directed))


def draw_distributions(draws: PeriodDraws) -> dict[str, np.ndarray]:
    """network_distributions of every draw of a period at once: statistic -> (nsim, length) counts."""
    fixed = np.asarray(draws.fixed_ties, np.int64).reshape(-1, 2)
    counts = _count_arrays(len(draws.tie_ptr) - 1, len(draws.nodes))
    _draw_counts(
        len(draws.nodes),
        bool(draws.directed),
        np.asarray(draws.dyads, np.int64),
        np.asarray(draws.tie_ptr, np.int64),
        np.asarray(draws.tie_dyads, np.int64),
        fixed,
        _TRICODES,
        *counts,
    )
    return _as_named(counts, bool(draws.directed))


def _value_labels(statistic: str, length: int) -> list[str]:
    if statistic == "triad_census":
        return list(TRIAD_TYPES)
    if statistic == "geodesic":
        return [str(k) for k in range(1, length)] + ["inf"]
    return [str(k) for k in range(length)]


def mc_p_value(observed: np.ndarray, simulated: np.ndarray) -> np.ndarray:
    """ergm's two-sided Monte-Carlo p: min(1, 2 min(mean(sim <= obs), mean(sim >= obs))), per column."""
    lower = (simulated <= observed[None, :]).mean(axis=0)
    upper = (simulated >= observed[None, :]).mean(axis=0)
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper))


def autocorrelation(x: np.ndarray, lag: int = 1) -> float:
    x = np.asarray(x, float)
    if len(x) <= lag + 1 or np.var(x) == 0:
        return float("nan")
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).sum() / (x * x).sum())


def effective_sample_size(x: np.ndarray) -> float:
    """n / tau with Geyer's initial positive sequence estimate tau = -1 + 2 sum_m (rho_2m + rho_2m+1)."""
    x = np.asarray(x, float)
    n = len(x)
    if n < 4 or np.var(x) == 0:
        return float("nan")
    x = x - x.mean()
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), 2 * n)[:n]
    acf /= acf[0]
    tau = -1.0
    for m in range(0, (n - 1) // 2):
        pair = acf[2 * m] + acf[2 * m + 1]
        if pair <= 0:
            break
        tau += 2.0 * pair
    return float(n / max(tau, 1e-12))


@dataclass(frozen=True)
class GofResult:
    table: pd.DataFrame
    simulated: pd.DataFrame
    diagnostics: pd.DataFrame
    simulation: Simulation

    def warnings(self) -> list[str]:
        d = self.diagnostics
        return [f"period {r.period}, {r.term}: {r.warning}" for r in d.itertuples() if r.warning]


def _summaries(model: str, period: str, statistic: str, labels, observed, sims) -> tuple[list, list]:
    sims = np.asarray(sims, float)
    observed = np.asarray(observed, float)
    lower, upper = np.quantile(sims, [0.025, 0.975], axis=0)
    p = mc_p_value(observed, sims)
    rows = [
        (model, period, statistic, labels[c], observed[c], sims[:, c].mean(), lower[c], upper[c], p[c])
        for c in range(len(labels))
    ]
    nsim, size = sims.shape[0], sims.shape[0] * len(labels)
    draws = {
        "model": np.full(size, model, dtype=object),
        "period": np.full(size, period, dtype=object),
        "statistic": np.full(size, statistic, dtype=object),
        "value": np.repeat(np.asarray(labels, dtype=object), nsim),
        "draw": np.tile(np.arange(nsim, dtype=np.int64), len(labels)),
        "count": sims.T.ravel(),
    }
    return rows, [draws]


def _trim(observed: np.ndarray, sims: np.ndarray, statistic: str):
    """Drop the trailing values no network reaches (keeps geodesic's "inf" and all triad types)."""
    if statistic == "triad_census":
        return observed, sims
    body_obs, body_sims = (observed[:-1], sims[:, :-1]) if statistic == "geodesic" else (observed, sims)
    used = np.nonzero((body_obs > 0) | (body_sims > 0).any(axis=0))[0]
    last = used[-1] + 1 if len(used) else 1
    if statistic == "geodesic":
        return np.append(body_obs[:last], observed[-1]), np.column_stack([body_sims[:, :last], sims[:, -1]])
    return body_obs[:last], body_sims[:, :last]


def _distributions(draws: PeriodDraws, adj_observed: np.ndarray):
    obs = network_distributions(adj_observed, draws.directed)
    sims = draw_distributions(draws)  # every vector of a statistic has the same length (n or n - 1)
    return {s: (obs[s], np.vstack([sims[s], obs[s][None, :]]).astype(float)) for s in obs}


def _diagnostics(model: str, draws: PeriodDraws) -> list[tuple]:
    rows = []
    n_free = len(draws.dyads)
    edge_counts = np.diff(draws.tie_ptr)
    degenerate = ""
    if n_free and ((edge_counts == 0).mean() > 0.5 or (edge_counts == n_free).mean() > 0.5):
        degenerate = "near-degenerate: most simulated networks are empty or complete"
    for c, term in enumerate(draws.names):
        x = draws.statistics[:, c]
        rho = autocorrelation(x)
        ess = effective_sample_size(x)
        warning = degenerate
        if not warning:
            if np.var(x) == 0:
                warning = "the statistic never changed: the chain did not mix"
            elif rho > AUTOCORRELATION_WARNING or ess < ESS_SHARE_WARNING * draws.nsim:
                warning = (
                    f"poor mixing (lag-1 autocorrelation {rho:.2f}, effective sample size {ess:.0f} of "
                    f"{draws.nsim}): increase interval"
                )
        rows.append((model, draws.period, term, draws.acceptance_rate, rho, ess, warning))
    return rows


def gof_from_simulation(sims: Simulation, panel, model: str = "model") -> GofResult:
    """The gof tables of already simulated draws (`panel`: the panel they were simulated on)."""
    rows, draws_rows, diag = [], [], []
    pooled: dict[str, list] = {}
    for draws in sims.periods:
        period = panel[panel.period_names.index(draws.period)]
        for statistic, (_observed, stacked) in _distributions(draws, period.network).items():
            obs_full, sim_full = stacked[-1], stacked[:-1]
            pooled.setdefault(statistic, []).append(stacked)
            o, s = _trim(obs_full, sim_full, statistic)
            r, d = _summaries(model, draws.period, statistic, _value_labels(statistic, len(o)), o, s)
            rows += r
            draws_rows += d
        r, d = _summaries(model, draws.period, "model", list(draws.names), draws.observed, draws.statistics)
        rows += r
        draws_rows += d
        diag += _diagnostics(model, draws)
    if len(sims.periods) > 1:
        for statistic, stacks in pooled.items():
            width = max(s.shape[1] for s in stacks)
            total = np.zeros((stacks[0].shape[0], width))
            for s in stacks:
                if statistic == "geodesic":
                    total[:, : s.shape[1] - 1] += s[:, :-1]
                    total[:, -1] += s[:, -1]
                else:
                    total[:, : s.shape[1]] += s
            o, s = _trim(total[-1], total[:-1], statistic)
            r, d = _summaries(model, "pooled", statistic, _value_labels(statistic, len(o)), o, s)
            rows += r
            draws_rows += d
        observed = sum(d.observed for d in sims.periods)
        stats = sum(d.statistics for d in sims.periods)
        r, d = _summaries(model, "pooled", "model", list(sims.names), observed, stats)
        rows += r
        draws_rows += d
    table = pd.DataFrame(
        rows,
        columns=["model", "period", "statistic", "value", "observed", "sim_mean", "sim_lower", "sim_upper", "p_value"],
    )
    simulated = pd.DataFrame(
        {
            column: np.concatenate([block[column] for block in draws_rows])
            for column in ("model", "period", "statistic", "value", "draw", "count")
        }
    )
    diagnostics = pd.DataFrame(
        diag,
        columns=["model", "period", "term", "acceptance_rate", "autocorrelation", "effective_sample_size", "warning"],
    )
    return GofResult(table=table, simulated=simulated, diagnostics=diagnostics, simulation=sims)


def gof(
    fit,
    periods=None,
    nsim: int = 100,
    burnin: int | None = None,
    interval: int | None = None,
    seed: int = 12345,
    *,
    panel=None,
    model: str = "model",
    map_tasks=None,
) -> GofResult:
    """Goodness of fit of `fit` on each period of its likelihood (or `periods`); see the module docstring.
    Arguments as tergm.simulation.simulate; `model` names the model in the tables."""
    sims = simulate(
        fit, periods=periods, nsim=nsim, burnin=burnin, interval=interval, seed=seed, panel=panel, map_tasks=map_tasks
    )
    return gof_from_simulation(sims, panel if panel is not None else fit.panel, model=model)


def write_gof(result: GofResult, directory) -> None:
    """gof.parquet/.csv, gof_simulated.parquet, mcmc_diagnostics.parquet/.csv (docs: SCHEMAS)."""
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    result.table.to_parquet(directory / "gof.parquet", index=False)
    result.table.to_csv(directory / "gof.csv", index=False)
    result.simulated.to_parquet(directory / "gof_simulated.parquet", index=False)
    result.diagnostics.to_parquet(directory / "mcmc_diagnostics.parquet", index=False)
    result.diagnostics.to_csv(directory / "mcmc_diagnostics.csv", index=False)
