"""Degree-family change statistics (kernels/degree.py) against two independent references:

1. brute force: each statistic computed from its definition in plain numpy on the network with and
   without the dyad's tie, for every dyad of small random graphs (empty to complete);
2. ergm 4.6: every degree-family column of the ergmMPLE dyad lists in tests/data/reference.

Also the network state (kernels/network.py) and the row order of dispatch.dyad_change_matrix.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from conftest import reference_path

from dyadflow.kernels import degree as K
from dyadflow.kernels import registry
from dyadflow.kernels.dispatch import CODES, change, dyad_change_matrix, dyad_index
from dyadflow.kernels.network import network_state

# ---------------------------------------------------------------------------------------------
# brute-force statistics, straight from the definitions (no change-statistic algebra)


def _in_out_total(adj: np.ndarray, directed: bool):
    a = adj.astype(np.int64)
    outdeg, indeg = a.sum(axis=1), a.sum(axis=0)
    # Undirected: the degree. Directed: ergm's DEG() = in + out.
    total = outdeg + indeg if directed else outdeg
    return indeg, outdeg, total


def stat_edges(adj, directed, par):
    return [adj.sum() if directed else adj.sum() / 2]


def stat_mutual(adj, directed, par):
    return [sum(adj[a, b] * adj[b, a] for a in range(len(adj)) for b in range(a + 1, len(adj)))]


def stat_asymmetric(adj, directed, par):
    return [sum(int(adj[a, b] != adj[b, a]) for a in range(len(adj)) for b in range(a + 1, len(adj)))]


def stat_kstar(adj, directed, par):
    _, _, deg = _in_out_total(adj, directed)
    return [sum(math.comb(int(d), int(k)) for d in deg) for k in par]


def stat_istar(adj, directed, par):
    indeg, _, _ = _in_out_total(adj, directed)
    return [sum(math.comb(int(d), int(k)) for d in indeg) for k in par]


def stat_ostar(adj, directed, par):
    _, outdeg, _ = _in_out_total(adj, directed)
    return [sum(math.comb(int(d), int(k)) for d in outdeg) for k in par]


def stat_twopath(adj, directed, par):
    n = len(adj)
    if directed:  # ordered a -> b -> c, a != c
        return [sum(adj[a, b] * adj[b, c] for a in range(n) for b in range(n) for c in range(n) if a != c)]
    # undirected: unordered end points {a, c} joined through b
    return [sum(adj[a, b] * adj[b, c] for b in range(n) for a in range(n) for c in range(a + 1, n))]


def stat_isolates(adj, directed, par):
    return [int(((adj.sum(axis=0) + adj.sum(axis=1)) == 0).sum())]


def stat_degree(adj, directed, par):
    _, _, deg = _in_out_total(adj, directed)
    return [int((deg == d).sum()) for d in par]


def stat_idegree(adj, directed, par):
    indeg, _, _ = _in_out_total(adj, directed)
    return [int((indeg == d).sum()) for d in par]


def stat_odegree(adj, directed, par):
    _, outdeg, _ = _in_out_total(adj, directed)
    return [int((outdeg == d).sum()) for d in par]


def _gw(degrees, decay):
    # Hunter (2007): e^decay * sum_{k>=1} (1 - (1 - e^-decay)^k) D_k, D_k = #nodes of degree k.
    counts = np.bincount(degrees, minlength=1)
    r = 1.0 - math.exp(-decay)
    return math.exp(decay) * sum((1.0 - r**k) * counts[k] for k in range(1, len(counts)))


def stat_gwdegree(adj, directed, par):
    return [_gw(_in_out_total(adj, directed)[2], par[0])]


def stat_gwidegree(adj, directed, par):
    return [_gw(_in_out_total(adj, directed)[0], par[0])]


def stat_gwodegree(adj, directed, par):
    return [_gw(_in_out_total(adj, directed)[1], par[0])]


BRUTE = {
    CODES["edges"]: stat_edges,
    CODES["mutual"]: stat_mutual,
    CODES["asymmetric"]: stat_asymmetric,
    CODES["kstar"]: stat_kstar,
    CODES["istar"]: stat_istar,
    CODES["ostar"]: stat_ostar,
    CODES["twopath"]: stat_twopath,
    CODES["isolates"]: stat_isolates,
    CODES["degree"]: stat_degree,
    CODES["idegree"]: stat_idegree,
    CODES["odegree"]: stat_odegree,
    CODES["gwdegree"]: stat_gwdegree,
    CODES["gwidegree"]: stat_gwidegree,
    CODES["gwodegree"]: stat_gwodegree,
}

ALL_CODES = {number for name, number in CODES.items() if registry.entries()[number].module.endswith(".degree")}

STARS = [1.0, 2.0, 3.0, 4.0]
DEGREES = [0.0, 1.0, 2.0, 3.0, 6.0, 20.0]
DECAYS = [0.0, 0.1, 0.5, 1.0, 3.0]

UNDIRECTED_TERMS = [
    (CODES["edges"], []),
    (CODES["kstar"], STARS),
    (CODES["twopath"], []),
    (CODES["isolates"], []),
    (CODES["degree"], DEGREES),
] + [(CODES["gwdegree"], [d]) for d in DECAYS]
DIRECTED_TERMS = (
    [
        (CODES["edges"], []),
        (CODES["mutual"], []),
        (CODES["asymmetric"], []),
        (CODES["istar"], STARS),
        (CODES["ostar"], STARS),
        (CODES["twopath"], []),
        (CODES["isolates"], []),
    ]
    + [(CODES["idegree"], DEGREES), (CODES["odegree"], DEGREES)]
    + [(CODES["gwidegree"], [d]) for d in DECAYS]
    + [(CODES["gwodegree"], [d]) for d in DECAYS]
)


def pack(terms):
    """Term list [(code, par), ...] -> the arrays dyad_change_matrix takes (one column per k/d)."""
    codes = np.array([code for code, _ in terms], dtype=np.int64)
    params = np.array([p for _, par in terms for p in par], dtype=np.float64)
    par_offsets = np.cumsum([0] + [len(par) for _, par in terms]).astype(np.int64)
    # Star and degree terms give one column per parameter; the others (gw* included) one column.
    widths = [len(par) if code in PER_PARAMETER_CODES else 1 for code, par in terms]
    col_offsets = np.cumsum([0] + widths).astype(np.int64)
    return codes, par_offsets, params, col_offsets


PER_PARAMETER_CODES = {
    CODES["kstar"],
    CODES["istar"],
    CODES["ostar"],
    CODES["degree"],
    CODES["idegree"],
    CODES["odegree"],
}


def random_graph(n: int, density: float, directed: bool, rng: np.random.Generator) -> np.ndarray:
    adj = (rng.random((n, n)) < density).astype(np.uint8)
    if not directed:
        adj = np.triu(adj, 1)
        adj = adj | adj.T
    np.fill_diagonal(adj, 0)
    return adj


def brute_change_rows(adj, directed, terms):
    rows = []
    for i, j in dyad_index(len(adj), directed):
        with_tie, without_tie = adj.copy(), adj.copy()
        with_tie[i, j] = 1
        without_tie[i, j] = 0
        if not directed:
            with_tie[j, i] = 1
            without_tie[j, i] = 0
        row = []
        for code, par in terms:
            statistic = BRUTE[code]
            row += list(np.subtract(statistic(with_tie, directed, par), statistic(without_tie, directed, par)))
        rows.append(row)
    return np.array(rows, dtype=np.float64)


def test_brute_force_covers_every_code():
    assert set(BRUTE) == ALL_CODES
    assert {code for code, _ in UNDIRECTED_TERMS + DIRECTED_TERMS} == ALL_CODES


@pytest.mark.parametrize("directed", [False, True], ids=["undirected", "directed"])
@pytest.mark.parametrize("density", [0.0, 0.15, 0.4, 0.7, 1.0])
def test_change_equals_brute_force_difference(directed, density):
    terms = DIRECTED_TERMS if directed else UNDIRECTED_TERMS
    rng = np.random.default_rng(int(density * 100) + 7 * directed)
    for n in (2, 3, 7):
        adj = random_graph(n, density, directed, rng)
        net = network_state(adj, directed)
        got = dyad_change_matrix(*pack(terms), net)
        want = brute_change_rows(adj, directed, terms)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"n={n} density={density}")


@pytest.mark.parametrize("directed", [False, True], ids=["undirected", "directed"])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.9])
def test_per_tail_passes_equal_the_per_dyad_kernel_bit_for_bit(directed, density):
    """edges and the gw-degree terms are filled per tail (kernels.degree.degree_tail_rows) from a
    weight table; the numbers must be exactly those of `change` called per dyad."""
    terms = [
        (code, par)
        for code, par in (DIRECTED_TERMS if directed else UNDIRECTED_TERMS)
        if code in (CODES["edges"], CODES["gwdegree"], CODES["gwidegree"], CODES["gwodegree"])
    ]
    terms += [(CODES["gwdegree"], [0.7])] if directed else []  # DEG() = in + out, the table's longest range
    rng = np.random.default_rng(int(density * 100) + directed)
    adj = random_graph(40, density, directed, rng)
    net = network_state(adj, directed)
    packed = pack(terms)
    codes, par_offsets, params, col_offsets = packed
    want = np.zeros((len(dyad_index(40, directed)), col_offsets[-1]))
    for row, (i, j) in enumerate(dyad_index(40, directed)):
        for t, code in enumerate(codes):
            change(code, net, i, j, params[par_offsets[t] : par_offsets[t + 1]], want[row], col_offsets[t])
    np.testing.assert_array_equal(dyad_change_matrix(*packed, net), want)
    # into a caller's buffer: overwritten, whatever it held
    buffer = np.full_like(want, np.nan)
    assert dyad_change_matrix(*packed, net, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, want)
    # into a window of wider rows (a design's own columns): the other columns are left as they were
    wide = np.full((len(want), want.shape[1] + 3), 7.0)
    dyad_change_matrix(codes, par_offsets, params, col_offsets + 2, net, out=wide)
    np.testing.assert_array_equal(wide[:, 2 : 2 + want.shape[1]], want)
    assert (wide[:, :2] == 7.0).all() and (wide[:, 2 + want.shape[1] :] == 7.0).all()
    narrow = np.empty((len(want), want.shape[1] - 1))
    for wrong in (
        np.empty((len(want) + 1, want.shape[1])),
        np.empty(want.shape, np.float32),
        np.empty(want.T.shape).T,
        narrow,
    ):
        with pytest.raises(ValueError, match="out must be"):
            dyad_change_matrix(*packed, net, out=wrong)


def test_directed_degree_terms_use_total_degree():
    """kstar/degree/gwdegree on a directed network use ergm's DEG() = in + out (brute force agrees)."""
    terms = [(CODES["kstar"], STARS), (CODES["degree"], DEGREES), (CODES["gwdegree"], [0.7])]
    rng = np.random.default_rng(3)
    adj = random_graph(6, 0.4, True, rng)
    got = dyad_change_matrix(*pack(terms), network_state(adj, True))
    np.testing.assert_allclose(got, brute_change_rows(adj, True, terms), rtol=1e-12, atol=1e-12)


def test_choose():
    for n in range(0, 40):
        for r in range(-1, 12):
            want = math.comb(n, r) if r >= 0 else 0
            assert K.choose(n, r) == want


# ---------------------------------------------------------------------------------------------
# ergm 4.6 ground truth

COLUMN_PATTERNS = [
    (r"edges", CODES["edges"]),
    (r"mutual", CODES["mutual"]),
    (r"kstar(\d+)", CODES["kstar"]),
    (r"istar(\d+)", CODES["istar"]),
    (r"ostar(\d+)", CODES["ostar"]),
    (r"twopath", CODES["twopath"]),
    (r"isolates", CODES["isolates"]),
    (r"degree(\d+)", CODES["degree"]),
    (r"idegree(\d+)", CODES["idegree"]),
    (r"odegree(\d+)", CODES["odegree"]),
    (r"gwdeg\.fixed\.([\d.]+)", CODES["gwdegree"]),
    (r"gwideg\.fixed\.([\d.]+)", CODES["gwidegree"]),
    (r"gwodeg\.fixed\.([\d.]+)", CODES["gwodegree"]),
]


def degree_family_term(column: str):
    """ergm column name -> (code, par) of our kernel, or None for other families."""
    for pattern, code in COLUMN_PATTERNS:
        match = re.fullmatch(pattern, column)
        if match:
            return code, [float(g) for g in match.groups()]
    return None


GROUND_TRUTH = json.loads(reference_path("results/mple_groundtruth.json").read_text())
DYADLIST_MODELS = sorted(k for k in GROUND_TRUTH if k != "versions")


# Terms added after R's reference was made: checked against ergm's C definitions by brute force
# (tests/test_term_definitions.py, tests/test_term_checks.py) instead of ergmMPLE's numbers.
AFTER_THE_R_REFERENCE = {CODES["asymmetric"]}


def test_reference_covers_every_code():
    covered = set()
    for model in DYADLIST_MODELS:
        covered |= {t[0] for c in GROUND_TRUTH[model]["columns"] if (t := degree_family_term(c))}
    assert covered == ALL_CODES - AFTER_THE_R_REFERENCE


@pytest.mark.parametrize("model", DYADLIST_MODELS)
def test_matches_ergm_mple_dyadlist(model):
    info = GROUND_TRUTH[model]
    directed = bool(info["directed"])
    table = pd.read_csv(reference_path(f"mple_matrices/{model}_mple_dyadlist.csv"))
    n = int(info["n_nodes"])
    tails, heads = table["tail"].to_numpy() - 1, table["head"].to_numpy() - 1
    adj = np.zeros((n, n), dtype=np.uint8)
    adj[tails, heads] = table["response"].to_numpy()
    if not directed:
        assert (tails < heads).all()
        adj = adj | adj.T
    assert adj.sum() == (1 if directed else 2) * info["n_edges"]

    columns = [c for c in info["columns"] if degree_family_term(c)]
    assert columns, f"{model} has no degree-family column"
    terms = [degree_family_term(c) for c in columns]
    got = dyad_change_matrix(*pack(terms), network_state(adj, directed))

    # Our rows are in dyad_index order; place the file's rows there.
    row_of = {(int(i), int(j)): r for r, (i, j) in enumerate(dyad_index(n, directed))}
    rows = np.array([row_of[(i, j)] for i, j in zip(tails, heads)])
    assert len(rows) == len(row_of)
    for c, column in enumerate(columns):
        want = table[column].to_numpy(dtype=np.float64)
        np.testing.assert_allclose(got[rows, c], want, rtol=0, atol=1e-9, err_msg=f"{model}: {column}")
        # ergm's own arithmetic (pow(1 - exp(-decay), d) for the gw terms): the same doubles.
        np.testing.assert_array_equal(got[rows, c], want, err_msg=f"{model}: {column} not bit-identical")


# ---------------------------------------------------------------------------------------------
# network state and the dispatch driver


@pytest.mark.parametrize("directed", [False, True], ids=["undirected", "directed"])
def test_network_state_counts(directed):
    rng = np.random.default_rng(11)
    adj = random_graph(9, 0.35, directed, rng)
    net = network_state(adj, directed)
    n = len(adj)
    assert net.directed is directed
    assert net.adj.dtype == np.uint8 and net.adj.flags.c_contiguous
    for v in range(n):
        assert net.outdeg[v] == sum(adj[v, w] for w in range(n))
        assert net.indeg[v] == sum(adj[w, v] for w in range(n))
    for a in range(n):
        for b in range(n):
            assert net.paths[a, b] == sum(adj[a, k] and adj[k, b] for k in range(n))
            assert net.out_shared[a, b] == sum(adj[a, k] and adj[b, k] for k in range(n))
            assert net.in_shared[a, b] == sum(adj[k, a] and adj[k, b] for k in range(n))


@pytest.mark.parametrize(
    "adj, directed, problem",
    [
        (np.zeros((3, 4)), True, "square"),
        (np.array([[0, 2], [0, 0]]), True, "only 0 and 1"),
        (np.array([[0, np.nan], [0, 0]]), True, "only 0 and 1"),
        (np.eye(3), True, "zero diagonal"),
        (np.array([[0, 1], [0, 0]]), False, "symmetric"),
    ],
)
def test_network_state_rejects_bad_adjacency(adj, directed, problem):
    with pytest.raises(ValueError, match=problem):
        network_state(adj, directed)


@pytest.mark.parametrize("directed", [False, True], ids=["undirected", "directed"])
def test_dyad_change_matrix_rows_follow_dyad_index(directed):
    n = 8
    index = dyad_index(n, directed)
    # ergm's order: tail-major, heads ascending; i != j directed, i < j undirected.
    expected = [(i, j) for i in range(n) for j in range(n) if (j != i if directed else j > i)]
    assert [tuple(r) for r in index] == expected

    rng = np.random.default_rng(5)
    adj = random_graph(n, 0.4, directed, rng)
    net = network_state(adj, directed)
    terms = DIRECTED_TERMS if directed else UNDIRECTED_TERMS
    codes, par_offsets, params, col_offsets = pack(terms)
    matrix = dyad_change_matrix(codes, par_offsets, params, col_offsets, net)
    assert matrix.shape == (len(index), col_offsets[-1])
    for r, (i, j) in enumerate(index):
        row = np.zeros(col_offsets[-1])
        for t, code in enumerate(codes):
            change(code, net, i, j, params[par_offsets[t] : par_offsets[t + 1]], row, col_offsets[t])
        np.testing.assert_array_equal(matrix[r], row, err_msg=f"row {r} = dyad ({i}, {j})")
    # The rows differ between dyads (the check above is not vacuous).
    assert len({tuple(row) for row in matrix}) > 1


def test_dispatch_cache_follows_every_kernel_module():
    """numba would key dispatch's disk cache on dispatch.py alone; an edit to kernels/degree.py must
    make it stale too (otherwise the cached driver keeps running the old kernels)."""
    from dyadflow.kernels import _generated, dispatch
    from dyadflow.kernels.cache import kernel_sources_stamp

    drivers = dispatch._drivers((CODES["edges"], CODES["gwdegree"]))
    compiled = (drivers.design, drivers.tail_rows, drivers.change, drivers.statistics_from_empty)
    for dispatcher in (dispatch.change, *_generated.ROWS, *compiled):
        stamp = dispatcher._cache._cache_file._source_stamp
        assert stamp[1] == kernel_sources_stamp()
    assert any(name == "degree.py" for name, _, _ in kernel_sources_stamp())


def test_unknown_degree_code_is_an_error():
    net = network_state(np.zeros((3, 3), dtype=np.uint8), True)
    with pytest.raises(ValueError, match="unknown change-statistic code"):
        change(99, net, 0, 1, np.zeros(0), np.zeros(1), 0)
