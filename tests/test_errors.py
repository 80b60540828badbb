"""Bad input through the public API (tergm.btergm, tergm.ergm, Panel.from_arrays) gets an error
whose message names the problem: the term, argument, covariate, period or cell at fault."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dyadflow import tergm
from dyadflow.storage.panel import Panel, PanelError, Period
from dyadflow.tergm.formula import FormulaError, FormulaSyntaxError
from dyadflow.tergm.terms import TermError, known_terms

RNG = np.random.default_rng(2024)


def random_network(n: int = 6, directed: bool = True, density: float = 0.4) -> np.ndarray:
    network = (RNG.random((n, n)) < density).astype(np.uint8)
    if not directed:
        network = np.triu(network, 1)
        network = network | network.T
    np.fill_diagonal(network, 0)
    return network


@pytest.fixture(scope="module")
def directed_panel() -> Panel:
    return Panel.from_arrays(
        [random_network() for _ in range(3)],
        directed=True,
        node_attributes={"age": np.arange(6.0), "group": np.array(list("aabbcc"))},
        dyad_covariates={"distance": np.ones((6, 6)), "trade": np.zeros((6, 6))},
    )


@pytest.fixture(scope="module")
def undirected_panel() -> Panel:
    return Panel.from_arrays([random_network(directed=False) for _ in range(3)], directed=False)


# ---------------------------------------------------------------------------------------------
# Formula and terms


def test_unknown_term_lists_the_known_ones(directed_panel):
    with pytest.raises(TermError, match=r"unknown term 'gwesq'") as raised:
        tergm.btergm("y ~ edges + gwesq(0.5, fixed=TRUE)", directed_panel, R=2)
    listing = str(raised.value).split("known terms:")[1]
    assert [name.strip() for name in listing.split(",")] == known_terms()
    assert {"edges", "gwesp", "memory", "edgecov"} <= set(known_terms())


def test_unknown_term_in_ergm():
    with pytest.raises(TermError, match=r"unknown term 'triangles'.*known terms: .*triangle"):
        tergm.ergm("y ~ edges + triangles", random_network(directed=False), directed=False)


def test_unknown_term_argument_lists_the_arguments(directed_panel):
    with pytest.raises(TermError, match=r"term 'gwesp' has no argument 'decy'; its arguments are: decay, fixed, type"):
        tergm.btergm("y ~ edges + gwesp(decy=0.5, fixed=TRUE)", directed_panel, R=2)
    with pytest.raises(TermError, match=r"term 'memory' has no argument 'typ'; its arguments are: type, lag"):
        tergm.btergm('y ~ edges + memory(typ="stability")', directed_panel, R=2)


def test_wrong_argument_kind_and_count(directed_panel):
    with pytest.raises(TermError, match=r"term 'gwesp': argument 'fixed' must be TRUE or FALSE, got 'yes'"):
        tergm.btergm('y ~ edges + gwesp(0.5, fixed="yes")', directed_panel, R=2)
    with pytest.raises(TermError, match=r"term 'edges' takes at most 0 argument\(s\), got 1"):
        tergm.btergm("y ~ edges(1)", directed_panel, R=2)
    with pytest.raises(
        TermError, match=r"term 'memory': type must be one of autoregression, stability, innovation, loss"
    ):
        tergm.btergm('y ~ edges + memory(type="stable")', directed_panel, R=2)


def test_unknown_keyword_of_btergm_and_ergm(directed_panel):
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'replicates'"):
        tergm.btergm("y ~ edges", directed_panel, replicates=10)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'attributes'"):
        tergm.ergm("y ~ edges", random_network(), directed=True, attributes={})


def test_syntax_error_points_at_the_position():
    with pytest.raises(FormulaSyntaxError, match=r"expected a term name, found end of formula at position 11"):
        tergm.ergm("y ~ edges +", random_network(), directed=True)


def test_formula_must_be_text(directed_panel):
    with pytest.raises(FormulaError, match=r"the formula must be a string .* got NoneType"):
        tergm.btergm(None, directed_panel, R=2)


def test_btergm_needs_a_panel():
    with pytest.raises(TypeError, match=r"btergm needs a Panel .* got list"):
        tergm.btergm("y ~ edges", [random_network(), random_network()])


# ---------------------------------------------------------------------------------------------
# Covariates


def test_missing_dyadic_covariate_lists_the_available_ones(directed_panel):
    with pytest.raises(
        FormulaError,
        match=r"edgecov.contiguity\[\[i\]\] uses dyadic covariate 'contiguity', which "
        r"period 1 does not have; available dyadic covariates: distance, trade",
    ):
        tergm.btergm("y ~ edges + edgecov(contiguity)", directed_panel, R=2)


def test_missing_node_attribute_lists_the_available_ones(directed_panel):
    with pytest.raises(FormulaError, match=r"node attribute 'polity'.*available node attributes: age, group"):
        tergm.btergm('y ~ edges + nodecov("polity")', directed_panel, R=2)
    with pytest.raises(FormulaError, match=r"node attribute 'sex'.*available node attributes: none"):
        tergm.ergm('y ~ edges + nodematch("sex")', random_network(), directed=True)


def test_text_attribute_where_a_number_is_needed(directed_panel):
    with pytest.raises(TermError, match=r"term 'absdiff' needs a numeric node attribute; 'group'"):
        tergm.btergm('y ~ edges + absdiff("group")', directed_panel, R=2)


def test_dyadic_covariate_of_the_wrong_shape():
    with pytest.raises(
        PanelError,
        match=r"dyadic covariate 'distance': a static covariate must have shape \(6, 6\) "
        r"\(the node universe\), got \(5, 5\)",
    ):
        Panel.from_arrays([random_network()] * 2, directed=True, dyad_covariates={"distance": np.ones((5, 5))})
    with pytest.raises(
        PanelError, match=r"period 2: dyadic covariate 'distance' has shape \(6, 5\), expected \(6, 6\)"
    ):
        Panel.from_arrays(
            [random_network()] * 2, directed=True, dyad_covariates={"distance": [np.ones((6, 6)), np.ones((6, 5))]}
        )
    with pytest.raises(
        PanelError,
        match=r"dyadic covariate 'distance': expected one array per period \(2\) or one "
        r"static array, got 3",
    ):
        Panel.from_arrays([random_network()] * 2, directed=True, dyad_covariates={"distance": [np.ones((6, 6))] * 3})
    with pytest.raises(PanelError, match=r"dyadic covariate 'distance'.*got \(4, 4\)"):
        tergm.ergm(
            "y ~ edges + edgecov(distance)",
            random_network(),
            directed=True,
            dyad_covariates={"distance": np.ones((4, 4))},
        )


def test_node_attribute_of_the_wrong_length():
    with pytest.raises(PanelError, match=r"node attribute 'age': a static covariate must have shape \(6,\)"):
        tergm.ergm("y ~ edges + nodecov(age)", random_network(), directed=True, node_attributes={"age": np.ones(4)})


# ---------------------------------------------------------------------------------------------
# Networks


def test_non_binary_network():
    network = random_network()
    network[1, 2] = 3
    with pytest.raises(PanelError, match=r"period 1: the network must be binary \(0/1\); cell \(1, 2\) is 3"):
        tergm.ergm("y ~ edges", network, directed=True)
    weighted = random_network().astype(float)
    weighted[0, 1] = 0.5
    with pytest.raises(PanelError, match=r"period 2: the network must be binary .* cell \(0, 1\) is 0.5"):
        Panel.from_arrays([random_network(), weighted], directed=True)
    with pytest.raises(PanelError, match=r"the network must be binary .* is nan"):
        tergm.ergm("y ~ edges", np.where(random_network() == 1, np.nan, 0.0), directed=True)
    with pytest.raises(PanelError, match=r"the network must be numeric 0/1, got dtype <U1"):
        tergm.ergm("y ~ edges", np.full((3, 3), "0"), directed=True)


def test_non_square_network():
    with pytest.raises(PanelError, match=r"period 1: the network must be a square matrix, got shape \(4, 5\)"):
        tergm.ergm("y ~ edges", np.zeros((4, 5)), directed=True)
    with pytest.raises(PanelError, match=r"the network must be a square matrix, got shape \(6,\)"):
        Panel.from_arrays([np.zeros(6)], directed=True)


def test_self_loop():
    network = random_network()
    network[3, 3] = 1
    with pytest.raises(PanelError, match=r"period 1: self-loop at node index 3; the diagonal must be 0"):
        tergm.ergm("y ~ edges", network, directed=True)


def test_asymmetric_network_declared_undirected():
    network = np.zeros((4, 4), dtype=np.uint8)
    network[0, 2] = 1
    with pytest.raises(
        PanelError,
        match=re.escape(
            "period 1: the network is declared undirected but is not symmetric (cell (0, 2) is 1, cell (2, 0) is 0)"
        ),
    ):
        tergm.ergm("y ~ edges", network, directed=False)
    with pytest.raises(PanelError, match=r"period 3: the network is declared undirected but is not symmetric"):
        Panel.from_arrays([random_network(4, directed=False)] * 2 + [network], directed=False)


def test_periods_of_different_size_need_labels():
    with pytest.raises(PanelError, match=r"periods differ in size: pass `nodes`"):
        Panel.from_arrays([random_network(5), random_network(6)], directed=True)


def test_observed_mask_of_the_wrong_shape(directed_panel):
    period = directed_panel[0]
    bad = Panel(
        directed=True,
        period_names=["1"],
        load=lambda t: Period("1", period.nodes, period.network, observed=np.ones((4, 4), dtype=bool)),
    )
    with pytest.raises(FormulaError, match=r"period 1: the observed-dyad mask has shape \(4, 4\), expected \(6, 6\)"):
        tergm.btergm("y ~ edges", bad, R=2)


# ---------------------------------------------------------------------------------------------
# Temporal structure and directedness


def test_fewer_periods_than_the_lag(directed_panel):
    with pytest.raises(
        FormulaError,
        match=r"memory\(lag=3\) needs at least 4 periods \(the first 3 only provide "
        r"earlier networks\), but the panel has 3",
    ):
        tergm.btergm("y ~ edges + memory(lag=3)", directed_panel, R=2)
    with pytest.raises(FormulaError, match=r"delrecip needs at least 2 periods.*the panel has 1"):
        tergm.ergm("y ~ edges + delrecip", random_network(), directed=True)


def test_directed_only_term_on_an_undirected_network(undirected_panel):
    for term in ("mutual", "ttriple", "gwidegree(0.1, fixed=TRUE)", 'nodeocov("x")'):
        name = term.split("(")[0]
        with pytest.raises(
            TermError, match=rf"In term '{name}': Term may not be used with networks with directed==FALSE"
        ):
            tergm.btergm(f"y ~ edges + {term}", undirected_panel, R=2)


def test_undirected_only_term_on_a_directed_network_suggests_the_directed_ones(directed_panel):
    # ergm's own message (tests/data/reference/results/knecht_meta.json), plus what to use instead
    with pytest.raises(
        TermError,
        match=r"In term 'gwdegree': Term may not be used with networks with directed==TRUE\. "
        r"Use gwidegree/gwodegree for directed networks",
    ):
        tergm.btergm("y ~ edges + gwdegree(0.1, fixed=TRUE)", directed_panel, R=2)


def test_curved_terms_are_refused_with_the_fixed_form(directed_panel):
    with pytest.raises(TermError, match=r"only fixed=TRUE is supported.*write gwesp\(0.5, fixed=TRUE\)"):
        tergm.btergm("y ~ edges + gwesp(0.5)", directed_panel, R=2)


# ---------------------------------------------------------------------------------------------
# Estimation


def test_bootstrap_arguments(directed_panel):
    with pytest.raises(tergm.EstimationError, match=r"^R must be a positive integer, got 0$"):
        tergm.btergm("y ~ edges", directed_panel, R=0)
    with pytest.raises(tergm.EstimationError, match=r"resamples hold period indices outside 0..2 \(they are 0-based"):
        tergm.btergm("y ~ edges", directed_panel, resamples=np.array([[1, 2, 3]]))
    with pytest.raises(tergm.EstimationError, match=r"resamples must draw 3 periods per replicate, got 2"):
        tergm.btergm("y ~ edges", directed_panel, resamples=np.array([[0, 1]]))


def test_empty_network_has_no_mple():
    with pytest.raises(tergm.SeparationError, match=r"no finite maximum.*\['edges'\]"):
        tergm.ergm("y ~ edges", np.zeros((5, 5)), directed=True)


def test_complete_network_has_no_mple():
    complete = np.ones((5, 5), dtype=np.uint8)
    np.fill_diagonal(complete, 0)
    with pytest.raises(tergm.SeparationError, match=r"no finite maximum.*\['edges'\]"):
        tergm.ergm("y ~ edges", complete, directed=True)


def test_collinear_terms_are_named(directed_panel):
    with pytest.raises(tergm.CollinearityError, match=r"edgecov.trade\[\[i\]\]"):
        tergm.btergm("y ~ edges + edgecov(trade)", directed_panel, R=2)


# ---------------------------------------------------------------------------------------------
# Arguments of the public entry points: the project's exception types, messages naming the argument


BAD_BOOTSTRAP_ARGUMENTS = [
    ({"R": "abc"}, "R must be a positive integer, got 'abc'"),
    ({"R": 2.5}, "R must be a positive integer, got 2.5"),
    ({"R": 100.0}, "R must be a positive integer, got 100.0"),
    ({"R": True}, "R must be a positive integer, got True"),
    ({"R": -3}, "R must be a positive integer, got -3"),
    ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ({"seed": "12345"}, "seed must be a non-negative integer, got '12345'"),
    ({"seed": None}, "seed must be a non-negative integer, got None"),
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": "25"}, "batch_size must be a positive integer, got '25'"),
    ({"estimate": "mle"}, "estimate must be 'MPLE' or 'MLE', got 'mle'"),
    ({"mcmc": 5}, "mcmc must be a dict of tergm.mcmle.mcmle's arguments, got int"),
]


@pytest.mark.parametrize("arguments,message", BAD_BOOTSTRAP_ARGUMENTS)
def test_btergm_arguments_name_the_argument(directed_panel, arguments, message):
    with pytest.raises(tergm.EstimationError, match=f"^{re.escape(message)}$"):
        tergm.btergm("y ~ edges", directed_panel, **arguments)


@pytest.mark.parametrize(
    "arguments,message", [case for case in BAD_BOOTSTRAP_ARGUMENTS if set(case[0]) <= {"R", "seed", "batch_size"}]
)
def test_fit_design_arguments_name_the_argument(directed_panel, arguments, message):
    from dyadflow.tergm.design import build_design

    design = build_design("y ~ edges", directed_panel)
    with pytest.raises(tergm.EstimationError, match=f"^{re.escape(message)}$"):
        tergm.fit_design(design, **arguments)


def test_api_errors_are_value_errors(directed_panel):
    """Callers that catch ValueError (as for numpy's own messages before) still catch them."""
    with pytest.raises(ValueError):
        tergm.btergm("y ~ edges", directed_panel, seed=-1)


def test_ergm_arguments_name_the_argument():
    with pytest.raises(tergm.EstimationError, match=r"^directed must be True or False, got 'yes'$"):
        tergm.ergm("y ~ edges", random_network(), directed="yes")
    with pytest.raises(tergm.EstimationError, match=r"^estimate must be 'MPLE' or 'MLE', got 'Bayes'$"):
        tergm.ergm("y ~ edges", random_network(), directed=True, estimate="Bayes")


@pytest.fixture(scope="module")
def cross_sectional_fit():
    network = np.zeros((8, 8), dtype=np.uint8)
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 0), (0, 4), (2, 6)]:
        network[i, j] = network[j, i] = 1
    return tergm.ergm("y ~ edges", network, directed=False)


SIMULATION_CASES = [
    ("simulate", {"nsim": "abc"}, "nsim must be a positive integer, got 'abc'"),
    ("simulate", {"nsim": 0}, "nsim must be a positive integer, got 0"),
    ("simulate", {"seed": -1}, "seed must be a non-negative integer, got -1"),
    ("simulate", {"burnin": -1}, "burnin must be a non-negative integer, got -1"),
    ("simulate", {"interval": 0.5}, "interval must be a positive integer, got 0.5"),
    ("gof", {"nsim": -2}, "nsim must be a positive integer, got -2"),
    ("gof", {"seed": 1.5}, "seed must be a non-negative integer, got 1.5"),
    ("mcmle", {"samplesize": 5}, "samplesize must be an integer >= 10, got 5"),
    ("mcmle", {"seed": -7}, "seed must be a non-negative integer, got -7"),
    ("mcmle", {"max_iterations": 0}, "max_iterations must be a positive integer, got 0"),
    ("mcmle", {"interval": "often"}, "interval must be a positive integer, got 'often'"),
]


@pytest.mark.parametrize("entry,arguments,message", SIMULATION_CASES)
def test_simulation_arguments_name_the_argument(cross_sectional_fit, entry, arguments, message):
    from dyadflow.tergm.gof import gof
    from dyadflow.tergm.mcmle import mcmle
    from dyadflow.tergm.simulation import SimulationError, simulate

    function = {"simulate": simulate, "gof": gof, "mcmle": mcmle}[entry]
    with pytest.raises(SimulationError, match=f"^{re.escape(message)}$"):
        function(cross_sectional_fit, **arguments)
