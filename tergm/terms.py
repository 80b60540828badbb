"""The term registry: every model term ergm/btergm formulas may use, registered once.

A registration (the `@term` decorator) declares the term's arguments (names, kinds, defaults), the
directedness it requires, and a compile function that turns validated arguments into a
`CompiledTerm`: the coefficient names exactly as ergm 4.6 / btergm spell them, plus how to compute
the columns, one of

- `StructuralTerm`: a change-statistic kernel (a function of kernels/degree.py or kernels/triadic.py,
  registered there with @kernel, which gives it its code, per-tail pass and empty-network value) and
  its parameters;
- `CovariateTerm`: a network-independent builder giving one (n, n) matrix per column for a period
  (node covariates, factors, matching, edge covariates) or, for btergm's temporal terms (memory,
  delrecip, timecov), a function of the previous period's network aligned to this period's nodes.

Coefficient naming of dyadic covariates depends on the estimator: a cross-sectional ergm fit names
`edgecov(kn_primary)` "edgecov.kn_primary", while btergm rewrites the term to
`edgecov(primary[[i]])` and so names it "edgecov.primary[[i]]" (also memory, delrecip, timecov).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dyadflow.kernels import degree, registry, triadic
from dyadflow.storage.panel import Period
from dyadflow.tergm.formula import FormulaError, TermCall, format_r_number


class TermError(FormulaError):
    """A term that is unknown, has bad arguments or does not fit the network."""


# ---------------------------------------------------------------------------------------------
# What a term compiles to


@dataclass(frozen=True)
class StructuralTerm:
    """Columns computed by a change-statistic kernel (a function of kernels/degree.py or
    kernels/triadic.py registered with @kernel) with parameters `par`; its integer code, generated
    from the kernel registry, is what kernels.dispatch takes."""

    names: tuple[str, ...]
    kernel: Callable  # the registered numba kernel, e.g. kernels.degree.gwdegree
    par: tuple[float | str, ...] = ()
    lag: int = 0

    @property
    def code(self) -> int:
        return registry.code_of(self.kernel)

    @property
    def kernel_par(self) -> tuple[float, ...]:
        """`par` with shared-partner type names replaced by kernels.triadic.SP_TYPES codes."""
        return tuple(float(triadic.SP_TYPES[v]) if isinstance(v, str) else float(v) for v in self.par)


@dataclass(frozen=True)
class PeriodView:
    """What a covariate builder may read for one period."""

    period: Period
    directed: bool
    time: int  # 1-based position of the period in the whole panel (btergm's time index)
    n_periods: int  # periods in the whole panel
    previous: Callable[[int], np.ndarray]  # lag -> the network `lag` periods back, aligned to period.nodes


@dataclass(frozen=True)
class CovariateTerm:
    """Columns from covariates (and, for lagged terms, earlier networks): `matrices(view)` yields one (n, n)
    float64 matrix per column."""

    names: tuple[str, ...]
    matrices: Callable[[PeriodView], Iterator[np.ndarray]]
    node_attributes: tuple[str, ...] = ()  # node attributes it reads (validated against the panel)
    dyad_covariates: tuple[str, ...] = ()  # dyadic covariates it reads
    lag: int = 0  # how many earlier periods it needs (temporal terms)
    levels: tuple = ()  # factor terms: the levels chosen over the likelihood periods (they fix the columns)

    @property
    def reads_networks(self) -> bool:
        """Its columns depend on the networks (the earlier periods' ties), so a refit on other
        networks (rewiring, simulation) must rebuild them; lagged terms are exactly those."""
        return self.lag > 0


CompiledTerm = StructuralTerm | CovariateTerm


@dataclass(frozen=True)
class TermContext:
    """What compiling a term may know about the panel."""

    directed: bool
    temporal: bool  # btergm naming (edgecov.x[[i]]) rather than ergm naming (edgecov.x)
    levels: Callable[[str], list]  # node attribute -> its sorted distinct values over the likelihood periods
    n_periods: int


# ---------------------------------------------------------------------------------------------
# Registry

_REQUIRED = object()
_KINDS = {
    "number": "a number",
    "numbers": "a number or a vector of numbers (c(...) or a:b)",
    "integer": "a whole number",
    "bool": "TRUE or FALSE",
    "string": "a string",
    "name": "a covariate name (bare or quoted)",
    "levels": "levels: TRUE, NULL, indices (negative to drop) or level values",
}


@dataclass(frozen=True)
class Argument:
    name: str
    kind: str
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class TermSpec:
    name: str
    arguments: tuple[Argument, ...]
    directed: bool | None  # True: directed networks only; False: undirected only; None: both
    compile: Callable[[dict, TermContext], CompiledTerm]
    summary: str


REGISTRY: dict[str, TermSpec] = {}


def term(name: str, *arguments: Argument, directed: bool | None = None, summary: str = ""):
    """Register a term's compile function under `name`."""

    def register(compile_fn):
        if name in REGISTRY:
            raise RuntimeError(f"term {name!r} registered twice")
        REGISTRY[name] = TermSpec(name, tuple(arguments), directed, compile_fn, summary or compile_fn.__doc__ or "")
        return compile_fn

    return register


def known_terms() -> list[str]:
    return sorted(REGISTRY)


def compile_term(call: TermCall, context: TermContext) -> CompiledTerm:
    """Validate a parsed term against its registration and compile it for this panel."""
    spec = REGISTRY.get(call.name)
    if spec is None:
        raise TermError(
            f"unknown term '{call.name}' (at position {call.position}); known terms: {', '.join(known_terms())}"
        )
    if spec.directed is not None and spec.directed != context.directed:
        flag = "TRUE" if context.directed else "FALSE"
        hint = _DIRECTED_ALTERNATIVES.get(call.name, "")
        raise TermError(f"In term '{call.name}': Term may not be used with networks with directed=={flag}.{hint}")
    values = _bind_arguments(spec, call)
    return spec.compile(values, context)


_DIRECTED_ALTERNATIVES = {
    "gwdegree": " Use gwidegree/gwodegree for directed networks.",
    "degree": " Use idegree/odegree for directed networks.",
    "kstar": " Use istar/ostar for directed networks.",
}


def term_lag(call: TermCall) -> int:
    """How many earlier periods a term needs, from its arguments alone (0 for non-temporal terms)."""
    spec = REGISTRY.get(call.name)
    if spec is None or "lag" not in {a.name for a in spec.arguments}:
        return 0
    return int(_bind_arguments(spec, call)["lag"])


def _bind_arguments(spec: TermSpec, call: TermCall) -> dict:
    names = [a.name for a in spec.arguments]
    listing = ", ".join(names) if names else "none"
    if len(call.args) > len(spec.arguments):
        raise TermError(
            f"term '{spec.name}' takes at most {len(spec.arguments)} argument(s), got {len(call.args)}; "
            f"its arguments are: {listing}"
        )
    given = dict(zip(names, call.args))
    for key, value in call.kwargs.items():
        if key not in names:
            raise TermError(f"term '{spec.name}' has no argument '{key}'; its arguments are: {listing}")
        if key in given:
            raise TermError(f"term '{spec.name}': argument '{key}' given both by position and by name")
        given[key] = value
    bound = {}
    for argument in spec.arguments:
        if argument.name in given:
            bound[argument.name] = _check_kind(spec.name, argument, given[argument.name])
        elif argument.required:
            raise TermError(f"term '{spec.name}' needs argument '{argument.name}' ({_KINDS[argument.kind]})")
        else:
            bound[argument.name] = argument.default
    return bound


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_kind(term_name: str, argument: Argument, value):
    def bad():
        return TermError(
            f"term '{term_name}': argument '{argument.name}' must be {_KINDS[argument.kind]}, got {value!r}"
        )

    kind = argument.kind
    if kind == "number":
        if not _is_number(value):
            raise bad()
        return float(value)
    if kind == "integer":
        if not _is_number(value) or float(value) != int(value):
            raise bad()
        return int(value)
    if kind == "numbers":
        items = value if isinstance(value, tuple) else (value,)
        if not items or not all(_is_number(v) for v in items):
            raise bad()
        return tuple(items)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind in ("string", "name"):
        if not isinstance(value, str):
            raise bad()
        return str(value)
    if kind == "levels":
        if value is None or value is True:
            return value
        items = value if isinstance(value, tuple) else (value,)
        numeric = all(_is_number(v) for v in items)
        textual = all(isinstance(v, str) for v in items)
        if not items or not (numeric or textual):
            raise bad()
        return tuple(items)
    raise AssertionError(f"unknown argument kind {kind}")


# ---------------------------------------------------------------------------------------------
# Structural terms (kernels/degree.py, kernels/triadic.py)


def _simple(name: str, kernel, directed: bool | None, summary: str):
    @term(name, directed=directed, summary=summary)
    def compile_simple(values, context, _name=name):
        return StructuralTerm((_name,), kernel)


_simple("edges", degree.edges, None, "number of ties")
_simple("mutual", degree.mutual, True, "number of reciprocated pairs")
_simple("asymmetric", degree.asymmetric, True, "number of pairs tied one way only")
_simple("twopath", degree.twopath, None, "number of two-paths")
_simple("isolates", degree.isolates, None, "number of isolates")
_simple("triangle", triadic.triangle, None, "number of triangles")
_simple("ttriple", triadic.ttriple, True, "transitive triples")
_simple("ctriple", triadic.ctriple, True, "cyclic triples")
_simple("transitiveties", triadic.transitiveties, True, "ties closing a transitive two-path")
_simple("cyclicalties", triadic.cyclicalties, True, "ties closing a cyclic two-path")


def _counted(name: str, kernel, directed: bool | None, argument: str, summary: str):
    """kstar(k), degree(d), ...: one column per value, named name + value (e.g. "degree0")."""

    @term(name, Argument(argument, "numbers"), directed=directed, summary=summary)
    def compile_counted(values, context, _name=name):
        counts = values[argument]
        for count in counts:
            if count < 0 or float(count) != int(count):
                raise TermError(f"term '{_name}': {argument} must be non-negative whole numbers, got {count!r}")
        names = tuple(f"{_name}{format_r_number(c)}" for c in counts)
        return StructuralTerm(names, kernel, tuple(float(c) for c in counts))


_counted("kstar", degree.kstar, False, "k", "k-stars")
_counted("istar", degree.istar, True, "k", "in-k-stars")
_counted("ostar", degree.ostar, True, "k", "out-k-stars")
_counted("degree", degree.degree, False, "d", "nodes of degree d")
_counted("idegree", degree.idegree, True, "d", "nodes of in-degree d")
_counted("odegree", degree.odegree, True, "d", "nodes of out-degree d")


def _require_fixed(name: str, values: dict):
    if not values["fixed"]:
        raise TermError(
            f"term '{name}': only fixed=TRUE is supported (the curved form, fixed=FALSE, is not); "
            f"write {name}({format_r_number(values['decay']) if values['decay'] is not None else 'decay'}, fixed=TRUE)"
        )
    if values["decay"] is None:
        raise TermError(f"term '{name}' needs argument 'decay' when fixed=TRUE")


def _gw_degree(name: str, kernel, label: str, directed: bool):
    @term(
        name,
        Argument("decay", "number", None),
        Argument("fixed", "bool", False),
        directed=directed,
        summary="geometrically weighted degree distribution (fixed decay)",
    )
    def compile_gw_degree(values, context, _name=name):
        _require_fixed(_name, values)
        decay = values["decay"]
        return StructuralTerm((f"{label}.fixed.{format_r_number(decay)}",), kernel, (decay,))


_gw_degree("gwdegree", degree.gwdegree, "gwdeg", False)
_gw_degree("gwidegree", degree.gwidegree, "gwideg", True)
_gw_degree("gwodegree", degree.gwodegree, "gwodeg", True)

_SP_TYPES = ("OTP", "ITP", "RTP", "OSP", "ISP")


def _sp_type(term_name: str, type_name: str, directed: bool) -> str:
    """The validated shared-partner type; undirected networks ignore it (ergm uses UTP there),
    and the kernels read undirected shared partners under the OTP code."""
    type_name = type_name.upper()
    if type_name not in _SP_TYPES:
        raise TermError(f"term '{term_name}': illegal type code {type_name!r}; valid types are: {', '.join(_SP_TYPES)}")
    return type_name if directed else "OTP"


def _gw_sp(name: str, kernel):
    @term(
        name,
        Argument("decay", "number", None),
        Argument("fixed", "bool", False),
        Argument("type", "string", "OTP"),
        summary="geometrically weighted shared partners (fixed decay)",
    )
    def compile_gw_sp(values, context, _name=name):
        _require_fixed(_name, values)
        decay = values["decay"]
        sp_type = _sp_type(_name, values["type"], context.directed)
        prefix = f"{_name}.{sp_type}" if context.directed else _name
        return StructuralTerm((f"{prefix}.fixed.{format_r_number(decay)}",), kernel, (decay, sp_type))


_gw_sp("gwesp", triadic.gwesp)
_gw_sp("gwdsp", triadic.gwdsp)
_gw_sp("gwnsp", triadic.gwnsp)


def _sp(name: str, kernel):
    @term(name, Argument("d", "numbers"), Argument("type", "string", "OTP"), summary="shared-partner counts")
    def compile_sp(values, context, _name=name):
        counts = values["d"]
        for count in counts:
            if count < 0 or float(count) != int(count):
                raise TermError(f"term '{_name}': d must be non-negative whole numbers, got {count!r}")
        sp_type = _sp_type(_name, values["type"], context.directed)
        prefix = f"{_name}.{sp_type}" if context.directed else _name
        names = tuple(f"{prefix}{format_r_number(c)}" for c in counts)
        return StructuralTerm(names, kernel, (sp_type, *(float(c) for c in counts)))


_sp("esp", triadic.esp)
_sp("dsp", triadic.dsp)
_sp("nsp", triadic.nsp)


# ---------------------------------------------------------------------------------------------
# Node and dyadic covariate terms (network-independent)


def _numeric_attribute(view: PeriodView, attr: str, term_name: str) -> np.ndarray:
    values = np.asarray(view.period.node_attributes[attr])
    if values.dtype.kind not in "biuf":
        raise TermError(
            f"term '{term_name}' needs a numeric node attribute; '{attr}' in period {view.period.name} "
            f"has dtype {values.dtype}"
        )
    return values.astype(np.float64)


def _node_covariate(name: str, directed: bool | None, role: str):
    """nodecov (tail + head), nodeocov (tail), nodeicov (head)."""

    @term(name, Argument("attr", "name"), directed=directed, summary=f"numeric node attribute ({role})")
    def compile_node_covariate(values, context, _name=name):
        attr = values["attr"]

        def matrices(view):
            x = _numeric_attribute(view, attr, _name)
            if role == "tail":
                yield np.repeat(x[:, None], len(x), axis=1)
            elif role == "head":
                yield np.repeat(x[None, :], len(x), axis=0)
            else:
                yield x[:, None] + x[None, :]

        return CovariateTerm((f"{_name}.{attr}",), matrices, node_attributes=(attr,))


_node_covariate("nodecov", None, "both")
_node_covariate("nodeocov", True, "tail")
_node_covariate("nodeicov", True, "head")


def format_level(value) -> str:
    """A level of a node attribute as R pastes it into a coefficient name."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return format_r_number(value)
    return str(value)


def select_levels(term_name: str, attr: str, levels: Sequence, spec, default_drop_first: bool) -> list:
    """ergm's level selection: `spec` None -> the default (all, or all but the first), TRUE -> all,
    indices into the sorted levels (1-based; negative drops), or the level values themselves."""
    levels = list(levels)
    if spec is None:
        return levels[1:] if default_drop_first else levels
    if spec is True:
        return levels
    if all(_is_number(v) for v in spec):
        indices = [int(v) for v in spec]
        if any(float(v) != int(v) for v in spec) or (any(i < 0 for i in indices) and any(i > 0 for i in indices)):
            raise TermError(f"term '{term_name}': level indices must be whole numbers, all positive or all negative")
        if any(abs(i) > len(levels) or i == 0 for i in indices):
            raise TermError(
                f"term '{term_name}': level index out of range; attribute '{attr}' has {len(levels)} levels "
                f"({', '.join(format_level(v) for v in levels)})"
            )
        if indices[0] < 0:
            dropped = {-i - 1 for i in indices}
            return [v for k, v in enumerate(levels) if k not in dropped]
        return [levels[i - 1] for i in indices]
    by_name = {format_level(v): v for v in levels}
    missing = [v for v in spec if str(v) not in by_name]
    if missing:
        raise TermError(
            f"term '{term_name}': levels {missing} are not values of attribute '{attr}' "
            f"(its levels: {', '.join(by_name)})"
        )
    return [by_name[str(v)] for v in spec]


def _level_codes(values: np.ndarray, levels: list) -> np.ndarray:
    """For each node, the index of its value in `levels`, or -1."""
    codes = np.full(len(values), -1, dtype=np.int64)
    for k, level in enumerate(levels):
        codes[values == level] = k
    return codes


def _node_factor(name: str, directed: bool | None, role: str):
    """nodefactor (tail and head), nodeofactor (tail), nodeifactor (head): one column per level."""

    @term(
        name,
        Argument("attr", "name"),
        Argument("base", "integer", None),
        Argument("levels", "levels", None),
        directed=directed,
        summary=f"categorical node attribute ({role}); drops the first level by default",
    )
    def compile_node_factor(values, context, _name=name):
        attr = values["attr"]
        spec = values["levels"]
        if spec is None and values["base"] is not None:
            spec = True if values["base"] == 0 else (-values["base"],)
        chosen = select_levels(_name, attr, context.levels(attr), spec, default_drop_first=True)
        if not chosen:
            raise TermError(f"term '{_name}': no levels of attribute '{attr}' remain to be modelled")

        def matrices(view):
            codes = _level_codes(np.asarray(view.period.node_attributes[attr]), chosen)
            for k in range(len(chosen)):
                member = (codes == k).astype(np.float64)
                if role == "tail":
                    yield np.repeat(member[:, None], len(member), axis=1)
                elif role == "head":
                    yield np.repeat(member[None, :], len(member), axis=0)
                else:
                    yield member[:, None] + member[None, :]

        names = tuple(f"{_name}.{attr}.{format_level(v)}" for v in chosen)
        return CovariateTerm(names, matrices, node_attributes=(attr,), levels=tuple(chosen))


_node_factor("nodefactor", None, "both")
_node_factor("nodeofactor", True, "tail")
_node_factor("nodeifactor", True, "head")


@term(
    "nodematch",
    Argument("attr", "name"),
    Argument("diff", "bool", False),
    Argument("keep", "numbers", None),
    Argument("levels", "levels", None),
    summary="ties between nodes with the same value of an attribute",
)
def _nodematch(values, context):
    attr = values["attr"]
    chosen = select_levels("nodematch", attr, context.levels(attr), values["levels"], default_drop_first=False)
    if values["keep"] is not None:  # ergm's deprecated `keep`: indices into the selected levels
        chosen = select_levels("nodematch", attr, chosen, values["keep"], default_drop_first=False)

    def matrices(view):
        codes = _level_codes(np.asarray(view.period.node_attributes[attr]), chosen)
        same = (codes[:, None] == codes[None, :]) & (codes[:, None] >= 0)
        if not values["diff"]:
            yield same.astype(np.float64)
            return
        for k in range(len(chosen)):
            yield (same & (codes[:, None] == k)).astype(np.float64)

    if values["diff"]:
        names = tuple(f"nodematch.{attr}.{format_level(v)}" for v in chosen)
    else:
        names = (f"nodematch.{attr}",)
    return CovariateTerm(names, matrices, node_attributes=(attr,), levels=tuple(chosen))


@term("absdiff", Argument("attr", "name"), Argument("pow", "number", 1.0), summary="|x_i - x_j|^pow")
def _absdiff(values, context):
    attr, power = values["attr"], values["pow"]

    def matrices(view):
        x = _numeric_attribute(view, attr, "absdiff")
        yield np.abs(x[:, None] - x[None, :]) ** power

    label = "absdiff" if power == 1 else f"absdiff{format_r_number(power)}"
    return CovariateTerm((f"{label}.{attr}",), matrices, node_attributes=(attr,))


def edgecov_name(label: str, context: TermContext) -> str:
    """ergm names edgecov(x) "edgecov.x"; btergm passes x[[i]] per time step: "edgecov.x[[i]]"."""
    return f"edgecov.{label}[[i]]" if context.temporal else f"edgecov.{label}"


@term("edgecov", Argument("x", "name"), summary="a dyadic covariate")
def _edgecov(values, context):
    name = values["x"]

    def matrices(view):
        yield np.asarray(view.period.dyad_covariates[name], dtype=np.float64)

    return CovariateTerm((edgecov_name(name, context),), matrices, dyad_covariates=(name,))


# ---------------------------------------------------------------------------------------------
# btergm's temporal terms: dyadic covariates built from earlier periods.
# The earlier network is aligned to the current period's nodes by label; a node absent from the
# earlier period has no earlier ties (btergm would instead drop such a node from that period).


def _check_lag(term_name: str, lag: int):
    if lag < 1:
        raise TermError(f"term '{term_name}': lag must be at least 1, got {lag}")


_MEMORY_TYPES = ("autoregression", "stability", "innovation", "loss")


@term(
    "memory",
    Argument("type", "string", "stability"),
    Argument("lag", "integer", 1),
    summary="the tie `lag` periods earlier (btergm): stability +1/-1, autoregression 1/0, innovation, loss",
)
def _memory(values, context):
    kind, lag = values["type"], values["lag"]
    _check_lag("memory", lag)
    if kind not in _MEMORY_TYPES:
        raise TermError(f"term 'memory': type must be one of {', '.join(_MEMORY_TYPES)}; got {kind!r}")

    def matrices(view):
        earlier = view.previous(lag).astype(np.float64)
        if kind == "autoregression":
            yield earlier
        elif kind == "stability":
            yield 2.0 * earlier - 1.0  # tie before: +1, none: -1
        elif kind == "innovation":
            yield 1.0 - earlier  # no tie before: 1
        else:
            yield -earlier  # loss: tie before: -1

    return CovariateTerm((edgecov_name("memory", context),), matrices, lag=lag)


@term(
    "delrecip",
    Argument("mutuality", "bool", False),
    Argument("lag", "integer", 1),
    summary="delayed reciprocity (btergm): the reverse tie `lag` periods earlier",
)
def _delrecip(values, context):
    mutuality, lag = values["mutuality"], values["lag"]
    _check_lag("delrecip", lag)

    def matrices(view):
        reverse = view.previous(lag).T.astype(np.float64)
        yield 2.0 * reverse - 1.0 if mutuality else reverse

    return CovariateTerm((edgecov_name("delrecip", context),), matrices, lag=lag)


# btergm takes an R function of time; without eval we offer a fixed set of transforms by name.
TIME_TRANSFORMS: dict[str, Callable[[float], float]] = {
    "constant": lambda t: 1.0,  # btergm's default: function(t) 1 + 0*t + 0*t^2
    "linear": lambda t: float(t),
    "quadratic": lambda t: float(t) ** 2,
    "sqrt": lambda t: float(np.sqrt(t)),
    "log": lambda t: float(np.log(t)),
}


@term(
    "timecov",
    Argument("x", "name", None),
    Argument("minimum", "integer", 1),
    Argument("maximum", "integer", None),
    Argument("transform", "string", "constant"),
    summary="a function of time (btergm), alone or times a dyadic covariate x; "
    "transform one of: " + ", ".join(TIME_TRANSFORMS),
)
def _timecov(values, context):
    x, minimum, transform = values["x"], values["minimum"], values["transform"]
    maximum = context.n_periods if values["maximum"] is None else values["maximum"]
    if transform not in TIME_TRANSFORMS:
        raise TermError(
            f"term 'timecov': transform must be one of {', '.join(TIME_TRANSFORMS)} (R functions are not "
            f"evaluated); got {transform!r}"
        )
    function = TIME_TRANSFORMS[transform]

    def matrices(view):
        # btergm's time index counts every period of the panel, including those the lag drops.
        t = view.time
        value = function(t) if minimum <= t <= maximum else 0.0
        n = view.period.n
        if x is None:
            yield np.full((n, n), value)
        else:
            yield value * np.asarray(view.period.dyad_covariates[x], dtype=np.float64)

    label = "timecov" if x is None else f"timecov.{x}"
    return CovariateTerm((edgecov_name(label, context),), matrices, dyad_covariates=(() if x is None else (x,)))


__all__ = [
    "REGISTRY",
    "Argument",
    "CompiledTerm",
    "CovariateTerm",
    "PeriodView",
    "StructuralTerm",
    "TermContext",
    "TermError",
    "TermSpec",
    "compile_term",
    "known_terms",
    "term",
    "term_lag",
]
