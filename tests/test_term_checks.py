"""Common checks over the whole term registry (as scikit-learn's parametrize_with_checks over estimators).

For every registered term, with example arguments, on several random graphs, directed and undirected
where the term allows:

1. summary_statistics(y) (ergm's g(y): g(empty) + change statistics adding the ties one at a time)
   equals an INDEPENDENT reference g(y), written below in plain numpy from the term's definition;
2. the design's change statistic of every dyad equals the brute-force difference of that reference,
   g(y + ij) - g(y - ij);
3. the coefficient names are ergm's (those in tests/data/reference/mple_matrices are ergm's own output);
4. the kernel registry and the generated dispatch agree: every code has a branch, no orphan branch,
   every structural term's kernel is registered and every registered kernel serves a term;
5. the kernel's declared reach (kernels.registry.REACHES) holds: toggling any one tie changes the
   change statistics only of dyads `tergm.design.changed_rows` names for that reach, and those rows
   recomputed alone (the incremental update after rewiring) equal the whole design's, bit for bit.

A new term is picked up by these checks through the registry; its test duty is an EXAMPLES entry and a
REFERENCE definition (a registered term without them fails `test_every_term_has_examples_and_a_reference`).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest

from dyadflow.kernels import dispatch, registry
from dyadflow.kernels.network import network_state
from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import build_design, parse_model, summary_statistics
from dyadflow.tergm.terms import REGISTRY, StructuralTerm

# ---------------------------------------------------------------------------------------------
# Independent references g(y): adj (n, n) 0/1, directed, the term's arguments -> list of column values.


def _deg(adj, directed):
    a = adj.astype(np.int64)
    out, inn = a.sum(1), a.sum(0)
    return out, inn, (out + inn if directed else out)


def _dyads(n, directed):
    return [(i, j) for i in range(n) for j in range(n) if i != j and (directed or i < j)]


def _shared(adj, directed, sp_type):
    """(n, n) shared-partner counts of each ordered pair, by ergm's definitions of the types."""
    a = adj.astype(np.int64)
    n = len(a)
    sp = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            for k in range(n):
                if k in (i, j):
                    continue
                if not directed or sp_type == "OTP":
                    sp[i, j] += a[i, k] * a[k, j]
                elif sp_type == "ITP":
                    sp[i, j] += a[j, k] * a[k, i]
                elif sp_type == "RTP":
                    sp[i, j] += a[i, k] * a[k, i] * a[k, j] * a[j, k]
                elif sp_type == "OSP":
                    sp[i, j] += a[i, k] * a[j, k]
                else:  # ISP
                    sp[i, j] += a[k, i] * a[k, j]
    return sp


def _edges_of(adj, directed):
    return [(i, j) for i, j in _dyads(len(adj), directed) if adj[i, j]]


def _gw(counts, decay):
    return math.exp(decay) * sum(1 - (1 - math.exp(-decay)) ** c for c in counts)


def ref_edges(adj, directed):
    return [len(_edges_of(adj, directed))]


def ref_mutual(adj, directed):
    n = len(adj)
    return [sum(int(adj[i, j] and adj[j, i]) for i in range(n) for j in range(i + 1, n))]


def ref_asymmetric(adj, directed):
    n = len(adj)
    return [sum(int(adj[i, j] != adj[j, i]) for i in range(n) for j in range(i + 1, n))]


def ref_twopath(adj, directed):
    n = len(adj)
    if directed:
        return [sum(int(adj[a, b] and adj[b, c]) for a in range(n) for b in range(n) for c in range(n) if a != c)]
    return [sum(math.comb(int(d), 2) for d in _deg(adj, directed)[2])]


def ref_isolates(adj, directed):
    return [int((_deg(adj, directed)[2] == 0).sum())]


def _star(which):
    def ref(adj, directed, k):
        degrees = _deg(adj, directed)[which]
        return [sum(math.comb(int(d), int(c)) for d in degrees) for c in k]

    return ref


def _degree_count(which):
    def ref(adj, directed, d):
        degrees = _deg(adj, directed)[which]
        return [int((degrees == c).sum()) for c in d]

    return ref


def _gw_degree(which):
    def ref(adj, directed, decay, fixed=True):
        return [_gw(_deg(adj, directed)[which], decay)]

    return ref


def ref_triangle(adj, directed):
    n = len(adj)
    if not directed:
        return [
            sum(
                int(adj[i, j] and adj[j, k] and adj[i, k])
                for i in range(n)
                for j in range(i + 1, n)
                for k in range(j + 1, n)
            )
        ]
    return [ref_ttriple(adj, directed)[0] + ref_ctriple(adj, directed)[0]]


def ref_ttriple(adj, directed):
    n = len(adj)  # i->j, j->k, i->k: one per (i, j, k)
    return [
        sum(
            int(adj[i, j] and adj[j, k] and adj[i, k])
            for i in range(n)
            for j in range(n)
            for k in range(n)
            if len({i, j, k}) == 3
        )
    ]


def ref_ctriple(adj, directed):
    n = len(adj)  # i->j->k->i, each cycle once (three rotations)
    return [
        sum(
            int(adj[i, j] and adj[j, k] and adj[k, i])
            for i in range(n)
            for j in range(n)
            for k in range(n)
            if len({i, j, k}) == 3
        )
        // 3
    ]


def ref_transitiveties(adj, directed):
    sp = _shared(adj, True, "OTP")
    return [sum(int(sp[i, j] > 0) for i, j in _edges_of(adj, True))]


def ref_cyclicalties(adj, directed):
    sp = _shared(adj, True, "ITP")
    return [sum(int(sp[i, j] > 0) for i, j in _edges_of(adj, True))]


def ref_esp(adj, directed, d, type="OTP"):
    sp = _shared(adj, directed, type)
    return [sum(int(sp[i, j] == c) for i, j in _edges_of(adj, directed)) for c in d]


def ref_dsp(adj, directed, d, type="OTP"):
    sp = _shared(adj, directed, type)
    return [sum(int(sp[i, j] == c) for i, j in _dyads(len(adj), directed)) for c in d]


def ref_nsp(adj, directed, d, type="OTP"):
    return [a - b for a, b in zip(ref_dsp(adj, directed, d, type), ref_esp(adj, directed, d, type))]


def ref_gwesp(adj, directed, decay, fixed=True, type="OTP"):
    sp = _shared(adj, directed, type)
    return [_gw([sp[i, j] for i, j in _edges_of(adj, directed)], decay)]


def ref_gwdsp(adj, directed, decay, fixed=True, type="OTP"):
    sp = _shared(adj, directed, type)
    return [_gw([sp[i, j] for i, j in _dyads(len(adj), directed)], decay)]


def ref_gwnsp(adj, directed, decay, fixed=True, type="OTP"):
    sp = _shared(adj, directed, type)
    return [_gw([sp[i, j] for i, j in _dyads(len(adj), directed) if not adj[i, j]], decay)]


REFERENCE = {
    "edges": ref_edges,
    "mutual": ref_mutual,
    "asymmetric": ref_asymmetric,
    "twopath": ref_twopath,
    "isolates": ref_isolates,
    "kstar": _star(2),
    "istar": _star(1),
    "ostar": _star(0),
    "degree": _degree_count(2),
    "idegree": _degree_count(1),
    "odegree": _degree_count(0),
    "gwdegree": _gw_degree(2),
    "gwidegree": _gw_degree(1),
    "gwodegree": _gw_degree(0),
    "triangle": ref_triangle,
    "ttriple": ref_ttriple,
    "ctriple": ref_ctriple,
    "transitiveties": ref_transitiveties,
    "cyclicalties": ref_cyclicalties,
    "esp": ref_esp,
    "dsp": ref_dsp,
    "nsp": ref_nsp,
    "gwesp": ref_gwesp,
    "gwdsp": ref_gwdsp,
    "gwnsp": ref_gwnsp,
}

# Example calls of each structural term: (formula text, reference arguments, kwargs).
_SP = ("OTP", "ITP", "RTP", "OSP", "ISP")
EXAMPLES = {
    "edges": [("edges", (), {})],
    "mutual": [("mutual", (), {})],
    "asymmetric": [("asymmetric", (), {})],
    "twopath": [("twopath", (), {})],
    "isolates": [("isolates", (), {})],
    "kstar": [("kstar(c(1, 2, 3))", ([1, 2, 3],), {})],
    "istar": [("istar(c(0, 2, 3))", ([0, 2, 3],), {})],
    "ostar": [("ostar(c(1, 2))", ([1, 2],), {})],
    "degree": [("degree(c(0, 1, 3))", ([0, 1, 3],), {})],
    "idegree": [("idegree(c(0, 1, 2))", ([0, 1, 2],), {})],
    "odegree": [("odegree(c(0, 2))", ([0, 2],), {})],
    "gwdegree": [("gwdegree(0.5, fixed=TRUE)", (0.5,), {}), ("gwdegree(0, fixed=TRUE)", (0.0,), {})],
    "gwidegree": [("gwidegree(0.3, fixed=TRUE)", (0.3,), {})],
    "gwodegree": [("gwodegree(1.2, fixed=TRUE)", (1.2,), {})],
    "triangle": [("triangle", (), {})],
    "ttriple": [("ttriple", (), {})],
    "ctriple": [("ctriple", (), {})],
    "transitiveties": [("transitiveties", (), {})],
    "cyclicalties": [("cyclicalties", (), {})],
    **{
        name: [(f"{name}(c(0, 1, 2), type='{t}')", ([0, 1, 2],), {"type": t}) for t in _SP]
        for name in ("esp", "dsp", "nsp")
    },
    **{
        name: [(f"{name}(0.7, fixed=TRUE, type='{t}')", (0.7,), {"type": t}) for t in _SP]
        + [(f"{name}(0, fixed=TRUE)", (0.0,), {})]
        for name in ("gwesp", "gwdsp", "gwnsp")
    },
}

# Covariate terms: g(y) = sum over dyads of y_ij x_ij, x from plain numpy below (checked on a
# two-period panel with a numeric attribute, a factor and an edge covariate).
COVARIATE_EXAMPLES = {
    "nodecov": ["nodecov('size')"],
    "nodeocov": ["nodeocov('size')"],
    "nodeicov": ["nodeicov('size')"],
    "nodefactor": ["nodefactor('group')"],
    "nodeofactor": ["nodeofactor('group')"],
    "nodeifactor": ["nodeifactor('group')"],
    "nodematch": ["nodematch('group')", "nodematch('group', diff=TRUE)"],
    "absdiff": ["absdiff('size')", "absdiff('size', pow=2)"],
    "edgecov": ["edgecov('dist')"],
    "memory": [
        "memory(type='stability')",
        "memory(type='autoregression')",
        "memory(type='innovation')",
        "memory(type='loss')",
    ],
    "delrecip": ["delrecip", "delrecip(mutuality=TRUE)"],
    "timecov": ["timecov", "timecov(transform='linear')", "timecov('dist', transform='quadratic')"],
}


def random_graph(rng, n, density, directed):
    adj = (rng.random((n, n)) < density).astype(np.uint8)
    if not directed:
        adj = np.triu(adj, 1)
        adj = adj | adj.T
    np.fill_diagonal(adj, 0)
    return adj


GRAPHS = [
    (n, density, seed)
    for n, density, seed in ((1, 0.0, 0), (2, 1.0, 1), (6, 0.0, 2), (7, 0.3, 3), (8, 0.55, 4), (6, 1.0, 5))
]


def _structural_cases():
    for name, examples in sorted(EXAMPLES.items()):
        spec = REGISTRY.get(name)
        kinds = [True, False] if spec is None or spec.directed is None else [spec.directed]
        for directed in kinds:
            for text, args, kwargs in examples:
                if not directed and "type=" in text and "OTP" not in text and "OSP" not in text:
                    continue  # undirected networks ignore the type: two of them suffice
                yield pytest.param(
                    name, text, args, kwargs, directed, id=f"{text}-{'directed' if directed else 'undirected'}"
                )


def test_every_term_has_examples_and_a_reference():
    structural = set(EXAMPLES)
    assert structural <= set(REFERENCE)
    assert set(REGISTRY) == structural | set(COVARIATE_EXAMPLES), (
        "a registered term lacks common checks (EXAMPLES + REFERENCE, or COVARIATE_EXAMPLES), or a check "
        f"names no term: {sorted(set(REGISTRY) ^ (structural | set(COVARIATE_EXAMPLES)))}"
    )


@pytest.mark.parametrize("name,text,args,kwargs,directed", list(_structural_cases()))
def test_structural_term_summary_and_change_match_the_reference(name, text, args, kwargs, directed):
    reference = REFERENCE[name]
    for n, density, seed in GRAPHS:
        rng = np.random.default_rng(seed + 100 * directed)
        adj = random_graph(rng, n, density, directed)
        want = np.array(reference(adj, directed, *args, **kwargs), dtype=float)
        got = summary_statistics(f"y ~ {text}", adj, directed=directed).to_numpy()[0]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10, err_msg=f"g(y) of {text}, n={n}, seed={seed}")
        if n < 2:
            continue
        design = build_design(f"y ~ {text}", Panel.from_arrays([adj], directed=directed), temporal=False)
        for row, (i, j) in enumerate(design.dyads):
            with_tie, without = adj.copy(), adj.copy()
            with_tie[i, j] = 1
            without[i, j] = 0
            if not directed:
                with_tie[j, i] = 1
                without[j, i] = 0
            diff = np.array(reference(with_tie, directed, *args, **kwargs), dtype=float) - np.array(
                reference(without, directed, *args, **kwargs), dtype=float
            )
            np.testing.assert_allclose(
                design.X[row],
                diff,
                rtol=1e-10,
                atol=1e-10,
                err_msg=f"change of {text} at ({i}, {j}), n={n}, seed={seed}",
            )


REACH_GRAPHS = [(9, 0.25, 7), (8, 0.6, 8)]


@pytest.mark.parametrize("name,text,args,kwargs,directed", list(_structural_cases()))
def test_structural_term_reach_holds_and_partial_rows_equal_the_design(name, text, args, kwargs, directed):
    from dyadflow.tergm.design import changed_rows

    model = parse_model(f"y ~ {text}", Panel.from_arrays([np.zeros((3, 3), np.uint8)], directed=directed))
    reach = registry.reach(model.codes)
    assert reach == registry.entries()[int(model.codes[0])].reach
    packed = (model.codes, model.par_offsets, model.params, model.kernel_col_offsets)
    for n, density, seed in REACH_GRAPHS:
        adj = random_graph(np.random.default_rng(seed + 10 * directed), n, density, directed)
        pairs = dispatch.dyad_index(n, directed)
        before = dispatch.dyad_change_matrix(*packed, network_state(adj, directed))
        partial = dispatch.dyad_rows_change_matrix(*packed, network_state(adj, directed), pairs[:, 0], pairs[:, 1])
        assert np.array_equal(partial, before), f"{text}: the per-dyad rows differ from the design's"
        for a, b in pairs:
            toggled = adj.copy()
            toggled[a, b] = 1 - toggled[a, b]
            if not directed:
                toggled[b, a] = toggled[a, b]
            after = dispatch.dyad_change_matrix(*packed, network_state(toggled, directed))
            moved = np.flatnonzero((after != before).any(axis=1))
            allowed = changed_rows(adj, toggled, pairs[:, 0], pairs[:, 1], reach, directed)
            outside = sorted(set(moved.tolist()) - set(allowed.tolist()))
            assert not outside, f"{text} ({reach}): toggling {a}-{b} changed dyads {pairs[outside].tolist()}"


def _covariate_panel(directed):
    rng = np.random.default_rng(11 + directed)
    n = 7
    networks = [random_graph(rng, n, 0.4, directed) for _ in range(3)]
    dist = rng.random((n, n)).round(2)
    dist = dist if directed else np.triu(dist, 1) + np.triu(dist, 1).T
    np.fill_diagonal(dist, 0)
    attributes = {"size": rng.integers(1, 9, n).astype(float), "group": np.array(list("abcabca"))}
    return (
        Panel.from_arrays(networks, directed=directed, node_attributes=attributes, dyad_covariates={"dist": dist}),
        networks,
        attributes,
        dist,
    )


def _covariate_reference(text, networks, attributes, dist, t, directed, levels):
    """x_ij of each column for period t (0-based), straight from btergm's/ergm's definitions."""
    size, group = attributes["size"], attributes["group"]
    n = len(size)
    ones = np.ones((n, n))
    previous = networks[t - 1].astype(float) if t > 0 else None
    time = t + 1
    same = (group[:, None] == group[None, :]).astype(float)
    table = {
        "nodecov('size')": [size[:, None] + size[None, :]],
        "nodeocov('size')": [size[:, None] * ones],
        "nodeicov('size')": [size[None, :] * ones],
        "nodefactor('group')": [(group[:, None] == v) + (group[None, :] == v) * 1.0 for v in levels[1:]],
        "nodeofactor('group')": [(group[:, None] == v) * ones for v in levels[1:]],
        "nodeifactor('group')": [(group[None, :] == v) * ones for v in levels[1:]],
        "nodematch('group')": [same],
        "nodematch('group', diff=TRUE)": [same * (group[:, None] == v) for v in levels],
        "absdiff('size')": [np.abs(size[:, None] - size[None, :])],
        "absdiff('size', pow=2)": [np.abs(size[:, None] - size[None, :]) ** 2],
        "edgecov('dist')": [dist],
        "timecov": [ones],
        "timecov(transform='linear')": [time * ones],
        "timecov('dist', transform='quadratic')": [time**2 * dist],
    }
    if previous is not None:
        table.update(
            {
                "memory(type='stability')": [2 * previous - 1],
                "memory(type='autoregression')": [previous],
                "memory(type='innovation')": [1 - previous],
                "memory(type='loss')": [-previous],
                "delrecip": [previous.T],
                "delrecip(mutuality=TRUE)": [2 * previous.T - 1],
            }
        )
    return table[text]


def _covariate_cases():
    """(text, directed) for every covariate example on each kind of network its term is defined for."""
    for name, texts in COVARIATE_EXAMPLES.items():
        kinds = [True, False] if REGISTRY[name].directed is None else [REGISTRY[name].directed]
        for text in texts:
            for directed in kinds:
                yield pytest.param(text, directed, id=f"{text}-{'directed' if directed else 'undirected'}")


@pytest.mark.parametrize("text,directed", list(_covariate_cases()))
def test_covariate_term_summary_is_the_sum_over_ties(text, directed):
    name = re.match(r"\w+", text).group(0)
    panel, networks, attributes, dist = _covariate_panel(directed)
    summary = summary_statistics(f"y ~ {text}", panel)
    levels = sorted(set(attributes["group"]))
    first = 1 if name in ("memory", "delrecip") else 0
    assert list(summary.index) == panel.period_names[first:]
    for k, t in enumerate(range(first, len(panel))):
        adj = networks[t]
        mask = np.ones_like(adj, dtype=bool) if directed else np.triu(np.ones_like(adj, dtype=bool), 1)
        np.fill_diagonal(mask, False)
        want = [
            float((x * adj)[mask].sum())
            for x in _covariate_reference(text, networks, attributes, dist, t, directed, levels)
        ]
        np.testing.assert_allclose(summary.iloc[k].to_numpy(), want, rtol=1e-12, err_msg=f"{text}, period {t}")


def test_summary_statistics_of_a_structural_and_covariate_model_per_period():
    panel, networks, attributes, dist = _covariate_panel(True)
    summary = summary_statistics("y ~ edges + mutual + edgecov(dist) + gwesp(0.5, fixed=TRUE)", panel)
    assert list(summary.columns) == ["edges", "mutual", "edgecov.dist[[i]]", "gwesp.OTP.fixed.0.5"]
    for k, adj in enumerate(networks):
        assert summary.iloc[k]["edges"] == adj.sum()
        assert summary.iloc[k]["edgecov.dist[[i]]"] == pytest.approx(float((adj * dist).sum()), rel=1e-12)
        assert summary.iloc[k]["gwesp.OTP.fixed.0.5"] == pytest.approx(ref_gwesp(adj, True, 0.5)[0], rel=1e-12)
    model = parse_model("y ~ edges + mutual", panel)
    assert summary_statistics(model, panel).shape == (3, 2)


# ---------------------------------------------------------------------------------------------
# Names as ergm gives them


def _reference_names() -> set[str]:
    names = set()
    for path in (Path(__file__).parent / "data" / "reference" / "mple_matrices").glob("*_mple_matrix.csv"):
        with open(path, newline="") as stream:
            names.update(next(csv.reader(stream))[2:])
    return names


# (term text, directed, ergm's names); those marked R are in the reference matrices (ergm's output).
ERGM_NAMES = [
    ("edges", False, ["edges"]),
    ("triangle", False, ["triangle"]),
    ("kstar(2:3)", False, ["kstar2", "kstar3"]),
    ("isolates", False, ["isolates"]),
    ("degree(0:3)", False, ["degree0", "degree1", "degree2", "degree3"]),
    ("esp(0:3)", False, ["esp0", "esp1", "esp2", "esp3"]),
    ("dsp(0:3)", False, ["dsp0", "dsp1", "dsp2", "dsp3"]),
    ("gwesp(0.25, fixed=TRUE)", False, ["gwesp.fixed.0.25"]),
    ("gwesp(0, fixed=TRUE)", False, ["gwesp.fixed.0"]),
    ("gwesp(1, fixed=TRUE)", False, ["gwesp.fixed.1"]),
    ("gwdegree(0.1, fixed=TRUE)", False, ["gwdeg.fixed.0.1"]),
    ("gwdsp(0.5, fixed=TRUE)", False, ["gwdsp.fixed.0.5"]),
    ("gwesp(0.5, fixed=TRUE)", True, ["gwesp.OTP.fixed.0.5"]),
    ("gwidegree(0.1, fixed=TRUE)", True, ["gwideg.fixed.0.1"]),
    ("gwodegree(0.1, fixed=TRUE)", True, ["gwodeg.fixed.0.1"]),
    # ergm's naming beyond the reference matrices (ergm 4.6 InitErgmTerm*.R):
    ("mutual", True, ["mutual"]),
    ("asymmetric", True, ["asymmetric"]),
    ("twopath", True, ["twopath"]),
    ("istar(2)", True, ["istar2"]),
    ("ostar(c(1, 3))", True, ["ostar1", "ostar3"]),
    ("idegree(1)", True, ["idegree1"]),
    ("odegree(0)", True, ["odegree0"]),
    ("ttriple", True, ["ttriple"]),
    ("ctriple", True, ["ctriple"]),
    ("transitiveties", True, ["transitiveties"]),
    ("cyclicalties", True, ["cyclicalties"]),
    ("esp(1, type='ISP')", True, ["esp.ISP1"]),
    ("dsp(c(0, 2), type='OSP')", True, ["dsp.OSP0", "dsp.OSP2"]),
    ("nsp(1)", False, ["nsp1"]),
    ("gwnsp(0.5, fixed=TRUE)", False, ["gwnsp.fixed.0.5"]),
    ("gwdsp(0.5, fixed=TRUE, type='RTP')", True, ["gwdsp.RTP.fixed.0.5"]),
]


def test_names_in_the_table_that_ergm_printed_are_the_reference_names():
    """The first block of ERGM_NAMES is ergm's own output: every one of its names is in the matrices."""
    printed = _reference_names()
    assert {"edges", "gwesp.OTP.fixed.0.5", "gwideg.fixed.0.1", "kstar2", "dsp3"} <= printed
    for _, _, names in ERGM_NAMES[:15]:
        assert set(names) <= printed, names


@pytest.mark.parametrize("text,directed,names", ERGM_NAMES, ids=[t for t, _, _ in ERGM_NAMES])
def test_coefficient_names_are_ergms(text, directed, names):
    adj = np.zeros((4, 4), dtype=np.uint8)
    panel = Panel.from_arrays([adj], directed=directed)
    assert parse_model(f"y ~ {text}", panel, temporal=False).names == names


# ---------------------------------------------------------------------------------------------
# Registry and dispatch


def test_generated_dispatch_is_the_registry():
    source = (Path(dispatch.__file__).with_name("_generated.py")).read_text(encoding="utf-8")
    assert source == registry.dispatch_source()
    entries = registry.entries()
    assert {entry.name: code for code, entry in enumerate(entries)} == dispatch.CODES
    # one branch per code in the per-dyad chain, no orphan branch
    body = source.split("def change(", 1)[1].split("\n\n\n", 1)[0]
    branches = [int(c) for c in re.findall(r"if code == (\d+):", body)]
    assert branches == list(range(len(entries)))
    from dyadflow.kernels import _generated

    assert len(_generated.ROWS) == len(entries)
    for code, entry in enumerate(entries):
        assert getattr(_generated, f"_change_{code}") is entry.change
        assert getattr(_generated, f"_tail_{code}", None) is entry.tail
        assert _generated.ROWS[code] is getattr(_generated, f"rows_{code}")
        # each code's per-tail rows run its own kernel and no other
        rows = source.split(f"def rows_{code}(", 1)[1].split("\n\n\n", 1)[0]
        assert set(re.findall(r"_(?:change|tail)_(\d+)\(", rows)) == {str(code)}, entry.name
    # the drivers (design rows, per-dyad change) chain exactly the codes they were generated for
    driver = registry.drivers_source([8, 4, 6, 4])
    assert [int(c) for c in re.findall(r"if code == (\d+):", driver)] == [4, 6, 8, 4, 6, 8]
    assert set(re.findall(r"rows_(\d+)\(", driver)) == {"4", "6", "8"}
    assert set(re.findall(r"_change_(\d+)\(", driver)) == {"4", "6", "8"}
    with pytest.raises(ValueError, match="unknown change-statistic code"):
        registry.drivers_source([len(entries)])


def test_every_structural_term_names_a_registered_kernel_and_every_kernel_serves_a_term():
    used = set()
    for name, examples in EXAMPLES.items():
        spec = REGISTRY[name]
        directed = True if spec.directed is None else spec.directed
        model = parse_model(f"y ~ {examples[0][0]}", Panel.from_arrays([np.zeros((3, 3), np.uint8)], directed=directed))
        (term,) = model.terms
        assert isinstance(term, StructuralTerm)
        used.add(registry.entries()[term.code].name)
    assert used == set(dispatch.CODES)


def test_unknown_code_is_an_error():
    net = network_state(np.zeros((3, 3), dtype=np.uint8), True)
    with pytest.raises(ValueError, match="unknown change-statistic code"):
        dispatch.change(len(dispatch.CODES), net, 0, 1, np.zeros(0), np.zeros(1), 0)
