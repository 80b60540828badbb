"""The MPLE design builder against R: ergmMPLE's per-dyad change statistics (ergm 4.6) and btergm's
per-dyad designs of the Knecht models (btergm 1.10.12), every row and column.

Each reference file is checked twice: the whole formula (names, order, every column), and term by
term, so a failure names the term (and so the kernel) at fault.
"""

from __future__ import annotations

import itertools
import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, reference_path

from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import assemble, build_design, design_for_period, parse_model
from dyadflow.tergm.formula import parse_formula
from dyadflow.tergm.terms import term_lag

TOLERANCE = 1e-9
LEADING = ["time", "tail", "head", "tail_label", "head_label", "response", "weight"]

# ---------------------------------------------------------------------------------------------
# Reference data -> panels


def _read_adjacency(relative: str) -> tuple[np.ndarray, list[str]]:
    frame = pd.read_csv(reference_path(relative), dtype={"node": str})
    labels = frame["node"].astype(str).tolist()
    matrix = frame.drop(columns="node").to_numpy(dtype=np.float64)
    assert [str(c) for c in frame.columns[1:]] == labels, f"{relative}: row and column labels differ"
    return matrix, labels


def _node_table(frame: pd.DataFrame, labels: list[str], columns: list[str]) -> dict[str, np.ndarray]:
    """Node attributes aligned to `labels` (numeric columns as numbers, others as str)."""
    frame = frame.set_index(frame["label"].astype(str)).loc[labels]
    out = {}
    for column in columns:
        values = frame[column]
        out[column] = (
            values.to_numpy(dtype=np.float64)
            if pd.api.types.is_numeric_dtype(values)
            else np.asarray(values.astype(str).tolist(), dtype=str)
        )
    return out


@cache
def _knecht_nodes_long() -> pd.DataFrame:
    return pd.read_csv(reference_path("knecht/preprocessed/nodes_long.csv"), dtype={"label": str})


def _knecht_wave(wave: int, symmetric: bool) -> tuple[np.ndarray, list[str]]:
    prefix = "friendship_sym_t" if symmetric else "friendship_t"
    return _read_adjacency(f"knecht/preprocessed/{prefix}{wave}.csv")


def _knecht_attributes(wave: int, labels: list[str]) -> dict[str, np.ndarray]:
    frame = _knecht_nodes_long()
    return _node_table(frame[frame["wave"] == wave], labels, ["sex", "idegsqrt", "odegsqrt"])


def knecht_panel(waves=(1, 2, 3, 4), *, symmetric: bool = False) -> Panel:
    """The Knecht panel as btergm sees it: waves of differing node sets, per-wave attributes,
    the static primary-school dyadic covariate over all 26 pupils."""
    primary, universe = _read_adjacency("knecht/preprocessed/primary_26x26_labelled.csv")
    networks, nodes, attributes = [], [], {"sex": [], "idegsqrt": [], "odegsqrt": []}
    for wave in waves:
        matrix, labels = _knecht_wave(wave, symmetric)
        networks.append(matrix)
        nodes.append(labels)
        for key, value in _knecht_attributes(wave, labels).items():
            attributes[key].append(value)
    return Panel.from_arrays(
        networks,
        directed=not symmetric,
        nodes=nodes,
        period_names=[f"t{w}" for w in waves],
        node_attributes=attributes,
        dyad_covariates={"primary": primary},
        universe=universe,
    )


def _one_period_panel(network, labels, directed, node_attributes, dyad_covariates) -> Panel:
    return Panel.from_arrays(
        [network],
        directed=directed,
        nodes=[labels],
        node_attributes={k: [v] for k, v in node_attributes.items()},
        dyad_covariates={k: [v] for k, v in dyad_covariates.items()},
    )


def _ergm_network_panel(name: str, directed: bool) -> Panel:
    matrix, labels = _read_adjacency(f"ergm/{name}_adjacency.csv")
    nodes = pd.read_csv(reference_path(f"ergm/{name}_nodes.csv"), dtype={"vertex.names": str})
    nodes["label"] = nodes["vertex.names"].astype(str)
    columns = [c for c in nodes.columns if c not in ("index", "vertex.names", "label")]
    return _one_period_panel(matrix, labels, directed, _node_table(nodes, labels, columns), {})


def _knecht_wave2_panel(symmetric: bool) -> Panel:
    """Wave 2 with the covariates the ergmMPLE scripts built from the preprocessed waves."""
    network, labels = _knecht_wave(2, symmetric)
    wave1, labels1 = _knecht_wave(1, symmetric)
    assert labels1 == labels
    primary, primary_labels = _read_adjacency("knecht/preprocessed/primary_26x26_labelled.csv")
    assert primary_labels == labels
    covariates = {"kn_primary": primary}
    if symmetric:
        covariates["kn_mem_sym"] = 2 * wave1 - 1  # memory(type="stability") of the symmetrised wave 1
    else:
        covariates["kn_mem"] = 2 * wave1 - 1
        covariates["kn_delrecip"] = wave1.T
    return _one_period_panel(network, labels, not symmetric, _knecht_attributes(2, labels), covariates)


# ---------------------------------------------------------------------------------------------
# (a) ergmMPLE dyad lists


def _mple_cases() -> dict[str, tuple[str, callable]]:
    groundtruth = json.loads(reference_path("results/mple_groundtruth.json").read_text())
    crosssectional = json.loads(reference_path("results/ergm_crosssectional.json").read_text())
    formulas = {
        key: value["formula"] for key, value in groundtruth.items() if isinstance(value, dict) and "formula" in value
    }
    for key in ("flomarriage_edges_triangle", "flomarriage_edges_gwesp025", "fauxmesa_edges_nmGrade_gwesp05"):
        formulas[key] = crosssectional[f"{key}_MPLE"]["formula"]
    panels = {
        "flomarriage": lambda: _ergm_network_panel("flomarriage", directed=False),
        "fauxmesa": lambda: _ergm_network_panel("faux.mesa.high", directed=False),
        "knecht_wave2_sym": lambda: _knecht_wave2_panel(symmetric=True),
        "knecht_wave2": lambda: _knecht_wave2_panel(symmetric=False),
    }
    cases = {}
    for key, formula in formulas.items():
        prefix = next(p for p in panels if key.startswith(p + "_"))
        cases[key] = (formula, panels[prefix])
    return cases


MPLE_CASES = _mple_cases()
MPLE_FILES = sorted(
    p.name.split("_mple_dyadlist")[0] for p in (REFERENCE / "mple_matrices").glob("*_mple_dyadlist.csv*")
)


def test_every_mple_file_has_a_case():
    assert MPLE_FILES and set(MPLE_FILES) == set(MPLE_CASES)


@cache
def _dyadlist(key: str) -> pd.DataFrame:
    return pd.read_csv(reference_path(f"mple_matrices/{key}_mple_dyadlist.csv"))


def _statistic_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in LEADING]


def _assert_columns_match(names, X, frame: pd.DataFrame, context: str):
    for k, name in enumerate(names):
        expected = frame[name].to_numpy(dtype=np.float64)
        worst = np.max(np.abs(X[:, k] - expected)) if len(expected) else 0.0
        assert worst <= TOLERANCE, (
            f"{context}: column {name} differs from R by up to {worst:.3g} "
            f"(first bad row {int(np.argmax(np.abs(X[:, k] - expected) > TOLERANCE))})"
        )


@pytest.mark.parametrize("key", sorted(MPLE_CASES))
def test_mple_dyadlist_whole_formula(key):
    formula, make_panel = MPLE_CASES[key]
    frame = _dyadlist(key)
    design = build_design(formula, make_panel(), temporal=False)
    assert design.names == _statistic_columns(frame)
    np.testing.assert_array_equal(design.dyads + 1, frame[["tail", "head"]].to_numpy())
    np.testing.assert_array_equal(design.y, frame["response"].to_numpy(dtype=np.float64))
    _assert_columns_match(design.names, design.X, frame, key)


MPLE_TERMS = [(key, call.text) for key in sorted(MPLE_CASES) for call in parse_formula(MPLE_CASES[key][0]).terms]


@pytest.mark.parametrize("key,term", MPLE_TERMS, ids=[f"{k}-{t}" for k, t in MPLE_TERMS])
def test_mple_dyadlist_term_by_term(key, term):
    formula, make_panel = MPLE_CASES[key]
    frame = _dyadlist(key)
    design = build_design(f"y ~ {term}", make_panel(), temporal=False)
    assert set(design.names) <= set(frame.columns), f"{design.names} not among {list(frame.columns)}"
    np.testing.assert_array_equal(design.dyads + 1, frame[["tail", "head"]].to_numpy())
    _assert_columns_match(design.names, design.X, frame, f"{key} / {term}")


# ---------------------------------------------------------------------------------------------
# (b) btergm designs of the Knecht models


def _btergm_cases() -> dict[str, tuple[str, callable]]:
    meta = json.loads(reference_path("results/knecht_meta.json").read_text())
    cases = {}
    for key, formula in meta["formulas"].items():
        response = formula.split("~")[0].strip()
        if key == "knecht_model2e_oos_fit":
            cases[key] = (formula, lambda: knecht_panel((1, 2, 3)))
        elif response == "friendship_sym":
            cases[key] = (formula, lambda: knecht_panel(symmetric=True))
        else:
            cases[key] = (formula, lambda: knecht_panel())
    return cases


BTERGM_CASES = _btergm_cases()


def test_every_btergm_design_has_a_case():
    files = {p.name.split("_design_dyads")[0] for p in (REFERENCE / "designs").glob("*_design_dyads.csv*")}
    assert len(files) == 8 and files == set(BTERGM_CASES)


@cache
def _btergm_design(key: str) -> pd.DataFrame:
    return pd.read_csv(reference_path(f"designs/{key}_design_dyads.csv"), dtype={"tail_label": str, "head_label": str})


@pytest.mark.parametrize("key", sorted(BTERGM_CASES))
def test_btergm_design_whole_formula(key):
    formula, make_panel = BTERGM_CASES[key]
    frame = _btergm_design(key)
    design = build_design(formula, make_panel(), temporal=True)
    assert design.names == _statistic_columns(frame)
    assert len(design.y) == len(frame)
    time = np.repeat(np.arange(1, design.n_periods + 1), np.diff(design.offsets))
    np.testing.assert_array_equal(time, frame["time"].to_numpy())
    np.testing.assert_array_equal(design.dyads + 1, frame[["tail", "head"]].to_numpy())
    labels = np.concatenate([design.nodes[t][design.dyads[design.period_rows(t)]] for t in range(design.n_periods)])
    np.testing.assert_array_equal(labels, frame[["tail_label", "head_label"]].to_numpy(dtype=str))
    np.testing.assert_array_equal(design.y, frame["response"].to_numpy(dtype=np.float64))
    _assert_columns_match(design.names, design.X, frame, key)


BTERGM_TERMS = [(key, call.text) for key in sorted(BTERGM_CASES) for call in parse_formula(BTERGM_CASES[key][0]).terms]


@pytest.mark.parametrize("key,term", BTERGM_TERMS, ids=[f"{k}-{t}" for k, t in BTERGM_TERMS])
def test_btergm_design_term_by_term(key, term):
    """One term at a time, on the periods of the full model's likelihood (its lag may be smaller)."""
    formula, make_panel = BTERGM_CASES[key]
    frame = _btergm_design(key)
    panel = make_panel()
    full_lag = max(term_lag(call) for call in parse_formula(formula).terms)
    model = parse_model(f"y ~ {term}", panel, temporal=True)
    for time, rows in frame.groupby("time", sort=True):
        X, y, dyads = design_for_period(model, panel, full_lag + int(time) - 1)
        np.testing.assert_array_equal(dyads + 1, rows[["tail", "head"]].to_numpy())
        np.testing.assert_array_equal(y, rows["response"].to_numpy(dtype=np.float64))
        _assert_columns_match(model.names, X, rows, f"{key} / {term} / time {time}")


# ---------------------------------------------------------------------------------------------
# Temporal semantics beyond the Knecht files


def _toy_panel(networks, nodes, directed=True, **kwargs) -> Panel:
    return Panel.from_arrays([np.asarray(a) for a in networks], directed=directed, nodes=nodes, **kwargs)


def test_lags_drop_the_first_periods_and_each_term_uses_its_own_lag():
    a1 = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    a2 = np.array([[0, 0, 1], [1, 0, 1], [0, 0, 0]])
    a3 = np.array([[0, 1, 1], [0, 0, 0], [1, 1, 0]])
    panel = _toy_panel([a1, a2, a3], [["a", "b", "c"]] * 3)
    design = build_design('y ~ memory(type="stability") + delrecip(mutuality=TRUE, lag=2)', panel, temporal=False)
    # lag 2 drops two periods: only period 3 is in the likelihood.
    assert design.periods == ["3"]
    assert design.names == ["edgecov.memory", "edgecov.delrecip"]
    tails, heads = design.dyads[:, 0], design.dyads[:, 1]
    np.testing.assert_array_equal(design.X[:, 0], (2 * a2 - 1)[tails, heads])  # one period back
    np.testing.assert_array_equal(design.X[:, 1], (2 * a1.T - 1)[tails, heads])  # two periods back
    np.testing.assert_array_equal(design.y, a3[tails, heads])


def test_duplicate_coefficients_are_rejected():
    panel = _toy_panel([np.zeros((3, 3))] * 3, [["a", "b", "c"]] * 3)
    with pytest.raises(ValueError, match="more than once"):
        parse_model('y ~ memory(type="stability") + memory(type="autoregression", lag=2)', panel)


def test_temporal_terms_align_the_previous_network_by_label():
    # period 2 loses node "b" and gains node "d"; "d" has no earlier ties.
    a1 = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0]])  # nodes a b c
    a2 = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 0]])  # nodes c a d
    panel = _toy_panel([a1, a2], [["a", "b", "c"], ["c", "a", "d"]])
    for kind, transform in {
        "stability": lambda e: 2 * e - 1,
        "autoregression": lambda e: e,
        "innovation": lambda e: 1 - e,
        "loss": lambda e: -e,
    }.items():
        design = build_design(f'y ~ memory(type="{kind}") + delrecip', panel)
        assert design.names == ["edgecov.memory[[i]]", "edgecov.delrecip[[i]]"]
        assert design.periods == ["2"]
        # earlier ties among the period-2 nodes (c, a, d) by label: c->a and a->c only.
        earlier = np.zeros((3, 3))
        earlier[0, 1] = a1[2, 0]  # c->a
        earlier[1, 0] = a1[0, 2]  # a->c
        tails, heads = design.dyads[:, 0], design.dyads[:, 1]
        np.testing.assert_array_equal(design.X[:, 0], transform(earlier)[tails, heads])
        np.testing.assert_array_equal(design.X[:, 1], earlier.T[tails, heads])
        np.testing.assert_array_equal(design.y, a2[tails, heads])


def test_timecov_counts_time_over_the_whole_panel():
    networks = [np.zeros((3, 3))] * 4
    cov = np.arange(9, dtype=float).reshape(3, 3)
    panel = _toy_panel(networks, [["a", "b", "c"]] * 4, dyad_covariates={"w": cov})
    design = build_design(
        'y ~ memory + timecov(transform="linear") + timecov(w, minimum=3, transform="quadratic")', panel
    )
    assert design.names == ["edgecov.memory[[i]]", "edgecov.timecov[[i]]", "edgecov.timecov.w[[i]]"]
    assert design.periods == ["2", "3", "4"]
    for k, time in enumerate((2, 3, 4)):
        rows = design.period_rows(k)
        tails, heads = design.dyads[rows, 0], design.dyads[rows, 1]
        np.testing.assert_array_equal(design.X[rows, 1], np.full(6, float(time)))
        expected = cov[tails, heads] * (time**2 if time >= 3 else 0.0)
        np.testing.assert_array_equal(design.X[rows, 2], expected)
    # btergm's default transform is the constant 1.
    constant = build_design("y ~ timecov", panel)
    np.testing.assert_array_equal(constant.X[:, 0], 1.0)


def test_node_factor_and_match_levels_against_brute_force():
    rng = np.random.default_rng(7)
    n = 7
    network = (rng.random((n, n)) < 0.3).astype(int)
    np.fill_diagonal(network, 0)
    group = np.array(["x", "y", "z", "x", "y", "x", "z"])
    score = rng.normal(size=n)
    panel = _toy_panel([network], [list("abcdefg")], node_attributes={"g": group, "s": score})
    design = build_design(
        'y ~ nodefactor("g") + nodeofactor(g, levels=TRUE) + nodeifactor("g", levels=c("z")) '
        '+ nodematch("g", diff=TRUE, levels=-2) + nodematch(g) + absdiff("s", pow=2) + nodecov("s") + nodeocov("s")',
        panel,
        temporal=False,
    )
    assert design.names == [
        "nodefactor.g.y", "nodefactor.g.z",
        "nodeofactor.g.x", "nodeofactor.g.y", "nodeofactor.g.z",
        "nodeifactor.g.z",
        "nodematch.g.x", "nodematch.g.z",
        "nodematch.g",
        "absdiff2.s", "nodecov.s", "nodeocov.s",
    ]  # fmt: skip
    for row, (i, j) in enumerate(design.dyads):
        expected = [
            (group[i] == "y") + (group[j] == "y"), (group[i] == "z") + (group[j] == "z"),
            group[i] == "x", group[i] == "y", group[i] == "z",
            group[j] == "z",
            group[i] == group[j] == "x", group[i] == group[j] == "z",
            group[i] == group[j],
            (score[i] - score[j]) ** 2, score[i] + score[j], score[i],
        ]  # fmt: skip
        np.testing.assert_allclose(design.X[row], np.asarray(expected, dtype=float), rtol=0, atol=1e-12)


def test_undirected_rows_are_upper_triangle_in_tail_major_order():
    network = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    panel = _toy_panel(
        [network], [["a", "b", "c"]], directed=False, dyad_covariates={"w": np.arange(9.0).reshape(3, 3)}
    )
    design = build_design("y ~ edgecov(w)", panel, temporal=False)
    np.testing.assert_array_equal(design.dyads, [[0, 1], [0, 2], [1, 2]])
    np.testing.assert_array_equal(design.y, [1, 0, 1])
    np.testing.assert_array_equal(design.X[:, 0], [1, 2, 5])
    assert design.names == ["edgecov.w"]


def test_period_pieces_assemble_to_the_same_design():
    panel = knecht_panel()
    formula = BTERGM_CASES["knecht_model2b_doc"][0]
    model = parse_model(formula, panel)
    assert model.lag == 1 and list(model.likelihood_periods) == [1, 2, 3]
    pieces = [design_for_period(model, panel, t) for t in reversed(model.likelihood_periods)][::-1]
    assembled = assemble(model, panel, pieces)
    direct = build_design(formula, panel)
    assert assembled.names == direct.names and assembled.periods == direct.periods == ["t2", "t3", "t4"]
    for field in ("X", "y", "offsets", "dyads"):
        np.testing.assert_array_equal(getattr(assembled, field), getattr(direct, field))
    for a, b in zip(assembled.nodes, direct.nodes):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(IndexError, match="not in the likelihood"):
        design_for_period(model, panel, 0)


@pytest.mark.parametrize("mode", ["period", "agreement"])
def test_design_with_networks_equals_a_full_rebuild_on_the_new_networks(mode):
    """Refits of rewired panels rebuild only the network-dependent columns (change statistics,
    memory/delrecip) and copy the rest: the result must be exactly the design built from scratch."""
    from dyadflow.tergm.design import design_with_networks
    from dyadflow.tergm.rewire import rewire_networks

    panel = knecht_panel()  # waves of 26, 26, 25, 25 pupils: node sets differ
    formula = (
        "friends ~ edges + mutual + gwesp(0.5, fixed=TRUE) + ttriple + nodeicov('idegsqrt')"
        " + nodematch('sex') + edgecov(primary) + memory(type='stability') + delrecip + timecov(transform='linear')"
    )
    model = parse_model(formula, panel)
    observed = build_design(formula, panel)
    networks = rewire_networks(
        [panel[t].network for t in range(len(panel))],
        0.4,
        np.random.default_rng(5),
        directed=True,
        mode=mode,
        nodes=[panel[t].nodes for t in range(len(panel))],
    )
    rewired = panel.with_networks(networks)
    fast, full = design_with_networks(model, observed, rewired), build_design(formula, rewired)
    assert not np.array_equal(fast.X, observed.X)
    for field in ("X", "y", "offsets", "dyads"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(full, field))
    assert fast.names == full.names and fast.periods == full.periods
    with pytest.raises(ValueError, match="periods differ"):
        design_with_networks(model, observed, knecht_panel(waves=(1, 2, 3)))
    # refit after refit into one working copy: the same as a fresh result, the observed design untouched
    before = observed.X.copy()
    again = design_with_networks(model, observed, panel, reuse=fast)
    assert again.X is fast.X
    np.testing.assert_array_equal(again.X, observed.X)
    np.testing.assert_array_equal(again.y, observed.y)
    np.testing.assert_array_equal(observed.X, before)
    with pytest.raises(ValueError, match="reuse"):
        design_with_networks(model, observed, panel, reuse=observed)


def _sparse_panel(directed: bool, n: int = 600, periods: int = 4) -> Panel:
    """Sparse networks (mean degree ~1.6) that persist over time, a dyadic covariate: a small rewiring
    reaches few dyads, so the incremental update recomputes a small share of each period."""
    rng = np.random.default_rng(40 + directed)
    adj = (rng.random((n, n)) < 0.8 / n).astype(np.uint8)
    networks = []
    for _ in range(periods):
        flip = rng.random((n, n)) < 0.2 / n
        adj = adj ^ flip.astype(np.uint8)
        current = adj.copy() if directed else np.triu(adj, 1) | np.triu(adj, 1).T
        np.fill_diagonal(current, 0)
        networks.append(current)
    dist = rng.random((n, n)).round(3)
    dist = dist if directed else np.triu(dist, 1) + np.triu(dist, 1).T
    return Panel.from_arrays(networks, directed=directed, dyad_covariates={"dist": dist})


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("mode", ["period", "agreement"])
def test_incremental_design_update_equals_a_full_rebuild(directed, mode):
    """observed_networks=: only the rows the rewired ties reach (by the kernels' declared reach) are
    recomputed, the rest copied from the observed design; bit for bit a rebuild from scratch, at a
    level that reaches few rows (the incremental path) and one that reaches most (the full path),
    refit after refit into one working copy."""
    from dyadflow.tergm.design import INCREMENTAL_SHARE, changed_rows, design_with_networks
    from dyadflow.tergm.rewire import rewire_networks

    panel = _sparse_panel(directed)
    formula = "y ~ edges + gwesp(0.5, fixed=TRUE) + edgecov(dist) + memory(type='stability')" + (
        " + mutual + gwidegree(0.3, fixed=TRUE) + ttriple + delrecip"
        if directed
        else " + gwdegree(0.5, fixed=TRUE) + triangle"
    )
    model = parse_model(formula, panel)
    observed = build_design(formula, panel)
    networks = [panel[t].network for t in range(len(panel))]
    working = None
    for level, seed in ((0.005, 1), (0.8, 2), (0.01, 3)):
        rewired = rewire_networks(
            networks, level, np.random.default_rng(seed), directed=directed, mode=mode, nodes=[p.nodes for p in panel]
        )
        shares = [
            len(
                changed_rows(
                    networks[t], rewired[t], *observed.dyads[observed.period_rows(k)].T, "neighbours", directed
                )
            )
            / (observed.period_rows(k).stop - observed.period_rows(k).start)
            for k, t in enumerate(model.likelihood_periods)
        ]
        if level < 0.1:
            assert min(shares) > 0 and max(shares) < INCREMENTAL_SHARE  # the incremental path, with work to do
        else:
            assert max(shares) > INCREMENTAL_SHARE
        new_panel = panel.with_networks(rewired)
        working = design_with_networks(model, observed, new_panel, reuse=working, observed_networks=networks)
        full = build_design(formula, new_panel)
        assert not np.array_equal(working.X, observed.X)
        for field in ("X", "y", "offsets", "dyads"):
            np.testing.assert_array_equal(getattr(working, field), getattr(full, field), err_msg=f"{level} {field}")


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("reach", ["none", "endpoints", "neighbours"])
def test_changed_rows_past_the_limit_is_none_and_below_it_the_same_rows(directed, reach):
    """limit=: None exactly when more rows than the limit can change, else the rows found without it
    (the endpoints' early answer never hides a period the incremental update could take)."""
    from dyadflow.kernels.dispatch import dyad_index
    from dyadflow.tergm.design import changed_rows
    from dyadflow.tergm.rewire import rewire_networks

    panel = _sparse_panel(directed)
    every_dyad = dyad_index(panel[0].n, directed)
    some_dyads = every_dyad[np.random.default_rng(0).random(len(every_dyad)) < 0.7]  # dyads missing too
    for (tails, heads), (level, seed) in itertools.product(
        (every_dyad.T, some_dyads.T), ((0.005, 1), (0.02, 2), (0.3, 3))
    ):
        before = panel[1].network
        (after,) = rewire_networks([before], level, np.random.default_rng(seed), directed=directed)
        rows = changed_rows(before, after, tails, heads, reach, directed)
        for limit in sorted({0, max(len(rows) - 1, 0), len(rows), len(rows) + 1, len(tails)}):
            limited = changed_rows(before, after, tails, heads, reach, directed, limit=limit)
            if len(rows) > limit:
                assert limited is None, (level, limit)
            else:
                np.testing.assert_array_equal(limited, rows)


def test_design_with_networks_keeps_the_rows_of_observed_dyads_only():
    """Periods with unobserved dyads (missing = "drop-dyad") have no rows for them; the fast path
    must drop the same rows as a full build."""
    from dyadflow.storage.panel import Period
    from dyadflow.tergm.design import design_with_networks
    from dyadflow.tergm.rewire import rewire_networks

    rng = np.random.default_rng(3)
    periods = []
    for t in range(3):
        adj = np.triu((rng.random((12, 12)) < 0.3).astype(np.uint8), 1)
        adj = adj | adj.T
        observed = np.ones((12, 12), dtype=bool)
        observed[2, 5] = observed[5, 2] = observed[7, 1] = observed[1, 7] = False
        periods.append(
            Period(f"p{t}", np.array([f"n{i}" for i in range(12)]), adj, {"x": rng.normal(size=12)}, {}, observed)
        )
    panel = Panel(directed=False, period_names=[p.name for p in periods], load=periods.__getitem__)
    formula = "y ~ edges + gwesp(0.5, fixed=TRUE) + gwdegree(0.3, fixed=TRUE) + absdiff('x') + memory"
    model = parse_model(formula, panel)
    observed = build_design(formula, panel)
    assert len(observed.y) == 2 * (66 - 2)
    networks = rewire_networks([p.network for p in periods], 0.5, np.random.default_rng(1), directed=False)
    rewired = panel.with_networks(networks)
    fast, full = design_with_networks(model, observed, rewired), build_design(formula, rewired)
    for field in ("X", "y", "dyads"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(full, field))


@pytest.mark.parametrize("directed", [False, True])
def test_change_statistic_columns_are_the_same_written_in_place_or_through_a_copy(directed):
    """Adjacent change-statistic columns are written by the kernels into the design's rows; columns
    split by a covariate go through a temporary matrix and a copy. The same numbers either way."""
    panel = _sparse_panel(directed)
    degree = "gwidegree(0.3, fixed=TRUE)" if directed else "gwdegree(0.5, fixed=TRUE)"
    adjacent = build_design(f"y ~ edges + gwesp(0.5, fixed=TRUE) + {degree} + edgecov(dist)", panel)
    split = build_design(f"y ~ edges + edgecov(dist) + gwesp(0.5, fixed=TRUE) + {degree}", panel)
    assert parse_model(
        f"y ~ edges + edgecov(dist) + gwesp(0.5, fixed=TRUE) + {degree}", panel
    ).structural_columns.tolist() == [0, 2, 3]
    np.testing.assert_array_equal(split.X[:, [0, 2, 3, 1]], adjacent.X)
    assert np.abs(adjacent.X[:, 1]).sum() > 0 and np.abs(adjacent.X[:, 2]).sum() > 0
