"""The MPLE design: one row per dyad of every period in the likelihood, one column per coefficient.

Contract between the design builder (formula + terms -> Design) and the estimators (Design -> Fit).

Building a design has three steps, exposed separately so a workflow can compute and cache periods
one at a time:

    model = parse_model(formula, panel, temporal=True)   # parse + validate once
    X_t, y_t, dyads_t = design_for_period(model, panel, t)  # any period t >= model.lag
    design = assemble(model, panel, pieces)              # stack the periods

`build_design(formula, panel)` does all three (writing periods straight into the stacked arrays). Rows of a period are its dyads in ergm's order
(tail-major over i != j when directed, i < j when undirected); structural columns come from one
`kernels.dispatch.dyad_change_matrix` call per period, covariate columns from fancy indexing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np
import pandas as pd

from dyadflow.kernels import registry
from dyadflow.kernels.cache import kernel_sources_digest
from dyadflow.kernels.dispatch import dyad_change_matrix, dyad_index, dyad_rows_change_matrix, statistics_from_empty
from dyadflow.kernels.network import dyad_values, network_state, toggled_nodes
from dyadflow.kernels.sampler import sampler_state
from dyadflow.storage.panel import Panel, Period
from dyadflow.tergm.formula import Formula, FormulaError, parse_formula
from dyadflow.tergm.terms import (
    CompiledTerm,
    CovariateTerm,
    PeriodView,
    StructuralTerm,
    TermContext,
    TermError,
    compile_term,
    format_level,
    term_lag,
)


class _PeriodLayout:
    """What a design's period layout answers (offsets, periods)."""

    offsets: np.ndarray
    periods: list[str]

    @property
    def n_periods(self) -> int:
        return len(self.periods)

    def period_rows(self, t: int) -> slice:
        return slice(int(self.offsets[t]), int(self.offsets[t + 1]))

    @property
    def rows(self) -> int:
        """Dyad-periods in the pseudolikelihood."""
        return int(self.offsets[-1])


@dataclass(frozen=True)
class Design(_PeriodLayout):
    names: list[str]  # coefficient names, formula order, ergm's spelling (e.g. "gwesp.fixed.0.5")
    X: np.ndarray  # (N, p) float64 change statistics, periods stacked in order
    y: np.ndarray  # (N,) float64 observed tie (0/1)
    offsets: np.ndarray  # (T+1,) int64: rows of period t are offsets[t]:offsets[t+1]
    periods: list[str]  # names of the T periods in the likelihood (the first `lag` dropped)
    dyads: np.ndarray  # (N, 2) int64 tail/head index of each row within its period's node list
    nodes: list[np.ndarray]  # per period in the likelihood, the node labels (str)
    directed: bool


@dataclass(frozen=True)
class DesignOutline(_PeriodLayout):
    """A design's layout without its rows: what a fit by the period engine (tergm.engine), whose rows
    live on Dask workers, keeps of it. Readers of the rows (the design table, interpretation,
    cluster-robust SEs) need a `Design`."""

    names: list[str]
    offsets: np.ndarray  # (T+1,) int64, as Design.offsets
    periods: list[str]
    nodes: list[np.ndarray]
    directed: bool


@dataclass(frozen=True)
class Model:
    """A parsed, validated formula compiled against one panel's directedness and attributes."""

    formula: Formula
    terms: tuple[CompiledTerm, ...]
    names: list[str]
    directed: bool
    temporal: bool
    lag: int  # periods dropped at the start (the largest lag of any temporal term)
    n_periods: int  # periods of the panel it was compiled for
    # Inputs of kernels.dispatch.dyad_change_matrix for the structural terms:
    codes: np.ndarray = field(repr=False)
    par_offsets: np.ndarray = field(repr=False)
    params: np.ndarray = field(repr=False)
    kernel_col_offsets: np.ndarray = field(repr=False)
    structural_columns: np.ndarray = field(repr=False)  # design column of each kernel output column
    covariate_columns: tuple[tuple[CovariateTerm, int], ...] = field(repr=False)  # (term, first column)

    @property
    def likelihood_periods(self) -> range:
        """Indices (into the panel) of the periods whose dyads enter the likelihood."""
        return range(self.lag, self.n_periods)


def parse_model(formula: str | Formula, panel: Panel, *, temporal: bool = True) -> Model:
    """Parse `formula` and validate every term against `panel` (directedness, covariates, lags).

    temporal=True names dyadic covariates as btergm does ("edgecov.primary[[i]]"), False as a
    cross-sectional ergm fit does ("edgecov.primary"). Factor levels are taken over all periods in
    the likelihood, so every period has the same columns.
    """
    if not isinstance(formula, (str, Formula)):
        raise FormulaError(f"the formula must be a string such as 'y ~ edges', got {type(formula).__name__}")
    parsed = parse_formula(formula) if isinstance(formula, str) else formula
    if len(panel) == 0:
        raise FormulaError("the panel has no periods")

    # Lags are known from the arguments alone; compile once with a provisional context to learn
    # them, then again with levels taken over the periods that actually enter the likelihood.
    def levels_over(periods: range):
        @cache
        def levels(attr: str) -> list:
            values = []
            for t in periods:
                period = panel[t]
                _require_node_attribute(period, attr, "the formula")
                values.append(np.asarray(period.node_attributes[attr]))
            return _sorted_unique(np.concatenate(values))

        return levels

    def compile_all(periods: range) -> list[CompiledTerm]:
        context = TermContext(panel.directed, temporal, levels_over(periods), len(panel))
        return [compile_term(call, context) for call in parsed.terms]

    try:
        lag = max((term_lag(call) for call in parsed.terms), default=0)
    except TermError:
        lag = 0  # compile_all below reports the problem
    if lag >= len(panel):
        lagged = [call.text for call in parsed.terms if term_lag(call) == lag]
        raise FormulaError(
            f"{', '.join(lagged)} needs at least {lag + 1} periods (the first {lag} only provide earlier "
            f"networks), but the panel has {len(panel)}"
        )
    terms = compile_all(range(lag, len(panel)))
    if max((t.lag for t in terms), default=0) != lag:
        raise AssertionError("term lags disagree with their arguments")

    names = [name for t in terms for name in t.names]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FormulaError(f"the formula gives the same coefficient more than once: {', '.join(duplicates)}")

    first = panel[lag]
    for t in terms:
        if isinstance(t, CovariateTerm):
            for attr in t.node_attributes:
                _require_node_attribute(first, attr, t.names[0])
            for name in t.dyad_covariates:
                _require_dyad_covariate(first, name, t.names[0])

    codes, par_offsets, params, kernel_offsets, structural_columns = [], [0], [], [0], []
    covariate_columns = []
    column = 0
    for t in terms:
        if isinstance(t, StructuralTerm):
            codes.append(t.code)
            params.extend(t.kernel_par)
            par_offsets.append(len(params))
            kernel_offsets.append(kernel_offsets[-1] + len(t.names))
            structural_columns.extend(range(column, column + len(t.names)))
        else:
            covariate_columns.append((t, column))
        column += len(t.names)

    return Model(
        formula=parsed,
        terms=tuple(terms),
        names=names,
        directed=panel.directed,
        temporal=temporal,
        lag=lag,
        n_periods=len(panel),
        codes=np.asarray(codes, dtype=np.int64),
        par_offsets=np.asarray(par_offsets, dtype=np.int64),
        params=np.asarray(params, dtype=np.float64),
        kernel_col_offsets=np.asarray(kernel_offsets, dtype=np.int64),
        structural_columns=np.asarray(structural_columns, dtype=np.int64),
        covariate_columns=tuple(covariate_columns),
    )


def design_for_period(
    model: Model, panel: Panel, t: int, *, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The design rows of panel period t: (X_t (m, p), y_t (m,), dyads_t (m, 2) tail/head indices).

    Rows are the period's observed dyads in ergm's order: dyads the period's `observed` mask
    excludes (missing data under missing = "drop-dyad") have no row; change statistics of the other
    dyads are computed on the network as stored (an unobserved tie counts as absent, as in ergm).
    `out`, if given, is the (m, p) float64 array to fill (e.g. a slice of the stacked design).
    """
    if not model.lag <= t < len(panel):
        raise IndexError(
            f"period index {t} is not in the likelihood (periods {model.lag}..{len(panel) - 1} of {len(panel)})"
        )
    if panel.directed != model.directed:
        raise FormulaError("the model was compiled for a panel of other directedness")
    period = panel[t]
    n = period.n
    dyads = dyad_index(n, model.directed)
    kept = _observed_rows(period, dyads, model.directed)
    if kept is not None:
        dyads = dyads[kept]
    tails, heads = dyads[:, 0], dyads[:, 1]
    shape = (len(dyads), len(model.names))
    if out is None:
        X = np.empty(shape, dtype=np.float64)
    elif out.shape != shape or out.dtype != np.float64:
        raise ValueError(f"out must be a float64 array of shape {shape}, got {out.dtype} {out.shape}")
    else:
        X = out

    _fill_structural(model, period, kept, X)
    _fill_covariates(model, panel, t, X, tails, heads, networks_only=False)
    y = period.network[tails, heads].astype(np.float64)
    return X, y, dyads


def _fill_structural(
    model: Model, period: Period, kept: np.ndarray | None, X: np.ndarray, counts: np.ndarray | None = None
) -> None:
    """The change-statistic columns of the period's (observed) dyads, written into X.

    When every dyad has a row and the change-statistic columns are adjacent, the kernels write into
    X's rows directly (no temporary matrix to fill and scatter); otherwise into a new matrix whose
    rows are copied into X's columns. counts: network_state's scratch, for a caller filling period
    after period."""
    if not len(model.codes):
        return
    columns = model.structural_columns
    state = network_state(period.network, model.directed, counts=counts)
    adjacent = np.array_equal(columns, np.arange(columns[0], columns[0] + len(columns)))
    if kept is None and adjacent and X.flags.c_contiguous and X.flags.writeable:
        offsets = model.kernel_col_offsets + columns[0]  # the kernels' columns placed at X's
        dyad_change_matrix(model.codes, model.par_offsets, model.params, offsets, state, out=X)
        return
    changes = dyad_change_matrix(model.codes, model.par_offsets, model.params, model.kernel_col_offsets, state)
    X[:, columns] = changes if kept is None else changes[kept]


def _fill_covariates(
    model: Model, panel: Panel, t: int, X: np.ndarray, tails: np.ndarray, heads: np.ndarray, *, networks_only: bool
) -> None:
    """The covariate columns of period t (networks_only: just those that read earlier networks)."""
    terms = [(term, first) for term, first in model.covariate_columns if term.reads_networks or not networks_only]
    if not terms:
        return
    period = panel[t]
    view = PeriodView(period, model.directed, t + 1, len(panel), _previous_networks(panel, t))
    for term, first in terms:
        for attr in term.node_attributes:
            _require_node_attribute(period, attr, term.names[0])
        for name in term.dyad_covariates:
            _require_dyad_covariate(period, name, term.names[0])
        count = 0
        for k, matrix in enumerate(term.matrices(view)):
            X[:, first + k] = matrix[tails, heads]
            count += 1
        if count != len(term.names):
            raise AssertionError(f"{term.names} built {count} columns")


# Above this share of a period's rows, the incremental update recomputes the whole period instead
# (the per-tail passes are faster per row than the per-dyad kernels); the numbers are the same.
INCREMENTAL_SHARE = 0.5


def design_with_networks(
    model: Model,
    design: Design,
    panel: Panel,
    *,
    reuse: Design | None = None,
    observed_networks: Sequence[np.ndarray] | None = None,
) -> Design:
    """`design` (built for `model` on a panel with the same periods, nodes and covariates as `panel`)
    recomputed for `panel`'s networks: change statistics, the terms that read earlier networks
    (memory, delrecip) and the response; the other covariate columns are copied, not rebuilt.
    What a rewiring refit needs, at the cost of the kernels alone.

    reuse: an earlier result of this function for the same `design`, overwritten in place (its
    covariate columns are already right): refit after refit without a fresh copy of the design.
    observed_networks: the networks `design` was built on, per panel period: then only the rows whose
    change statistics the ties that differ can change (`changed_rows`, by the kernels' declared reach)
    are recomputed, the others copied from `design`; the same numbers, bit for bit."""
    periods = list(model.likelihood_periods)
    if len(panel) != model.n_periods or [panel.period_names[t] for t in periods] != list(design.periods):
        raise ValueError("the panel's periods differ from those the design was built on")
    if reuse is not None and (reuse.X.shape != design.X.shape or reuse.X is design.X):
        raise ValueError("`reuse` must be an earlier design_with_networks result for this design")
    if observed_networks is not None and len(observed_networks) != len(panel):
        raise ValueError(f"observed_networks must hold one network per panel period ({len(panel)})")
    X = design.X.copy() if reuse is None else reuse.X
    y = np.empty_like(design.y) if reuse is None else reuse.y
    reach = registry.reach(model.codes)
    # one scratch for every period's path counts (network_state's `counts`)
    counts = np.empty(
        (3 if model.directed else 1) * max((len(nodes) for nodes in design.nodes), default=0) ** 2, np.int64
    )
    for k, t in enumerate(periods):
        period = panel[t]
        if period.nodes is not design.nodes[k] and not np.array_equal(period.nodes, design.nodes[k]):
            raise ValueError(f"period {period.name}: the panel's nodes differ from those the design was built on")
        rows = design.period_rows(k)
        dyads = design.dyads[rows]
        tails, heads = dyads[:, 0], dyads[:, 1]
        changed = (
            None
            if observed_networks is None
            else changed_rows(
                observed_networks[t],
                period.network,
                tails,
                heads,
                reach,
                model.directed,
                limit=int(INCREMENTAL_SHARE * len(tails)),
            )
        )
        if changed is None:
            kept = (
                None
                if period.observed is None
                else _observed_rows(period, dyad_index(period.n, model.directed), model.directed)
            )
            _fill_structural(model, period, kept, X[rows], counts)
        else:
            block = X[rows]
            block[:, model.structural_columns] = design.X[rows][:, model.structural_columns]
            if len(changed) and len(model.codes):
                block[np.ix_(changed, model.structural_columns)] = dyad_rows_change_matrix(
                    model.codes,
                    model.par_offsets,
                    model.params,
                    model.kernel_col_offsets,
                    network_state(period.network, model.directed, counts=counts),
                    tails[changed],
                    heads[changed],
                )
        _fill_covariates(model, panel, t, X[rows], tails, heads, networks_only=True)
        dyad_values(period.network, tails, heads, y[rows])
    return replace(design, X=X, y=y)


def changed_rows(
    before: np.ndarray,
    after: np.ndarray,
    tails: np.ndarray,
    heads: np.ndarray,
    reach: str,
    directed: bool,
    *,
    limit: int | None = None,
) -> np.ndarray | None:
    """Indices of the dyads (tails[r], heads[r]) whose change statistics, of kernels of this reach
    (kernels.registry.REACHES), can differ between the networks `before` and `after`; None when they
    are more than `limit` (then the whole period is recomputed: the endpoints alone usually settle it,
    without the neighbours' pass -- at 10 % rewired in a 230-node period they reach 97 % of the rows)."""
    if reach == "none":
        return np.empty(0, dtype=np.int64)
    # the toggled ties' endpoints (one compiled type: 0/1 networks as uint8, as a panel holds them)
    touched = toggled_nodes(np.ascontiguousarray(before, dtype=np.uint8), np.ascontiguousarray(after, dtype=np.uint8))
    if limit is not None:
        # Rows are distinct dyads, so at most u(u - 1) (ordered) or u(u - 1)/2 of them join two of the u
        # untouched nodes: the rest, a lower bound on the changed rows, settles most calls for free.
        untouched = len(touched) - int(np.count_nonzero(touched))
        between_untouched = untouched * (untouched - 1) // (1 if directed else 2)
        if len(tails) - between_untouched > limit:
            return None
    rows = touched[tails] | touched[heads]
    if reach == "neighbours":
        if limit is not None and np.count_nonzero(rows) > limit:
            return None
        either = (np.asarray(before) != 0) | (np.asarray(after) != 0)
        if directed:
            either = either | either.T
        touched = touched | either[touched].any(axis=0)
        rows = touched[tails] | touched[heads]
    changed = np.flatnonzero(rows)
    return None if limit is not None and len(changed) > limit else changed


def assemble(model: Model, panel: Panel, pieces: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Design:
    """Stack per-period pieces (from design_for_period, in likelihood order) into a Design."""
    periods = list(model.likelihood_periods)
    if len(pieces) != len(periods):
        raise ValueError(f"got {len(pieces)} period pieces for {len(periods)} periods in the likelihood")
    sizes = [len(y) for _, y, _ in pieces]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return Design(
        names=list(model.names),
        X=np.concatenate([X for X, _, _ in pieces]) if pieces else np.empty((0, len(model.names))),
        y=np.concatenate([y for _, y, _ in pieces]),
        offsets=offsets,
        periods=[panel.period_names[t] for t in periods],
        dyads=np.concatenate([d for _, _, d in pieces]),
        nodes=[panel[t].nodes for t in periods],
        directed=model.directed,
    )


def build_design(formula: str | Formula, panel: Panel, *, temporal: bool = True) -> Design:
    """The MPLE design of `formula` on `panel` (the response name on the left is informational)."""
    model = parse_model(formula, panel, temporal=temporal)
    periods = list(model.likelihood_periods)
    sizes = [_observed_dyad_count(panel[t], model.directed) for t in periods]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    # Periods are written straight into the stacked matrix: no second copy of the design.
    X = np.empty((int(offsets[-1]), len(model.names)), dtype=np.float64)
    y = np.empty(int(offsets[-1]), dtype=np.float64)
    dyads = np.empty((int(offsets[-1]), 2), dtype=np.int64)
    for k, t in enumerate(periods):
        rows = slice(int(offsets[k]), int(offsets[k + 1]))
        _, y[rows], dyads[rows] = design_for_period(model, panel, t, out=X[rows])
    return Design(
        names=list(model.names),
        X=X,
        y=y,
        offsets=offsets,
        periods=[panel.period_names[t] for t in periods],
        dyads=dyads,
        nodes=[panel[t].nodes for t in periods],
        directed=model.directed,
    )


def period_cache_parts(model: Model, t: int) -> tuple:
    """Everything the design rows of panel period t depend on besides the input data of periods
    t - lag .. t: the formula and its compiled terms (kernels with their parameters, covariate
    columns with the attributes they read and the factor levels chosen over the likelihood periods),
    the coefficient names, the period's time index and the panel's length (btergm's timecov reads
    both), the lag, the naming mode, directedness and the kernels' source. A cache of period rows
    must key on these plus the content hashes of the periods t - lag .. t."""
    compiled = []
    for term in model.terms:
        if isinstance(term, StructuralTerm):
            kernel = registry.entries()[term.code].name
            compiled.append(("structural", list(term.names), kernel, list(term.kernel_par), term.lag))
        else:
            compiled.append(
                (
                    "covariate",
                    list(term.names),
                    list(term.node_attributes),
                    list(term.dyad_covariates),
                    term.lag,
                    [format_level(v) for v in term.levels],
                )
            )
    return (
        "design-rows-v2",
        model.formula.text,
        compiled,
        list(model.names),
        model.directed,
        model.temporal,
        model.lag,
        t + 1,
        model.n_periods,
        kernel_sources_digest(),
    )


def summary_statistics(
    formula_or_model: str | Formula | Model,
    data: Panel | np.ndarray,
    *,
    directed: bool | None = None,
    temporal: bool = True,
) -> pd.DataFrame:
    """The model's statistics g(y), one row per period in the likelihood, one column per coefficient.

    Structural terms as ergm's summary computes them: g(empty) (each kernel's registered empty-network
    value) plus the change statistics of adding the period's ties one at a time in edge-list order
    (kernels.dispatch.statistics_from_empty); covariate terms (including
    btergm's memory, delrecip, timecov) g = sum of y_ij x_ij over the dyads in the likelihood.
    `data` is a Panel, or one adjacency matrix (then `directed` is required). A Model must have been
    compiled for this panel (parse_model); a formula is compiled here.
    """
    if isinstance(data, Panel):
        panel = data
        if directed is not None and bool(directed) != panel.directed:
            raise FormulaError(
                f"directed={directed!r} contradicts the panel, which is {'' if panel.directed else 'un'}directed"
            )
    else:
        if directed is None:
            raise FormulaError("summary_statistics of an adjacency matrix needs directed=True or False")
        panel = Panel.from_arrays([np.asarray(data)], directed=bool(directed))
    model = (
        formula_or_model
        if isinstance(formula_or_model, Model)
        else parse_model(formula_or_model, panel, temporal=temporal)
    )
    if model.directed != panel.directed or model.n_periods != len(panel):
        raise FormulaError("the model was compiled for another panel (directedness or number of periods differ)")
    periods = list(model.likelihood_periods)
    values = np.zeros((len(periods), len(model.names)))
    for k, t in enumerate(periods):
        period = panel[t]
        if len(model.codes):
            values[k, model.structural_columns] = structural_summary(model, period.network)
        if model.covariate_columns:
            dyads = dyad_index(period.n, model.directed)
            kept = _observed_rows(period, dyads, model.directed)
            if kept is not None:
                dyads = dyads[kept]
            ties = dyads[period.network[dyads[:, 0], dyads[:, 1]] == 1]
            X = np.zeros((len(ties), len(model.names)))
            _fill_covariates(model, panel, t, X, ties[:, 0], ties[:, 1], networks_only=False)
            for term, first in model.covariate_columns:
                columns = slice(first, first + len(term.names))
                values[k, columns] = X[:, columns].sum(axis=0)
    return pd.DataFrame(
        values, index=pd.Index([panel.period_names[t] for t in periods], name="period"), columns=list(model.names)
    )


def structural_summary(model: Model, adj: np.ndarray) -> np.ndarray:
    """g(y) of the model's structural terms (kernel column order) for the network `adj`."""
    state = network_state(adj, model.directed)  # validates adj
    n = state.adj.shape[0]
    tails, heads = np.nonzero(state.adj if model.directed else np.triu(state.adj, 1))
    added = statistics_from_empty(
        model.codes,
        model.par_offsets,
        model.params,
        model.kernel_col_offsets,
        sampler_state(np.zeros((n, n), dtype=np.uint8), model.directed),
        tails.astype(np.int64),
        heads.astype(np.int64),
    )
    return (
        registry.empty_values(model.codes, model.par_offsets, model.params, model.kernel_col_offsets, n, model.directed)
        + added
    )


def _dyad_count(n: int, directed: bool) -> int:
    return n * (n - 1) if directed else n * (n - 1) // 2


def _observed_mask(period: Period, directed: bool) -> np.ndarray | None:
    """The period's validated (n, n) bool mask of dyads in the likelihood, or None (all observed).

    Undirected: a dyad is observed only if both orientations are (storage keeps the mask symmetric;
    a hand-built asymmetric one excludes the dyad if either cell says so)."""
    if period.observed is None:
        return None
    mask = np.asarray(period.observed)
    if mask.shape != (period.n, period.n):
        raise FormulaError(
            f"period {period.name}: the observed-dyad mask has shape {mask.shape}, expected {(period.n, period.n)}"
        )
    if mask.dtype != np.bool_:
        raise FormulaError(f"period {period.name}: the observed-dyad mask must be boolean, got dtype {mask.dtype}")
    return mask if directed else mask & mask.T


def _observed_rows(period: Period, dyads: np.ndarray, directed: bool) -> np.ndarray | None:
    """Which of `dyads` (ergm's order) are observed; None when all are."""
    mask = _observed_mask(period, directed)
    if mask is None:
        return None
    kept = mask[dyads[:, 0], dyads[:, 1]]
    return None if kept.all() else kept


def _observed_dyad_count(period: Period, directed: bool) -> int:
    mask = _observed_mask(period, directed)
    if mask is None:
        return _dyad_count(period.n, directed)
    off_diagonal = mask & ~np.eye(period.n, dtype=bool)
    return int(off_diagonal.sum()) if directed else int(np.triu(off_diagonal, 1).sum())


# ---------------------------------------------------------------------------------------------


def _previous_networks(panel: Panel, t: int):
    """lag -> the network of period t - lag aligned by node label to period t's nodes.

    A node of period t that is absent from period t - lag gets no earlier ties (a zero row and
    column); nodes only in the earlier period are dropped.
    """

    @cache
    def previous(lag: int) -> np.ndarray:
        current, earlier = panel[t], panel[t - lag]
        if np.array_equal(current.nodes, earlier.nodes):
            return earlier.network
        position = {label: k for k, label in enumerate(earlier.nodes.tolist())}
        index = np.array([position.get(label, -1) for label in current.nodes.tolist()], dtype=np.int64)
        present = np.flatnonzero(index >= 0)
        aligned = np.zeros((current.n, current.n), dtype=np.uint8)
        aligned[np.ix_(present, present)] = earlier.network[np.ix_(index[present], index[present])]
        return aligned

    return previous


def _sorted_unique(values: np.ndarray) -> list:
    """Distinct values in R's sort order for numbers, lexicographic for text; Python scalars."""
    if values.dtype.kind in "biuf":
        return [v.item() for v in np.unique(values)]
    return sorted({str(v) for v in values.tolist()})


def _require_node_attribute(period: Period, attr: str, user: str):
    if attr not in period.node_attributes:
        available = ", ".join(sorted(period.node_attributes)) or "none"
        raise FormulaError(
            f"{user} uses node attribute '{attr}', which period {period.name} does not have; "
            f"available node attributes: {available}"
        )


def _require_dyad_covariate(period: Period, name: str, user: str):
    if name not in period.dyad_covariates:
        available = ", ".join(sorted(period.dyad_covariates)) or "none"
        raise FormulaError(
            f"{user} uses dyadic covariate '{name}', which period {period.name} does not have; "
            f"available dyadic covariates: {available}"
        )
