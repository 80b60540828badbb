"""Formula parsing, term validation and coefficient naming (ergm 4.6 / btergm spelling)."""

from __future__ import annotations

import numpy as np
import pytest

from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import build_design, parse_model
from dyadflow.tergm.formula import FormulaError, FormulaSyntaxError, Name, format_r_number, parse_formula
from dyadflow.tergm.terms import REGISTRY, TermContext, TermError, compile_term, known_terms

# ---------------------------------------------------------------------------------------------
# Parsing


def test_parses_the_btergm_example_without_eval():
    formula = parse_formula(
        'cmaa ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.1, fixed = TRUE) + absdiff("polyarchy") '
        '+ edgecov(mlat) + memory(type="stability") + degree(0:3) + nodematch("sex", diff=TRUE) + kstar(c(2,3))\n  \n'
    )
    assert formula.response == "cmaa"
    calls = [(t.name, t.args, t.kwargs) for t in formula.terms]
    assert calls == [
        ("edges", (), {}),
        ("gwesp", (0.5,), {"fixed": True}),
        ("gwdegree", (0.1,), {"fixed": True}),
        ("absdiff", ("polyarchy",), {}),
        ("edgecov", (Name("mlat"),), {}),
        ("memory", (), {"type": "stability"}),
        ("degree", ((0, 1, 2, 3),), {}),
        ("nodematch", ("sex",), {"diff": True}),
        ("kstar", ((2, 3),), {}),
    ]
    assert isinstance(formula.terms[4].args[0], Name)
    assert not isinstance(formula.terms[3].args[0], Name)
    assert formula.terms[1].text == "gwesp(0.5, fixed=TRUE)"


@pytest.mark.parametrize(
    "text,value",
    [
        ("TRUE", True), ("T", True), ("True", True), ("FALSE", False), ("F", False), ("False", False),
        ("NULL", None), ("None", None), ("3", 3), ("3L", 3), ("2.5", 2.5), (".5", 0.5), ("1e-3", 0.001),
        ("-1", -1), ("'x'", "x"), ('"a b"', "a b"), ("3:1", (3, 2, 1)), ("-1:1", (-1, 0, 1)),
        ("c(1, 3:4, -2)", (1, 3, 4, -2)), ("c()", ()), ('c("a", "b")', ("a", "b")), ("-(1:2)", (-1, -2)),
        ("0.5:2", (0.5, 1.5)),
    ],
)  # fmt: skip
def test_argument_values(text, value):
    (call,) = parse_formula(f"y ~ term(v = {text})").terms
    assert call.kwargs["v"] == value
    assert type(call.kwargs["v"]) is type(value)


def test_whitespace_newlines_and_no_response():
    formula = parse_formula("\n  ~ edges +\n\tmutual   \n")
    assert formula.response is None
    assert [t.name for t in formula.terms] == ["edges", "mutual"]
    assert parse_formula("list(a, b) ~ edges").response == "list(a, b)"


@pytest.mark.parametrize(
    "text,position,fragment",
    [
        ("y ~ edges + )", 12, "expected a term name"),
        ("y ~ edges +", 11, "end of formula"),
        ("y edges", 2, "expected '~'"),
        ("y ~ gwesp(0.5 fixed=TRUE)", 14, "',' or ')'"),
        ("y ~ nodecov(x=1, 2)", 17, "positional argument cannot follow"),
        ("y ~ edges $ mutual", 10, "unexpected character '$'"),
        ("y ~ kstar(sum(2))", 10, "function calls other than c(...)"),
        ("y ~ kstar(a = 1, a = 2)", 17, "given twice"),
        ("y ~ degree('a':3)", 11, "both ends of a:b must be numbers"),
        ("y ~ edges mutual", 10, "expected '+' or the end"),
    ],
)
def test_syntax_errors_point_at_the_position(text, position, fragment):
    with pytest.raises(FormulaSyntaxError) as raised:
        parse_formula(text)
    assert raised.value.position == position
    message = str(raised.value)
    assert fragment in message
    caret_line = message.splitlines()[-1]
    assert caret_line.index("^") - 2 == position  # the caret sits under the offending character


@pytest.mark.parametrize(
    "value,text",
    [(0.5, "0.5"), (1, "1"), (1.0, "1"), (0, "0"), (0.25, "0.25"), (0.1, "0.1"), (1e-4, "1e-04"), (0.001, "0.001"),
     (1e5, "1e+05"), (123456, "123456"), (-0.5, "-0.5"), (1 / 3, "0.333333333333333"), (1.5e-8, "1.5e-08")],
)  # fmt: skip
def test_numbers_are_written_as_r_pastes_them(value, text):
    assert format_r_number(value) == text


# ---------------------------------------------------------------------------------------------
# Term validation and naming


def _context(directed: bool, temporal: bool = False, levels=None) -> TermContext:
    return TermContext(directed, temporal, levels or (lambda attr: [1, 2]), 4)


def _names(term: str, directed: bool, temporal: bool = False, levels=None) -> tuple:
    (call,) = parse_formula(f"y ~ {term}").terms
    return compile_term(call, _context(directed, temporal, levels)).names


@pytest.mark.parametrize(
    "term,directed,names",
    [
        ("edges", True, ("edges",)),
        ("kstar(2:3)", False, ("kstar2", "kstar3")),
        ("istar(2)", True, ("istar2",)),
        ("degree(c(0, 5))", False, ("degree0", "degree5")),
        ("odegree(1)", True, ("odegree1",)),
        ("gwdegree(0.1, fixed=TRUE)", False, ("gwdeg.fixed.0.1",)),
        ("gwidegree(0.5, fixed=T)", True, ("gwideg.fixed.0.5",)),
        ("gwodegree(decay=2, fixed=TRUE)", True, ("gwodeg.fixed.2",)),
        ("gwesp(0.5, fixed=TRUE)", False, ("gwesp.fixed.0.5",)),
        ("gwesp(0.5, fixed=TRUE, type='ITP')", False, ("gwesp.fixed.0.5",)),  # ignored when undirected
        ("gwesp(0.5, fixed=TRUE)", True, ("gwesp.OTP.fixed.0.5",)),
        ("gwesp(0, fixed=TRUE, type='isp')", True, ("gwesp.ISP.fixed.0",)),
        ("gwdsp(0.5, fixed=TRUE)", True, ("gwdsp.OTP.fixed.0.5",)),
        ("gwnsp(1e-4, fixed=TRUE)", False, ("gwnsp.fixed.1e-04",)),
        ("esp(0:1)", False, ("esp0", "esp1")),
        ("esp(0:1)", True, ("esp.OTP0", "esp.OTP1")),
        ("dsp(2, type='RTP')", True, ("dsp.RTP2",)),
        ("nodecov('wealth')", False, ("nodecov.wealth",)),
        ("nodeicov(idegsqrt)", True, ("nodeicov.idegsqrt",)),
        ("nodefactor('sex')", True, ("nodefactor.sex.2",)),
        ("nodeofactor('sex', levels=TRUE)", True, ("nodeofactor.sex.1", "nodeofactor.sex.2")),
        ("nodefactor('sex', base=0)", False, ("nodefactor.sex.1", "nodefactor.sex.2")),
        ("nodematch('sex')", True, ("nodematch.sex",)),
        ("nodematch('sex', diff=TRUE)", True, ("nodematch.sex.1", "nodematch.sex.2")),
        ("nodematch('sex', diff=TRUE, keep=2)", True, ("nodematch.sex.2",)),
        ("absdiff('polyarchy')", False, ("absdiff.polyarchy",)),
        ("absdiff('polyarchy', pow=2)", False, ("absdiff2.polyarchy",)),
        ("edgecov(kn_primary)", True, ("edgecov.kn_primary",)),
        ("memory", True, ("edgecov.memory",)),
        ("delrecip(mutuality=TRUE)", True, ("edgecov.delrecip",)),
        ("timecov(x, transform='linear')", True, ("edgecov.timecov.x",)),
    ],
)
def test_coefficient_names_follow_ergm(term, directed, names):
    assert _names(term, directed) == names


def test_btergm_names_index_dyadic_covariates():
    assert _names("edgecov(primary)", True, temporal=True) == ("edgecov.primary[[i]]",)
    assert _names('memory(type="loss")', True, temporal=True) == ("edgecov.memory[[i]]",)
    assert _names("delrecip", False, temporal=True) == ("edgecov.delrecip[[i]]",)
    assert _names("timecov", True, temporal=True) == ("edgecov.timecov[[i]]",)
    assert _names("nodeofactor('sex')", True, temporal=True) == ("nodeofactor.sex.2",)


def test_string_levels_are_sorted_and_selectable():
    levels = lambda attr: ["F", "M", "X"]
    assert _names("nodefactor('Sex')", False, levels=levels) == ("nodefactor.Sex.M", "nodefactor.Sex.X")
    assert _names("nodefactor('Sex', levels=c('X', 'F'))", False, levels=levels) == (
        "nodefactor.Sex.X",
        "nodefactor.Sex.F",
    )
    assert _names("nodematch('Sex', diff=TRUE, levels=-2)", False, levels=levels) == (
        "nodematch.Sex.F",
        "nodematch.Sex.X",
    )


def _error(term: str, directed: bool = True) -> str:
    with pytest.raises(TermError) as raised:
        _names(term, directed)
    return str(raised.value)


def test_unknown_term_lists_the_known_terms():
    message = _error("gwfoo(0.5)")
    assert "unknown term 'gwfoo'" in message
    assert "known terms: " + ", ".join(known_terms()) in message
    assert {"edges", "gwesp", "memory", "delrecip", "timecov", "nodematch"} <= set(known_terms())


def test_unknown_argument_lists_the_arguments():
    message = _error("gwesp(0.5, fixd=TRUE)")
    assert "term 'gwesp' has no argument 'fixd'" in message
    assert "its arguments are: decay, fixed, type" in message
    assert "takes at most 0 argument(s)" in _error("edges(1)")
    assert "argument 'fixed' given both by position and by name" in _error("gwesp(0.5, TRUE, fixed=TRUE)")


def test_wrong_directedness_reads_like_ergm():
    assert _error("gwdegree(0.1, fixed=TRUE)", directed=True).startswith(
        "In term 'gwdegree': Term may not be used with networks with directed==TRUE."
    )
    assert (
        _error("mutual", directed=False) == "In term 'mutual': Term may not be used with networks with directed==FALSE."
    )
    for term in ("ttriple", "ctriple", "transitiveties", "cyclicalties", "istar(2)", "idegree(1)", "nodeicov('x')"):
        assert "directed==FALSE" in _error(term, directed=False)
    for term in ("kstar(2)", "degree(1)", "gwdegree(0.1, fixed=TRUE)"):
        assert "directed==TRUE" in _error(term, directed=True)


@pytest.mark.parametrize(
    "term,fragment",
    [
        ("gwesp(0.5)", "only fixed=TRUE is supported"),
        ("gwidegree(0.1, fixed=FALSE)", "only fixed=TRUE is supported"),
        ("gwesp(fixed=TRUE)", "needs argument 'decay'"),
        ("gwesp('a', fixed=TRUE)", "argument 'decay' must be a number"),
        ("gwesp(0.5, fixed=1)", "argument 'fixed' must be TRUE or FALSE"),
        ("gwesp(0.5, fixed=TRUE, type='XTP')", "illegal type code 'XTP'; valid types are: OTP, ITP, RTP, OSP, ISP"),
        ("absdiff()", "term 'absdiff' needs argument 'attr'"),
        ("idegree(-1)", "non-negative whole numbers"),
        ("istar(1.5)", "non-negative whole numbers"),
        ("memory(type='forgetting')", "type must be one of autoregression, stability, innovation, loss"),
        ("memory(lag=0)", "lag must be at least 1"),
        ("memory(lag=1.5)", "must be a whole number"),
        ("timecov(transform='cubic')", "transform must be one of constant, linear, quadratic, sqrt, log"),
        ("nodefactor('sex', levels=5)", "level index out of range"),
        ("nodefactor('sex', levels=c(1, -2))", "all positive or all negative"),
        ("nodefactor('sex', levels='7')", "levels ['7'] are not values of attribute 'sex'"),
        ("nodefactor('sex', levels=-(1:2))", "no levels of attribute 'sex' remain"),
    ],
)
def test_bad_arguments_get_clear_errors(term, fragment):
    assert fragment in _error(term)


def test_every_registered_term_has_arguments_described():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.summary, name


# ---------------------------------------------------------------------------------------------
# Validation against a panel


def _panel(periods: int = 3, directed: bool = True) -> Panel:
    rng = np.random.default_rng(1)
    networks = []
    for _ in range(periods):
        a = (rng.random((4, 4)) < 0.4).astype(int)
        np.fill_diagonal(a, 0)
        networks.append(a if directed else np.triu(a, 1) + np.triu(a, 1).T)
    return Panel.from_arrays(
        networks,
        directed=directed,
        node_attributes={"sex": np.array([1, 2, 1, 2]), "age": np.array([10.0, 11, 12, 13])},
        dyad_covariates={"primary": np.eye(4)},
    )


def test_missing_covariates_list_the_available_ones():
    with pytest.raises(FormulaError, match=r"node attribute 'polyarchy'.*available node attributes: age, sex"):
        parse_model("y ~ edges + absdiff('polyarchy')", _panel())
    with pytest.raises(FormulaError, match=r"dyadic covariate 'mlat'.*available dyadic covariates: primary"):
        parse_model("y ~ edges + edgecov(mlat)", _panel())
    with pytest.raises(FormulaError, match=r"node attribute 'grade'.*available node attributes: age, sex"):
        parse_model("y ~ nodefactor('grade')", _panel())
    with pytest.raises(FormulaError, match=r"dyadic covariate 'w'"):
        parse_model("y ~ timecov(w)", _panel())


def test_directedness_is_checked_against_the_panel():
    with pytest.raises(TermError, match=r"directed==TRUE"):
        parse_model("y ~ edges + gwdegree(0.1, fixed = TRUE)", _panel(directed=True))
    with pytest.raises(TermError, match=r"directed==FALSE"):
        parse_model("y ~ edges + mutual", _panel(directed=False))


def test_fewer_periods_than_lag_is_an_error():
    with pytest.raises(FormulaError, match=r"memory\(lag = 3\) needs at least 4 periods .* the panel has 3"):
        parse_model("y ~ edges + memory(lag = 3)", _panel(3))
    with pytest.raises(FormulaError, match=r"delrecip needs at least 2 periods .* the panel has 1"):
        parse_model("y ~ edges + delrecip", _panel(1))
    assert parse_model("y ~ edges + memory(lag = 2)", _panel(3)).lag == 2


def test_numeric_terms_reject_text_attributes():
    panel = Panel.from_arrays([np.zeros((3, 3))], directed=True, node_attributes={"sex": np.array(["F", "M", "F"])})
    with pytest.raises(TermError, match="needs a numeric node attribute; 'sex'"):
        build_design("y ~ nodecov('sex')", panel, temporal=False)
    design = build_design("y ~ nodeofactor('sex')", panel, temporal=False)
    assert design.names == ["nodeofactor.sex.M"]
