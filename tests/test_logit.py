"""The plain logit (tergm.logit) against statsmodels' GLM(Binomial) as the oracle: estimates,
conventional and cluster-robust covariances (cov_type="cluster", CRV1 with its small-sample factor),
z and p to 1e-8; clusters built independently from the raw table; a Stata .dta dyad-year table
through the dataset spec; the period bootstrap; clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import dyadflow
from dyadflow import storage
from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import build_design
from dyadflow.tergm.logit import LogitError, cluster_labels, logit

TOL = 1e-8


def _panel(directed: bool, n: int = 11, periods: int = 4, seed: int = 1) -> Panel:
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n)
    group = np.array(list("abc" * n)[:n])
    networks, distances, blocks = [], [], []
    block = rng.integers(0, 6, size=(n, n)).astype(float)  # a coarser cluster key than the dyad
    if not directed:
        block = np.triu(block, 1) + np.triu(block, 1).T
    for _ in range(periods):
        dist = rng.normal(size=(n, n))
        if not directed:
            dist = np.triu(dist, 1) + np.triu(dist, 1).T
        eta = -1.0 + 0.8 * dist + 0.3 * (size[:, None] + size[None, :])
        adj = (rng.random((n, n)) < 1 / (1 + np.exp(-eta))).astype(np.uint8)
        if not directed:
            adj = np.triu(adj, 1)
            adj = adj | adj.T
        np.fill_diagonal(adj, 0)
        networks.append(adj)
        distances.append(dist)
        blocks.append(block)
    return Panel.from_arrays(
        networks,
        directed=directed,
        node_attributes={"size": size, "group": group},
        dyad_covariates={"dist": distances, "block": blocks},
    )


FORMULA = "y ~ edges + edgecov(dist) + nodecov('size') + nodematch('group') + memory"


def _statsmodels(design, groups=None, use_correction=True):
    model = sm.GLM(design.y, design.X, family=sm.families.Binomial())
    # tight IRLS tolerance: statsmodels' conventional covariance is taken at its last iterate's weights
    if groups is None:
        return model.fit(tol=1e-13)
    return model.fit(tol=1e-13, cov_type="cluster", cov_kwds={"groups": groups, "use_correction": use_correction})


def _close(ours, oracle):
    """Equal to 1e-8 relative to the largest entry (a covariance's small off-diagonal entries carry the
    absolute error of its large ones)."""
    oracle = np.asarray(oracle, float)
    np.testing.assert_allclose(np.asarray(ours, float), oracle, rtol=TOL, atol=TOL * np.abs(oracle).max())


def _raw_dyad_groups(panel: Panel, design, directed: bool) -> np.ndarray:
    """Cluster codes of the design's rows by (tail label, head label), built here from the panel."""
    keys = []
    for t, name in enumerate(design.periods):
        nodes = panel[panel.period_names.index(name)].nodes
        for i, j in design.dyads[design.period_rows(t)]:
            a, b = str(nodes[i]), str(nodes[j])
            keys.append((a, b) if directed or a < b else (b, a))
    return pd.factorize(pd.Series(keys))[0]


@pytest.mark.parametrize("directed", [True, False], ids=["directed", "undirected"])
def test_clustered_by_dyad_matches_statsmodels(directed):
    panel = _panel(directed)
    fit = logit(FORMULA, panel, cluster="dyad")
    design = build_design(FORMULA, panel)
    groups = _raw_dyad_groups(panel, design, directed)
    assert fit.n_clusters == len(np.unique(groups)) == (11 * 10 if directed else 11 * 10 // 2)
    robust, plain = _statsmodels(design, groups), _statsmodels(design)
    assert fit.names == design.names
    _close(fit.coef.to_numpy(), robust.params)
    _close(fit.vcov.to_numpy(), robust.cov_params())
    _close(fit.vcov_conventional.to_numpy(), plain.cov_params())
    table = fit.standard_errors()
    _close(table["Std.Err"], robust.bse)
    _close(table["z"], robust.tvalues)
    _close(table["p"], robust.pvalues)
    _close(table["Std.Err.conventional"], plain.bse)
    _close(table["z.conventional"], plain.tvalues)
    _close(table["p.conventional"], plain.pvalues)
    ci = fit.ci(0.9)
    _close(ci[["5%", "95%"]].to_numpy(), robust.conf_int(alpha=0.1))
    assert fit.loglik == pytest.approx(robust.llf, rel=1e-10)


@pytest.mark.parametrize("cluster", ["tail", "head", "period", "block"])
def test_other_cluster_keys_match_statsmodels(cluster):
    panel = _panel(True)
    fit = logit(FORMULA, panel, cluster=cluster)
    design = build_design(FORMULA, panel)
    rows = []
    for t, name in enumerate(design.periods):
        period = panel[panel.period_names.index(name)]
        for i, j in design.dyads[design.period_rows(t)]:
            rows.append(
                {
                    "tail": period.nodes[i],
                    "head": period.nodes[j],
                    "period": name,
                    "block": period.dyad_covariates["block"][i, j],
                }[cluster]
            )
    groups = pd.factorize(pd.Series(rows))[0]
    assert fit.cluster == cluster and fit.n_clusters == len(np.unique(groups))
    oracle = _statsmodels(design, groups)
    _close(fit.vcov.to_numpy(), oracle.cov_params())
    _close(fit.standard_errors()["p"], oracle.pvalues)


def test_labels_and_small_sample_corrections():
    panel = _panel(True)
    design = build_design(FORMULA, panel)
    labels = np.arange(design.X.shape[0]) % 17
    raw = _statsmodels(design, labels, use_correction=False).cov_params()
    G, N, K = 17, design.X.shape[0], design.X.shape[1]
    none = logit(FORMULA, panel, cluster=labels, correction="none")
    _close(none.vcov.to_numpy(), raw)
    stata = logit(FORMULA, panel, cluster=labels, correction="stata")  # Stata's ML estimators: G/(G-1)
    _close(stata.vcov.to_numpy(), raw * G / (G - 1))
    default = logit(FORMULA, panel, cluster=labels)
    _close(default.vcov.to_numpy(), _statsmodels(design, labels).cov_params())
    _close(default.vcov.to_numpy(), raw * G / (G - 1) * (N - 1) / (N - K))
    assert default.cluster == "labels" and default.correction == "statsmodels"


def test_unclustered_reports_the_conventional_covariance():
    panel = _panel(False)
    fit = logit(FORMULA, panel, cluster=None)
    design = build_design(FORMULA, panel)
    oracle = _statsmodels(design)
    assert fit.covariance_cluster is None and fit.n_clusters is None
    _close(fit.vcov.to_numpy(), oracle.cov_params())
    _close(fit.standard_errors()["p"], oracle.pvalues)
    assert "Std.Err.conventional" not in fit.to_frame().columns
    assert "Conventional standard errors" in fit.summary()


def test_stata_dyad_year_table_through_the_dataset_spec(tmp_path):
    rng = np.random.default_rng(5)
    nodes = [f"C{k:02d}" for k in range(9)]
    rows = []
    for year in (1990, 1991, 1992):
        for a in nodes:
            for b in nodes:
                if a != b:
                    trade, alliance = float(rng.normal()), float(rng.integers(0, 2))
                    p = 1 / (1 + np.exp(-(-0.8 + 0.9 * trade + 0.7 * alliance)))
                    rows.append(
                        (
                            year,
                            a,
                            b,
                            int(rng.random() < p),
                            trade,
                            alliance,
                            float(min(nodes.index(a), nodes.index(b)) % 4),
                        )
                    )
    frame = pd.DataFrame(rows, columns=["year", "ccode1", "ccode2", "mlat", "trade", "alliance", "region"])
    frame.to_stata(tmp_path / "mlat.dta", write_index=False)
    spec = {
        "base_dir": str(tmp_path),
        "directed": True,
        "periods": {"first": 1990, "last": 1992},
        "network": {
            "format": "dyad_years",
            "path": "mlat.dta",
            "period": "year",
            "i": "ccode1",
            "j": "ccode2",
            "y": "mlat",
        },
    }
    storage.ingest(spec, tmp_path / "store")
    panel = dyadflow.open_panel(tmp_path / "store")
    fit = dyadflow.logit("y ~ edges + edgecov(trade) + edgecov(alliance)", panel, cluster="dyad")
    assert fit.names == ["edges", "edgecov.trade[[i]]", "edgecov.alliance[[i]]"]
    # the oracle works on the raw table: logit of mlat on 1, trade, alliance, clustered by (ccode1, ccode2)
    X = np.column_stack([np.ones(len(frame)), frame["trade"], frame["alliance"]])
    groups = pd.factorize(pd.Series(list(zip(frame["ccode1"], frame["ccode2"]))))[0]
    oracle = sm.GLM(frame["mlat"].to_numpy(float), X, family=sm.families.Binomial()).fit(
        tol=1e-13, cov_type="cluster", cov_kwds={"groups": groups}
    )
    assert fit.nobs == len(frame) and fit.n_clusters == 9 * 8
    _close(fit.coef.to_numpy(), oracle.params)
    _close(fit.vcov.to_numpy(), oracle.cov_params())
    _close(fit.standard_errors()["z"], oracle.tvalues)
    # another key from the table: a dyadic column
    by_region = dyadflow.logit("y ~ edges + edgecov(trade) + edgecov(alliance)", panel, cluster="region")
    region_groups = pd.factorize(frame["region"])[0]
    oracle = sm.GLM(frame["mlat"].to_numpy(float), X, family=sm.families.Binomial()).fit(
        tol=1e-13, cov_type="cluster", cov_kwds={"groups": region_groups}
    )
    assert by_region.n_clusters == 4
    _close(by_region.vcov.to_numpy(), oracle.cov_params())


def test_period_bootstrap_is_btergms():
    panel = _panel(True, periods=5)
    fit = logit(FORMULA, panel, cluster="dyad", R=25, seed=9)
    reference = dyadflow.btergm(FORMULA, panel, R=25, seed=9)  # same design, same draws
    np.testing.assert_array_equal(fit.replicates, reference.replicates)
    np.testing.assert_array_equal(fit.resamples, reference.resamples)
    np.testing.assert_array_equal(fit.bootstrap_ci().to_numpy(), reference.ci().to_numpy())
    frame = fit.to_frame()
    assert {"boot 2.5%", "boot 97.5%", "boot_sd"} <= set(frame.columns)
    assert fit.R == 25 and "Period bootstrap: 25 replicates" in fit.summary()


def test_reuses_a_built_design():
    panel = _panel(True)
    design = build_design(FORMULA, panel)
    np.testing.assert_array_equal(logit(FORMULA, panel, design=design).coef, logit(FORMULA, panel).coef)
    other = build_design("y ~ edges + edgecov(dist)", panel)
    with pytest.raises(LogitError, match="design"):
        logit(FORMULA, panel, design=other)


def test_cluster_labels_of_an_undirected_dyad_ignore_orientation():
    panel = _panel(False)
    design = build_design("y ~ edges", panel)
    labels, described = cluster_labels(design, panel, "dyad")
    assert described == "dyad"
    per_period = np.diff(design.offsets)
    assert len(np.unique(labels)) == per_period[0] == 11 * 10 // 2


@pytest.mark.parametrize(
    "formula,term", [("y ~ edges + mutual", "mutual"), ("y ~ edges + gwesp(0.5, fixed=TRUE)", "gwesp.OTP.fixed.0.5")]
)
def test_network_terms_are_refused(formula, term):
    with pytest.raises(LogitError, match=term.replace(".", r"\.")):
        logit(formula, _panel(True))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"cluster": "nonsense"}, "nonsense.*neither"),
        ({"cluster": np.zeros(3)}, "one per design row"),
        ({"cluster": np.zeros(330)}, "at least 2 clusters"),
        ({"correction": "HC1"}, "correction"),
        ({"R": -1}, "R must be"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(LogitError, match=match):
        logit("y ~ edges + edgecov(dist) + memory", _panel(True), **kwargs)


def test_a_panel_is_required():
    with pytest.raises(TypeError, match="panel"):
        logit("y ~ edges", np.zeros((3, 3)))
