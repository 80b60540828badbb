"""Triangle and shared-partner kernels (kernels/triadic.py).

1. On small random graphs every kernel's change statistic equals the brute-force difference
   stat(y + ij) - stat(y - ij), the statistics computed here from ergm's definitions by
   enumerating node triples (independently of the path-count matrices the kernels use).
2. Every triangle / shared-partner column of ergm's own MPLE change statistics (ergmMPLE output in
   tests/data/reference/mple_matrices) is reproduced for every dyad.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from conftest import reference_path

from dyadflow.kernels import triadic
from dyadflow.kernels.dispatch import CODES as DISPATCH_CODES
from dyadflow.kernels.dispatch import change, dyad_change_matrix, dyad_index
from dyadflow.kernels.network import network_state

SP_NAMES = ("OTP", "ITP", "RTP", "OSP", "ISP")


# ---------------------------------------------------------------- brute force from the definitions


def shared_partner_matrix(adj: np.ndarray, directed: bool, sp_type: str) -> np.ndarray:
    """S[i, j] = number of shared partners k of the ordered pair (i, j), by enumeration."""
    n = adj.shape[0]
    a = adj.astype(bool)
    counts = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            for k in range(n):
                if k in (i, j):
                    continue
                if not directed or sp_type == "OTP":
                    partner = a[i, k] and a[k, j]
                elif sp_type == "ITP":
                    partner = a[j, k] and a[k, i]
                elif sp_type == "RTP":
                    partner = a[i, k] and a[k, i] and a[j, k] and a[k, j]
                elif sp_type == "OSP":
                    partner = a[i, k] and a[j, k]
                else:  # ISP
                    partner = a[k, i] and a[k, j]
                counts[i, j] += partner
    return counts


def dyad_pairs(n: int, directed: bool) -> list[tuple[int, int]]:
    if directed:
        return [(i, j) for i in range(n) for j in range(n) if i != j]
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def geometric_weight(decay: float, partners: int) -> float:
    """ergm's fixed-decay weight of one edge/dyad: e^a (1 - (1 - e^-a)^k)."""
    return math.exp(decay) * (1.0 - (1.0 - math.exp(-decay)) ** partners)


def brute_statistics(adj: np.ndarray, directed: bool, terms: list[tuple[str, tuple]]) -> np.ndarray:
    """All statistics of `terms` ((name, args) pairs) on the network `adj`, from the definitions."""
    n = adj.shape[0]
    a = adj.astype(bool)
    dyads = dyad_pairs(n, directed)
    edges = [(i, j) for i, j in dyads if a[i, j]]
    sp_cache: dict[str, np.ndarray] = {}

    def sp(sp_type):
        key = sp_type if directed else "UTP"
        if key not in sp_cache:
            sp_cache[key] = shared_partner_matrix(adj, directed, sp_type)
        return sp_cache[key]

    triples = [(i, j, k) for i in range(n) for j in range(n) for k in range(n) if len({i, j, k}) == 3]
    transitive = sum(1 for i, j, k in triples if a[i, j] and a[j, k] and a[i, k])
    cyclic = sum(1 for i, j, k in triples if a[i, j] and a[j, k] and a[k, i]) // 3  # 3 rotations

    values: list[float] = []
    for name, args in terms:
        if name == "triangle":
            if directed:
                values.append(transitive + cyclic)
            else:
                values.append(sum(1 for i, j, k in triples if i < j < k and a[i, j] and a[j, k] and a[i, k]))
        elif name == "ttriple":
            values.append(transitive)
        elif name == "ctriple":
            values.append(cyclic)
        elif name == "transitiveties":
            s = sp("OTP")
            values.append(sum(1 for i, j in edges if s[i, j] > 0))
        elif name == "cyclicalties":
            s = sp("ITP")
            values.append(sum(1 for i, j in edges if s[i, j] > 0))
        elif name in ("gwesp", "gwdsp", "gwnsp"):
            decay, sp_type = args
            s = sp(sp_type)
            on_edges = sum(geometric_weight(decay, s[i, j]) for i, j in edges)
            on_dyads = sum(geometric_weight(decay, s[i, j]) for i, j in dyads)
            values.append({"gwesp": on_edges, "gwdsp": on_dyads, "gwnsp": on_dyads - on_edges}[name])
        elif name in ("esp", "dsp", "nsp"):
            sp_type, ds = args
            s = sp(sp_type)
            for d in ds:
                on_edges = sum(1 for i, j in edges if s[i, j] == d)
                on_dyads = sum(1 for i, j in dyads if s[i, j] == d)
                values.append({"esp": on_edges, "dsp": on_dyads, "nsp": on_dyads - on_edges}[name])
        else:
            raise AssertionError(f"no brute force for {name}")
    return np.array(values, dtype=float)


def brute_change_matrix(adj: np.ndarray, directed: bool, terms) -> np.ndarray:
    rows = []
    for i, j in dyad_pairs(adj.shape[0], directed):
        with_tie, without_tie = adj.copy(), adj.copy()
        with_tie[i, j] = 1
        without_tie[i, j] = 0
        if not directed:
            with_tie[j, i] = 1
            without_tie[j, i] = 0
        rows.append(brute_statistics(with_tie, directed, terms) - brute_statistics(without_tie, directed, terms))
    return np.array(rows)


# ---------------------------------------------------------------- kernels through the dispatcher

CODES = {
    "triangle": DISPATCH_CODES["triangle"],
    "ttriple": DISPATCH_CODES["ttriple"],
    "ctriple": DISPATCH_CODES["ctriple"],
    "transitiveties": DISPATCH_CODES["transitiveties"],
    "cyclicalties": DISPATCH_CODES["cyclicalties"],
    "gwesp": DISPATCH_CODES["gwesp"],
    "gwdsp": DISPATCH_CODES["gwdsp"],
    "gwnsp": DISPATCH_CODES["gwnsp"],
    "esp": DISPATCH_CODES["esp"],
    "dsp": DISPATCH_CODES["dsp"],
    "nsp": DISPATCH_CODES["nsp"],
}


def kernel_parameters(name: str, args: tuple) -> list[float]:
    """The documented parameter layout of each code."""
    if name in ("gwesp", "gwdsp", "gwnsp"):
        decay, sp_type = args
        return [decay, triadic.sp_type_code(sp_type)]
    if name in ("esp", "dsp", "nsp"):
        sp_type, ds = args
        return [triadic.sp_type_code(sp_type), *ds]
    return []


def kernel_change_matrix(adj: np.ndarray, directed: bool, terms) -> np.ndarray:
    codes, params, par_offsets, col_offsets = [], [], [0], [0]
    for name, args in terms:
        par = kernel_parameters(name, args)
        codes.append(CODES[name])
        params.extend(par)
        par_offsets.append(len(params))
        col_offsets.append(col_offsets[-1] + (len(par) - 1 if name in ("esp", "dsp", "nsp") else 1))
    return dyad_change_matrix(
        np.array(codes, dtype=np.int64),
        np.array(par_offsets, dtype=np.int64),
        np.array(params, dtype=np.float64),
        np.array(col_offsets, dtype=np.int64),
        network_state(adj, directed),
    )


def random_adjacency(rng: np.random.Generator, n: int, density: float, directed: bool) -> np.ndarray:
    adj = (rng.random((n, n)) < density).astype(np.uint8)
    if not directed:
        adj = np.triu(adj, 1)
        adj = adj | adj.T
    np.fill_diagonal(adj, 0)
    return adj


def sp_terms(sp_type: str) -> list[tuple[str, tuple]]:
    ks = (0, 1, 2, 3)
    return [
        ("gwesp", (0.5, sp_type)),
        ("gwesp", (0.0, sp_type)),
        ("gwesp", (1.7, sp_type)),
        ("gwdsp", (0.5, sp_type)),
        ("gwdsp", (0.0, sp_type)),
        ("gwnsp", (0.8, sp_type)),
        ("esp", (sp_type, ks)),
        ("dsp", (sp_type, ks)),
        ("nsp", (sp_type, ks)),
    ]


DIRECTED_TERMS = [("triangle", ()), ("ttriple", ()), ("ctriple", ()), ("transitiveties", ()), ("cyclicalties", ())]
for _sp_type in SP_NAMES:
    DIRECTED_TERMS += sp_terms(_sp_type)
# Undirected networks ignore the type (ergm uses plain shared partners); pass two to prove it.
UNDIRECTED_TERMS = [("triangle", ())] + sp_terms("OTP") + sp_terms("OSP")

GRAPHS = [(seed, density) for density in (0.0, 0.15, 0.4, 0.65, 1.0) for seed in (1, 2)]


@pytest.mark.parametrize("seed,density", GRAPHS)
def test_directed_changes_match_brute_force(seed, density):
    rng = np.random.default_rng(1000 + seed)
    adj = random_adjacency(rng, 7, density, directed=True)
    expected = brute_change_matrix(adj, True, DIRECTED_TERMS)
    np.testing.assert_allclose(kernel_change_matrix(adj, True, DIRECTED_TERMS), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed,density", GRAPHS)
def test_undirected_changes_match_brute_force(seed, density):
    rng = np.random.default_rng(2000 + seed)
    adj = random_adjacency(rng, 8, density, directed=False)
    expected = brute_change_matrix(adj, False, UNDIRECTED_TERMS)
    np.testing.assert_allclose(kernel_change_matrix(adj, False, UNDIRECTED_TERMS), expected, rtol=0, atol=1e-10)


def per_dyad_change_matrix(adj: np.ndarray, directed: bool, terms) -> np.ndarray:
    """The same matrix from kernels.dispatch.change called once per dyad: the reference the
    per-tail passes of dyad_change_matrix (gwesp, esp) must equal bit for bit."""
    net = network_state(adj, directed)
    pairs = dyad_index(adj.shape[0], directed)
    blocks = []
    for name, args in terms:
        par = np.array(kernel_parameters(name, args), dtype=np.float64)
        width = len(par) - 1 if name in ("esp", "dsp", "nsp") else 1
        block = np.zeros((len(pairs), width))
        for row, (i, j) in enumerate(pairs):
            change(CODES[name], net, int(i), int(j), par, block[row], 0)
        blocks.append(block)
    return np.hstack(blocks)


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("density", [0.05, 0.2, 0.5, 0.9])
def test_per_tail_passes_equal_the_per_dyad_kernels_bit_for_bit(directed, density):
    rng = np.random.default_rng(int(density * 100) + directed)
    adj = random_adjacency(rng, 40, density, directed)
    terms = [
        (name, args)
        for sp in (SP_NAMES if directed else ("OTP",))
        for name, args in [*sp_terms(sp), ("gwesp", (150.0, sp))]  # and ergm's large-decay limit
        if name in ("gwesp", "esp")
    ]
    np.testing.assert_array_equal(
        kernel_change_matrix(adj, directed, terms), per_dyad_change_matrix(adj, directed, terms)
    )


def test_reciprocated_shared_partners_on_a_dense_mutual_graph():
    """RTP needs many mutual ties to be exercised: symmetric core plus a few one-way ties."""
    rng = np.random.default_rng(7)
    core = random_adjacency(rng, 8, 0.7, directed=False)
    adj = core | random_adjacency(rng, 8, 0.2, directed=True)
    terms = sp_terms("RTP")
    expected = brute_change_matrix(adj, True, terms)
    assert np.abs(expected).sum() > 0
    np.testing.assert_allclose(kernel_change_matrix(adj, True, terms), expected, rtol=0, atol=1e-10)


def test_unknown_shared_partner_type_is_rejected_with_its_name():
    with pytest.raises(ValueError, match="'XYZ'"):
        triadic.sp_type_code("XYZ")
    assert triadic.sp_type_code("osp") == triadic.SP_TYPES["OSP"] == 3


# ---------------------------------------------------------------- ergm's own MPLE change statistics

_GW_COLUMN = re.compile(r"^(gwesp|gwdsp|gwnsp)(?:\.(OTP|ITP|RTP|OSP|ISP))?\.fixed\.([0-9.]+)$")
_SP_COLUMN = re.compile(r"^(esp|dsp|nsp)(?:\.(OTP|ITP|RTP|OSP|ISP))?(\d+)$")
_PLAIN = {"triangle", "ttriple", "ctriple", "transitiveties", "cyclicalties"}


def term_of_column(column: str):
    """(name, args) of an ergm column name this module implements, else None."""
    if column in _PLAIN:
        return column, ()
    match = _GW_COLUMN.match(column)
    if match:
        name, sp_type, decay = match.groups()
        return name, (float(decay), sp_type or "OTP")
    match = _SP_COLUMN.match(column)
    if match:
        name, sp_type, d = match.groups()
        return name, (sp_type or "OTP", (int(d),))
    return None


REFERENCE_FILES = {
    "flomarriage_many_terms": (
        False,
        {
            "triangle",
            "esp0",
            "esp1",
            "esp2",
            "esp3",
            "dsp0",
            "dsp1",
            "dsp2",
            "dsp3",
            "gwesp.fixed.0",
            "gwesp.fixed.0.25",
            "gwesp.fixed.0.5",
            "gwesp.fixed.1",
            "gwdsp.fixed.0.5",
        },
    ),
    "flomarriage_edges_triangle": (False, {"triangle"}),
    "flomarriage_edges_gwesp025": (False, {"gwesp.fixed.0.25"}),
    "fauxmesa_edges_nmGrade_gwesp05": (False, {"gwesp.fixed.0.5"}),
    "knecht_wave2_sym_gw_model": (False, {"gwesp.fixed.0.5"}),
    "knecht_wave2_gw_model": (True, {"gwesp.OTP.fixed.0.5"}),
    "knecht_wave2_many_terms": (
        True,
        {
            "ttriple",
            "ctriple",
            "transitiveties",
            "cyclicalties",
            "gwesp.OTP.fixed.0.5",
            "gwesp.ITP.fixed.0.5",
            "gwesp.RTP.fixed.0.5",
            "gwesp.OSP.fixed.0.5",
            "gwesp.ISP.fixed.0.5",
            "gwesp.OTP.fixed.0",
            "gwesp.OTP.fixed.1",
            "gwdsp.OTP.fixed.0.5",
        },
    ),
}


@pytest.mark.parametrize("stem", sorted(REFERENCE_FILES))
def test_ergm_mple_change_statistics_reproduced(stem):
    directed, expected_columns = REFERENCE_FILES[stem]
    table = pd.read_csv(reference_path(f"mple_matrices/{stem}_mple_dyadlist.csv"))
    tails = table["tail"].to_numpy() - 1
    heads = table["head"].to_numpy() - 1
    n = int(max(tails.max(), heads.max())) + 1
    assert len(table) == (n * (n - 1) if directed else n * (n - 1) // 2), "dyad list must list every dyad"
    adj = np.zeros((n, n), dtype=np.uint8)
    adj[tails, heads] = table["response"].to_numpy()
    if not directed:
        assert (tails < heads).all()
        adj[heads, tails] = adj[tails, heads]

    columns = [c for c in table.columns if term_of_column(c) is not None]
    assert set(columns) == expected_columns
    terms = [term_of_column(c) for c in columns]
    ours = kernel_change_matrix(adj, directed, terms)

    # Align our rows (ergm's dyad order) with the file's rows by (tail, head).
    index = dyad_index(n, directed)
    row_of = {(int(t), int(h)): r for r, (t, h) in enumerate(index)}
    rows = np.array([row_of[(int(t), int(h))] for t, h in zip(tails, heads)])
    for position, column in enumerate(columns):
        np.testing.assert_allclose(
            ours[rows, position], table[column].to_numpy(dtype=float), rtol=0, atol=1e-9, err_msg=column
        )


def test_reference_groundtruth_lists_the_columns_we_check():
    """Guards against the reference files and their formula record drifting apart."""
    import json

    groundtruth = json.loads(reference_path("results/mple_groundtruth.json").read_text())
    for stem, (directed, expected_columns) in REFERENCE_FILES.items():
        if stem in groundtruth:
            assert groundtruth[stem]["directed"] == directed
            assert expected_columns <= set(groundtruth[stem]["columns"])
