"""Micro-level interpretation of a fitted (T)ERGM, as btergm's `edgeprob`, `interpret` and the
predicted-probability plots built on them.

- `edge_probabilities(fit)`: every dyad of every period in the likelihood with its change statistics
  and its tie probability given the rest of the network, logistic(theta . x_ij) (btergm's edgeprob).
- `interpret(fit, type, period, i, j)`: the probability of one tie given the rest ("tie"), of the four
  states of a directed dyad ("dyad"), of every configuration of the ties from i to a set of nodes (or
  from a set of nodes to j) ("node"). For several dyads the change statistics of one depend on the
  others, so the log-weight of each configuration is accumulated tie by tie on the network with the
  earlier ties of that configuration already toggled in: theta . (g(y_c) - g(y_0)), normalised over
  the configurations with the rest of the network held at its observed state.
- `probability_profile(fit, statistic)`: the mean predicted tie probability at each observed value of one
  design column (a network change statistic such as transitiveties, or a covariate), with intervals
  from the bootstrap replicates and from random subsets of dyads.
- `marginal_effects(fit)`: the average change in tie probability for a one-unit change of each
  term's change statistic, with bootstrap intervals.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, logsumexp

from dyadflow.kernels.dispatch import dyad_change_matrix, dyad_index
from dyadflow.kernels.network import network_state
from dyadflow.storage.panel import Panel
from dyadflow.tergm.bootstrap import percentile_interval
from dyadflow.tergm.design import Model, parse_model

TYPES = ("tie", "dyad", "node")
INTERVALS = ("bootstrap", "subsample")
DESCRIPTORS = ("shared_partners", "tail_degree", "head_degree")
PROFILE_COLUMNS = ["model", "statistic", "value", "mean_probability", "lower", "upper", "n_dyads", "interval"]
MARGINAL_COLUMNS = ["model", "term", "effect", "lower", "upper"]
MAX_NODE_CONFIGURATION_TIES = 12  # 2^12 configurations


class InterpretError(ValueError):
    """Arguments that cannot be interpreted for this fit; the message names the argument."""


# ---------------------------------------------------------------------------------------------
# Edge probabilities


def edge_probabilities(fit, periods: Sequence[str] | str | None = None) -> pd.DataFrame:
    """btergm's edgeprob: one row per dyad (in the likelihood) and period: period, i, j (node labels),
    tie (observed, 0/1), one column per change statistic (the fit's term names) and probability, the
    tie probability given the rest of the network."""
    design = fit.design_matrix
    chosen = _period_positions(fit, periods)
    rows = (
        np.concatenate([np.arange(design.offsets[k], design.offsets[k + 1]) for k in chosen])
        if chosen
        else np.zeros(0, np.int64)
    )
    lengths = [int(design.offsets[k + 1] - design.offsets[k]) for k in chosen]
    tails = [design.nodes[k][design.dyads[design.period_rows(k), 0]] for k in chosen]
    heads = [design.nodes[k][design.dyads[design.period_rows(k), 1]] for k in chosen]
    X = design.X[rows]
    frame = pd.DataFrame(
        {
            "period": np.repeat(np.asarray([design.periods[k] for k in chosen], dtype=object), lengths),
            "i": np.concatenate(tails).astype(str).astype(object) if chosen else np.zeros(0, object),
            "j": np.concatenate(heads).astype(str).astype(object) if chosen else np.zeros(0, object),
            "tie": design.y[rows].astype(np.int8),
        }
    )
    statistics = pd.DataFrame(X, columns=list(fit.names))
    frame = pd.concat([frame, statistics], axis=1)
    frame["probability"] = expit(X @ np.asarray(fit.mple.coef, dtype=np.float64))
    return frame


def _period_positions(fit, periods) -> list[int]:
    """Positions (in the fit's likelihood periods) of the requested period labels; default all."""
    names = list(fit.design_matrix.periods)
    if periods is None:
        return list(range(len(names)))
    if isinstance(periods, (str, int, np.integer)):
        periods = [periods]
    unknown = [str(p) for p in periods if str(p) not in names]
    if unknown:
        raise InterpretError(f"period(s) {unknown} are not in the fit's likelihood; its periods: {names}")
    return [names.index(str(p)) for p in periods]


# ---------------------------------------------------------------------------------------------
# interpret


def interpret(fit, type: str = "tie", period: str | None = None, i=None, j=None):
    """btergm's interpret for period `period` (needed when the fit has several periods), with node labels:

    type="tie": P(i -> j | rest of the network), a float.
    type="dyad" (directed networks): the joint probabilities of the four states of the dyad (i, j), a
        2 x 2 DataFrame (rows: tie i->j 0/1, columns: tie j->i 0/1) summing to 1.
    type="node": i one node and j a list (ties i -> j_1..j_k), or i a list and j one node (ties
        i_1..i_k -> j): the probability of each of the 2^k configurations, a DataFrame with one 0/1
        column per tie ("i->j") and "probability".
    """
    if type not in TYPES:
        raise InterpretError(f"type must be one of {', '.join(TYPES)}, got {type!r}")
    position = _single_period(fit, period)
    design = fit.design_matrix
    nodes = [str(v) for v in design.nodes[position]]
    if type == "tie":
        a, b = _node(nodes, i, "i"), _node(nodes, j, "j")
        row = _design_row(fit, position, a, b)
        return float(expit(design.X[row] @ np.asarray(fit.mple.coef, dtype=np.float64)))
    if type == "dyad":
        if not design.directed:
            raise InterpretError(
                "type='dyad' needs a directed network (an undirected dyad has one tie: use type='tie')"
            )
        a, b = _node(nodes, i, "i"), _node(nodes, j, "j")
        configurations, probability = configuration_probabilities(fit, position, [(a, b), (b, a)])
        table = np.zeros((2, 2))
        for (forward, backward), p in zip(configurations, probability):
            table[forward, backward] = p
        return pd.DataFrame(
            table,
            index=pd.Index([0, 1], name=f"{nodes[a]}->{nodes[b]}"),
            columns=pd.Index([0, 1], name=f"{nodes[b]}->{nodes[a]}"),
        )
    many_i = _is_many(i)
    many_j = _is_many(j)
    if many_i == many_j:
        raise InterpretError(
            f"type='node' needs one node on one side and a list of nodes on the other (i={i!r}, j={j!r})"
        )
    if many_j:
        a = _node(nodes, i, "i")
        dyads = [(a, _node(nodes, v, "j")) for v in j]
    else:
        b = _node(nodes, j, "j")
        dyads = [(_node(nodes, v, "i"), b) for v in i]
    if len(set(dyads)) != len(dyads) or any(x == y for x, y in dyads):
        raise InterpretError("type='node': the list of nodes repeats a node or names the node itself")
    if len(dyads) > MAX_NODE_CONFIGURATION_TIES:
        raise InterpretError(
            f"type='node' enumerates 2^k configurations: at most {MAX_NODE_CONFIGURATION_TIES} nodes, got {len(dyads)}"
        )
    configurations, probability = configuration_probabilities(fit, position, dyads)
    frame = pd.DataFrame(configurations, columns=[f"{nodes[x]}->{nodes[y]}" for x, y in dyads])
    frame["probability"] = probability
    return frame


def configuration_probabilities(fit, position: int, dyads: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """All 2^k configurations of the k dyads (node indices) of likelihood period `position`, the rest of
    the network as observed: (configurations (2^k, k) of 0/1, their probabilities)."""
    model, panel = _model(fit)
    t = model.lag + position
    period = panel[t]
    directed = model.directed
    coef = np.asarray(fit.mple.coef, dtype=np.float64)
    # Covariate columns do not depend on the current period's ties: take them from the design rows.
    covariate_part = []
    for a, b in dyads:
        row = fit.design_matrix.X[_design_row(fit, position, a, b)].copy()
        row[model.structural_columns] = 0.0
        covariate_part.append(row)
    order = {tuple(d): k for k, d in enumerate(dyad_index(period.n, directed).tolist())}
    base = period.network.copy()
    for a, b in dyads:
        _set_tie(base, a, b, 0, directed)
    configurations = np.array(list(itertools.product((0, 1), repeat=len(dyads))), dtype=np.int8)
    log_weight = np.zeros(len(configurations))
    for c, configuration in enumerate(configurations):
        network = base.copy()
        for d, on in enumerate(configuration):
            if not on:
                continue
            a, b = dyads[d]
            change = covariate_part[d].copy()
            change[model.structural_columns] = _structural_changes(model, network)[order[_ordered(a, b, directed)]]
            log_weight[c] += coef @ change
            _set_tie(network, a, b, 1, directed)
    return configurations, np.exp(log_weight - logsumexp(log_weight))


def _structural_changes(model: Model, network: np.ndarray) -> np.ndarray:
    if not len(model.codes):
        return np.zeros((0, 0))
    return dyad_change_matrix(
        model.codes, model.par_offsets, model.params, model.kernel_col_offsets, network_state(network, model.directed)
    )


def _set_tie(network: np.ndarray, a: int, b: int, value: int, directed: bool) -> None:
    network[a, b] = value
    if not directed:
        network[b, a] = value


def _ordered(a: int, b: int, directed: bool) -> tuple[int, int]:
    return (a, b) if directed or a < b else (b, a)


def _model(fit) -> tuple[Model, Panel]:
    panel = getattr(fit, "panel", None)
    if panel is None or not fit.formula:
        raise InterpretError("the fit does not carry its formula and panel (fit it with tergm.btergm or tergm.ergm)")
    model = parse_model(fit.formula, panel, temporal=getattr(fit, "temporal", True))
    if list(model.names) != list(fit.names):
        raise AssertionError(f"the fit's terms {fit.names} differ from its formula's {model.names}")
    return model, panel


def _single_period(fit, period) -> int:
    names = list(fit.design_matrix.periods)
    if period is None:
        if len(names) != 1:
            raise InterpretError(f"the fit has {len(names)} periods: choose one with period= (one of {names})")
        return 0
    return _period_positions(fit, [period])[0]


def _is_many(value) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _node(nodes: list[str], label, argument: str) -> int:
    if label is None or _is_many(label):
        raise InterpretError(f"{argument} must be one node label, got {label!r}")
    if str(label) not in nodes:
        raise InterpretError(f"{argument}={label!r} is not a node of this period")
    return nodes.index(str(label))


def _design_row(fit, position: int, a: int, b: int) -> int:
    design = fit.design_matrix
    if a == b:
        raise InterpretError("i and j are the same node: a network has no self-ties")
    a, b = _ordered(a, b, design.directed)
    rows = design.period_rows(position)
    hit = np.flatnonzero((design.dyads[rows, 0] == a) & (design.dyads[rows, 1] == b))
    if not len(hit):
        nodes = design.nodes[position]
        raise InterpretError(
            f"the dyad {nodes[a]}->{nodes[b]} is not in the likelihood of period "
            f"{design.periods[position]} (unobserved)"
        )
    return rows.start + int(hit[0])


# ---------------------------------------------------------------------------------------------
# Predicted-probability profiles and marginal effects


def probability_profile(
    fit,
    statistic: str,
    *,
    interval: str | Sequence[str] | None = None,
    level: float = 0.95,
    subsamples: int = 200,
    fraction: float = 0.5,
    bins: int | None = None,
    seed: int = 12345,
    model: str = "model",
) -> pd.DataFrame:
    """The mean predicted tie probability (logistic(theta . x), given the rest of the network) at each
    observed value of `statistic`, over all dyads and periods of the fit. `statistic` is a term of the
    fit (its design column: a change statistic such as "transitiveties", a covariate such as
    "edgecov.primary[[i]]") or a dyad descriptor of the observed network (DESCRIPTORS): "shared_partners"
    (common neighbours; directed: two-paths i -> k -> j, ergm's default for gwesp), "tail_degree",
    "head_degree" (degree of i / of j, directed: out-degree of i / in-degree of j, without the tie i-j).

    interval: "bootstrap" (the same mean under each bootstrap replicate's coefficients, percentile
        interval as boot.ci), "subsample" (the mean over `subsamples` random subsets of `fraction` of
        the dyads, without replacement, drawn with numpy's Generator(seed); at fraction 1/2 the spread of
        a subset mean equals the sampling spread of the full mean), or both (default: both when the fit
        has replicates, else "subsample").
    bins: None = every distinct value; k = k groups of about equal size (value = the group's mean value).
    Returns the contract's profiles table (PROFILE_COLUMNS), one row per value and interval kind.
    """
    names = list(fit.names)
    if statistic in names:
        x = fit.design_matrix.X[:, names.index(statistic)]
    elif statistic in DESCRIPTORS:
        x = dyad_descriptor(fit, statistic)
    else:
        raise InterpretError(
            f"statistic {statistic!r} is not a term of the model nor a dyad descriptor; its terms: "
            f"{', '.join(names)}; descriptors: {', '.join(DESCRIPTORS)}"
        )
    kinds = _interval_kinds(fit, interval)
    if not 0 < level < 1:
        raise InterpretError(f"level must be in (0, 1), got {level}")
    design = fit.design_matrix
    group, values = _groups(x, bins)
    counts = np.bincount(group, minlength=len(values))
    coef = np.asarray(fit.mple.coef, dtype=np.float64)
    probability = expit(design.X @ coef)
    point = np.bincount(group, probability, minlength=len(values)) / counts
    frames = []
    for kind in kinds:
        if kind == "bootstrap":
            draws = np.array(
                [
                    np.bincount(group, expit(design.X @ theta), minlength=len(values)) / counts
                    for theta in fit.replicates
                    if np.isfinite(theta).all()
                ]
            )
        else:
            if isinstance(subsamples, bool) or not isinstance(subsamples, (int, np.integer)) or subsamples < 2:
                raise InterpretError(f"subsamples must be a whole number >= 2, got {subsamples!r}")
            if not 0 < fraction <= 1:
                raise InterpretError(f"fraction must be in (0, 1], got {fraction}")
            rng = np.random.default_rng(seed)
            size = max(1, round(fraction * len(x)))
            draws = np.empty((int(subsamples), len(values)))
            for s in range(int(subsamples)):
                chosen = rng.choice(len(x), size=size, replace=False)
                sub_counts = np.bincount(group[chosen], minlength=len(values))
                with np.errstate(invalid="ignore", divide="ignore"):
                    draws[s] = np.bincount(group[chosen], probability[chosen], minlength=len(values)) / sub_counts
        bounds = np.array([percentile_interval(draws[:, v], level) for v in range(len(values))])
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "statistic": statistic,
                    "value": values,
                    "mean_probability": point,
                    "lower": bounds[:, 0],
                    "upper": bounds[:, 1],
                    "n_dyads": counts.astype(np.int64),
                    "interval": kind,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[PROFILE_COLUMNS]


def dyad_descriptor(fit, descriptor: str) -> np.ndarray:
    """One value per design row of the fit: a DESCRIPTORS quantity of the dyad in its observed network."""
    if descriptor not in DESCRIPTORS:
        raise InterpretError(f"descriptor must be one of {', '.join(DESCRIPTORS)}, got {descriptor!r}")
    model, panel = _model(fit)
    design = fit.design_matrix
    out = np.empty(len(design.y))
    for k in range(design.n_periods):
        y = panel[model.lag + k].network.astype(np.int64)
        rows = design.period_rows(k)
        tails, heads = design.dyads[rows, 0], design.dyads[rows, 1]
        tie = y[tails, heads]
        if descriptor == "shared_partners":
            out[rows] = (y @ y)[tails, heads]
        elif descriptor == "tail_degree":
            out[rows] = y.sum(axis=1)[tails] - tie
        else:
            out[rows] = (y.sum(axis=0) if design.directed else y.sum(axis=1))[heads] - tie
    return out


def _interval_kinds(fit, interval) -> list[str]:
    if interval is None:
        return list(INTERVALS) if fit.R else ["subsample"]
    kinds = [interval] if isinstance(interval, str) else list(interval)
    unknown = [k for k in kinds if k not in INTERVALS]
    if unknown or not kinds:
        raise InterpretError(f"interval must be among {', '.join(INTERVALS)}, got {interval!r}")
    if "bootstrap" in kinds and not fit.R:
        raise InterpretError("interval='bootstrap' needs a fit with bootstrap replicates (R >= 1)")
    return kinds


def _groups(x: np.ndarray, bins: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(group index of each dyad, the value of each group, ascending)."""
    if bins is None:
        values, group = np.unique(x, return_inverse=True)
        return group.ravel(), values
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InterpretError(f"bins must be a whole number >= 1 or None, got {bins!r}")
    order = np.argsort(x, kind="mergesort")
    rank_group = np.arange(len(x)) * int(bins) // max(len(x), 1)  # group of each sorted position
    distinct, first = np.unique(x[order], return_index=True)
    group = rank_group[first][np.searchsorted(distinct, x)]  # equal values share their first one's group
    _, group = np.unique(group, return_inverse=True)  # number the groups in use 0..k-1
    values = np.bincount(group, x) / np.bincount(group)
    return group.ravel(), values


def marginal_effects(
    fit, terms: Sequence[str] | None = None, *, level: float = 0.95, model: str = "model"
) -> pd.DataFrame:
    """Average marginal effects: for each term k, the mean over the fit's dyads of
    logistic(eta + theta_k) - logistic(eta) (a one-unit increase of the term's change statistic /
    covariate, the rest held as observed), with the percentile interval of the same quantity under the
    bootstrap replicates (NaN without replicates). Returns the contract's table (MARGINAL_COLUMNS)."""
    names = list(fit.names)
    terms = names if terms is None else list(terms)
    unknown = [t for t in terms if t not in names]
    if unknown:
        raise InterpretError(f"term(s) {unknown} are not in the model; its terms: {', '.join(names)}")
    columns = [names.index(t) for t in terms]
    X = fit.design_matrix.X

    def effects(theta: np.ndarray) -> np.ndarray:
        eta = X @ theta
        base = expit(eta)
        return np.array([np.mean(expit(eta + theta[k]) - base) for k in columns])

    point = effects(np.asarray(fit.mple.coef, dtype=np.float64))
    replicates = [theta for theta in fit.replicates if np.isfinite(theta).all()]
    if replicates:
        draws = np.array([effects(theta) for theta in replicates])
        bounds = np.array([percentile_interval(draws[:, m], level) for m in range(len(columns))])
    else:
        bounds = np.full((len(columns), 2), np.nan)
    return pd.DataFrame({"model": model, "term": terms, "effect": point, "lower": bounds[:, 0], "upper": bounds[:, 1]})[
        MARGINAL_COLUMNS
    ]
