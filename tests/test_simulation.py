"""The MCMC sampler against exact enumeration, and simulate()'s contract.

Exactness: every network on 5 nodes (undirected, 2^10 = 1,024) or 4 nodes (directed, 2^12 = 4,096)
is enumerated, its sufficient statistics computed here with plain numpy from the definitions (not
with the kernels), and the exact ERGM distribution of the statistics compared with the sampler's
draws by a chi-square test at level 0.001 (cells with expected count < 5 pooled). Seeds are fixed,
so the tests are deterministic; with 20,000 draws spaced by ~3 sweeps of the dyads, a wrong
proposal ratio or a wrong change statistic shifts the distribution by far more than the test
tolerates (test_the_exactness_test_has_power).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import chi2

from dyadflow.kernels.network import network_state
from dyadflow.kernels.sampler import sampler_state, toggle
from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import parse_model
from dyadflow.tergm.simulation import SimulationError, simulate

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

LEVEL = 0.001


def all_networks(n: int, directed: bool) -> np.ndarray:
    """(2^m, n, n) every network on n nodes."""
    if directed:
        tails, heads = np.nonzero(~np.eye(n, dtype=bool))
    else:
        tails, heads = np.triu_indices(n, 1)
    m = len(tails)
    masks = ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype(np.uint8)
    nets = np.zeros((2**m, n, n), np.uint8)
    nets[:, tails, heads] = masks
    if not directed:
        nets[:, heads, tails] = masks
    return nets


def gw(counts, decay):
    return math.exp(decay) * (1.0 - (1.0 - math.exp(-decay)) ** counts)


# Each statistic by its definition, for one adjacency matrix A.
def s_edges(A, directed):
    return A.sum() if directed else A.sum() / 2


def s_triangle(A):
    return np.trace(A @ A @ A) / 6


def s_gwesp(A, decay, directed):
    sp = A @ A  # OTP (directed), shared partners (undirected)
    mask = A.astype(bool) if directed else np.triu(A, 1).astype(bool)
    return gw(sp[mask], decay).sum()


def s_gwdegree(A, decay):
    return gw(A.sum(axis=1), decay).sum()


def s_gwidegree(A, decay):
    return gw(A.sum(axis=0), decay).sum()


def s_mutual(A):
    return np.triu(A * A.T, 1).sum()


def s_cov(A, M, directed):
    return (A * M).sum() if directed else np.triu(A * M, 1).sum()


def chi_square_p(exact_stats, log_weights, draw_stats):
    """p-value of the draws' statistic vectors against the exact distribution."""
    keys, inverse = np.unique(np.round(exact_stats, 8), axis=0, return_inverse=True)
    w = np.exp(log_weights - log_weights.max())
    prob = np.bincount(inverse.ravel(), weights=w, minlength=len(keys))
    prob /= prob.sum()
    lookup = {tuple(k): c for c, k in enumerate(keys)}
    cells = np.array([lookup[tuple(s)] for s in np.round(draw_stats, 8)])
    observed = np.bincount(cells, minlength=len(keys)).astype(float)
    expected = prob * len(draw_stats)
    small = expected < 5
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    statistic = ((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()
    dof = keep.sum() - 1
    return chi2.sf(statistic, dof), keep.sum()


def model_fit(formula, panel, coef, temporal=False):
    model = parse_model(formula, panel, temporal=temporal)
    return SimpleNamespace(
        formula=formula,
        names=list(model.names),
        panel=panel,
        temporal=temporal,
        mple=SimpleNamespace(coef=np.asarray(coef, float)),
    )


def one_period_panel(n, directed, **covariates):
    return Panel.from_arrays([np.zeros((n, n), np.uint8)], directed=directed, **covariates)


rng = np.random.default_rng(20240601)
COV5 = np.round(rng.normal(size=(5, 5)), 2)
COV5 = (COV5 + COV5.T) / 2
np.fill_diagonal(COV5, 0)
GROUP5 = np.array(["a", "a", "b", "b", "b"])
LAG5 = np.zeros((5, 5), np.uint8)
LAG5[[0, 1, 2, 0], [1, 2, 3, 4]] = 1
LAG5 = LAG5 | LAG5.T
SAME5 = (GROUP5[:, None] == GROUP5[None, :]).astype(float)

# name: (directed, n, formula, coef, statistics(A), panel builder)
MODELS = {
    "edges+triangle": (
        False,
        5,
        "y ~ edges + triangle",
        [-0.4, 0.35],
        lambda A: [s_edges(A, False), s_triangle(A)],
        None,
    ),
    "edges+gwesp": (
        False,
        5,
        "y ~ edges + gwesp(0.5, fixed = TRUE)",
        [-0.8, 0.5],
        lambda A: [s_edges(A, False), s_gwesp(A, 0.5, False)],
        None,
    ),
    "gwdegree": (
        False,
        5,
        "y ~ edges + gwdegree(0.7, fixed = TRUE)",
        [0.3, -0.9],
        lambda A: [s_edges(A, False), s_gwdegree(A, 0.7)],
        None,
    ),
    "directed mutual+gwesp+gwidegree": (
        True,
        4,
        'y ~ edges + mutual + gwesp(0.5, fixed = TRUE, type = "OTP") + gwidegree(0.3, fixed = TRUE)',
        [-0.5, 0.8, 0.3, -0.6],
        lambda A: [s_edges(A, True), s_mutual(A), s_gwesp(A, 0.5, True), s_gwidegree(A, 0.3)],
        None,
    ),
    "edgecov+nodematch": (
        False,
        5,
        'y ~ edges + edgecov(x) + nodematch("g")',
        [-0.6, 0.9, 0.7],
        lambda A: [s_edges(A, False), s_cov(A, COV5, False), s_cov(A, SAME5, False)],
        lambda: one_period_panel(5, False, node_attributes={"g": GROUP5}, dyad_covariates={"x": COV5}),
    ),
    "memory": (
        False,
        5,
        'y ~ edges + triangle + memory(type = "stability")',
        [-0.3, 0.25, 0.8],
        lambda A: [s_edges(A, False), s_triangle(A), s_cov(A, 2.0 * LAG5 - 1.0, False)],
        lambda: Panel.from_arrays([LAG5, np.zeros((5, 5), np.uint8)], directed=False),
    ),
}


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "generic kernels"])
@pytest.mark.parametrize("name", list(MODELS))
def test_sampler_matches_exact_distribution(name, fast, monkeypatch):
    import dyadflow.tergm.simulation as simulation

    monkeypatch.setattr(simulation, "FAST_PATH", fast)
    directed, n, formula, coef, statistics, make_panel = MODELS[name]
    panel = make_panel() if make_panel else one_period_panel(n, directed)
    temporal = name == "memory"
    fit = model_fit(formula, panel, coef, temporal=temporal)
    nets = all_networks(n, directed)
    exact = np.array([statistics(A) for A in nets], dtype=float)
    log_weights = exact @ np.asarray(coef)
    m = n * (n - 1) if directed else n * (n - 1) // 2
    sims = simulate(fit, nsim=20000, burnin=500, interval=3 * m, seed=7)
    (draws,) = sims.periods
    draw_stats = np.array([statistics(draws.network(k)) for k in range(draws.nsim)], dtype=float)
    # the chain's own running statistics are the networks' statistics
    np.testing.assert_allclose(draws.statistics, draw_stats, atol=1e-9)
    p, cells = chi_square_p(exact, log_weights, draw_stats)
    assert cells > 5
    assert p > LEVEL, f"{name}: chi-square p = {p:.2g} over {cells} cells"


def test_the_exactness_test_has_power():
    """Draws from slightly wrong coefficients (triangle 0.35 -> 0.5) fail the same test, and plain
    Metropolis (random dyads only, no TNT correction needed) passes it."""
    import dyadflow.tergm.simulation as simulation

    directed, n, formula, coef, statistics, _ = MODELS["edges+triangle"]
    panel = one_period_panel(n, directed)
    nets = all_networks(n, directed)
    exact = np.array([statistics(A) for A in nets], dtype=float)
    wrong = simulate(model_fit(formula, panel, [-0.4, 0.5]), nsim=20000, burnin=500, interval=30, seed=3).periods[0]
    stats = np.array([statistics(wrong.network(k)) for k in range(wrong.nsim)])
    assert chi_square_p(exact, exact @ np.asarray(coef), stats)[0] < 1e-6
    original = simulation.TNT_DYAD_PROBABILITY
    try:
        simulation.TNT_DYAD_PROBABILITY = 1.0
        plain = simulate(model_fit(formula, panel, coef), nsim=20000, burnin=500, interval=30, seed=3).periods[0]
    finally:
        simulation.TNT_DYAD_PROBABILITY = original
    stats = np.array([statistics(plain.network(k)) for k in range(plain.nsim)])
    assert chi_square_p(exact, exact @ np.asarray(coef), stats)[0] > LEVEL


def test_toggle_keeps_state_equal_to_a_fresh_build():
    rng = np.random.default_rng(5)
    for directed in (False, True):
        n = 8
        A = (rng.random((n, n)) < 0.3).astype(np.uint8)
        np.fill_diagonal(A, 0)
        if not directed:
            A = np.triu(A, 1)
            A = A | A.T
        net = sampler_state(A, directed)
        for _ in range(200):
            i, j = rng.choice(n, 2, replace=False)
            toggle(net, int(i), int(j))
            ref = network_state(net.adj.copy(), directed)
            for field in ("adj", "outdeg", "indeg", "paths", "out_shared", "in_shared", "out_ptr", "in_ptr"):
                assert np.array_equal(getattr(net, field), getattr(ref, field)), field
            assert np.array_equal(net.out_nbr[: net.out_ptr[-1]], ref.out_nbr)
            assert np.array_equal(net.in_nbr[: net.in_ptr[-1]], ref.in_nbr)


def test_same_seed_same_draws_and_bad_input():
    directed, n, formula, coef, statistics, make_panel = MODELS["memory"]
    panel = make_panel()
    fit = model_fit(formula, panel, coef, temporal=True)
    a = simulate(fit, nsim=50, burnin=100, interval=10, seed=11)
    b = simulate(
        fit,
        nsim=50,
        burnin=100,
        interval=10,
        seed=11,
        map_tasks=lambda fn, items: [fn(item) for item in reversed(items)][::-1],
    )
    assert np.array_equal(a.periods[0].tie_dyads, b.periods[0].tie_dyads)
    assert np.array_equal(a.periods[0].statistics, b.periods[0].statistics)
    c = simulate(fit, nsim=50, burnin=100, interval=10, seed=12)
    assert not np.array_equal(a.periods[0].tie_dyads, c.periods[0].tie_dyads)
    with pytest.raises(SimulationError, match="nsim"):
        simulate(fit, nsim=0)
    with pytest.raises(SimulationError, match="burnin"):
        simulate(fit, burnin=-1)
    with pytest.raises(SimulationError, match="interval"):
        simulate(fit, interval=-5)
    with pytest.raises(SimulationError, match="period '7'"):
        simulate(fit, periods=["7"])
    with pytest.raises(SimulationError, match="lagged"):
        simulate(fit, periods=["1"])


@pytest.mark.parametrize("n", [14, 150])  # one 64-bit word of neighbour bits per row, and three
@pytest.mark.parametrize("directed", [False, True])
def test_fast_path_change_statistics_equal_the_kernels(directed, n):
    """The fast chain's change statistics (kernels/sampler_fast.py) are the registry kernels' numbers
    on every dyad of random networks, ties present or absent."""
    from dyadflow.kernels.dispatch import CODES, dyad_change_matrix, dyad_index
    from dyadflow.kernels.sampler_fast import fast_change_statistics, fast_terms

    formula = (
        "y ~ edges + mutual + gwesp(0.5, fixed = TRUE) + gwesp(1.3, fixed = TRUE, type = 'OTP') + "
        "gwidegree(0.3, fixed = TRUE) + gwodegree(0.9, fixed = TRUE)"
        if directed
        else "y ~ edges + triangle + gwesp(0.5, fixed = TRUE) + gwesp(0.0, fixed = TRUE) + gwdegree(0.7, fixed = TRUE)"
    )
    model = parse_model(formula, one_period_panel(n, directed))
    kinds = fast_terms(model.codes, model.par_offsets, model.params, directed, CODES)
    assert kinds is not None and len(kinds) == len(model.codes)
    rng = np.random.default_rng(3)
    dyads = dyad_index(n, directed)
    for density in (0.1, 0.3, 0.6):
        A = (rng.random((n, n)) < density).astype(np.uint8)
        np.fill_diagonal(A, 0)
        if not directed:
            A = np.triu(A, 1)
            A = A | A.T
        expected = dyad_change_matrix(
            model.codes, model.par_offsets, model.params, model.kernel_col_offsets, network_state(A, directed)
        )
        got = fast_change_statistics(
            kinds, model.par_offsets, model.params, model.kernel_col_offsets, A, directed, dyads
        )
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-12)


def test_fast_path_is_chosen_only_for_its_terms():
    from dyadflow.kernels.dispatch import CODES
    from dyadflow.kernels.sampler_fast import fast_terms

    def kinds(formula, directed):
        model = parse_model(formula, one_period_panel(6, directed))
        return fast_terms(model.codes, model.par_offsets, model.params, directed, CODES)

    assert kinds("y ~ edges + gwesp(0.5, fixed = TRUE) + gwdegree(0.5, fixed = TRUE)", False) is not None
    assert kinds("y ~ edges + kstar(2)", False) is None
    assert kinds("y ~ edges + triangle", True) is None  # directed triangle: generic kernels
    assert kinds("y ~ edges + gwesp(0.5, fixed = TRUE, type = 'OSP')", True) is None
