"""The change-statistics cache (flows.stages.changestats) is keyed by everything a cached period's rows
depend on (tergm.design.period_cache_parts + the input hashes): a cached run gives the numbers of a
fresh build whenever the window, the factor levels, the model or the kernels change, and reuses
every period when nothing did."""

from __future__ import annotations

import numpy as np
import pytest

from dyadflow.flows import stages
from dyadflow.flows.stages import changestats, period_content_hashes
from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import build_design


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real (tiny) store: derived arrays live next to an ingested dataset."""
    from dyadflow import storage
    from dyadflow.storage.demo import write_demo_dataset

    directory = tmp_path_factory.mktemp("cache")
    write_demo_dataset(directory / "data", nodes=40, periods=6, seed=11)  # as tests/test_flows.py
    storage.ingest(directory / "data" / "dataset.toml", directory / "store")
    return directory / "store"


def _panel(periods, *, groups=None, seed=0):
    rng = np.random.default_rng(seed)
    n = 6
    dist = rng.random((n, n)).round(2)  # drawn first: a longer panel keeps the earlier periods' data
    np.fill_diagonal(dist, 0)
    networks = []
    for _ in range(periods):
        adj = (rng.random((n, n)) < 0.4).astype(np.uint8)
        np.fill_diagonal(adj, 0)
        networks.append(adj)
    attributes = {} if groups is None else {"group": [np.array(g) for g in groups]}
    return Panel.from_arrays(
        networks,
        directed=True,
        period_names=[str(1990 + t) for t in range(periods)],
        dyad_covariates={"dist": dist},
        node_attributes=attributes,
    )


def _assert_fresh(result, formula, panel):
    fresh = build_design(formula, panel)
    assert result.design.names == fresh.names
    np.testing.assert_array_equal(result.design.X, fresh.X)
    np.testing.assert_array_equal(result.design.y, fresh.y)


def test_dropping_the_first_period_recomputes_timecov(store):
    formula = "y ~ edges + timecov(transform='linear') + timecov(dist, transform='quadratic')"
    panel = _panel(4, seed=1)
    first = changestats(formula, panel, period_content_hashes(panel), store=store)
    assert len(first.computed) == 4
    later = panel.select([1, 2, 3])  # the same period data, one position earlier each
    assert period_content_hashes(later) == period_content_hashes(panel)[1:]
    result = changestats(formula, later, period_content_hashes(later), store=store)
    assert result.reused == []
    _assert_fresh(result, formula, later)
    assert result.design.X[0, 1] == 1.0  # 1991 is time 1 now (it was 2 in the first run)


def test_a_new_factor_level_in_a_new_period_recomputes_every_period(store):
    formula = "y ~ edges + nodefactor('group') + nodematch('group')"
    groups = [list("aabbab"), list("ababab"), list("abcabc")]
    two = _panel(2, groups=groups[:2], seed=2)
    changestats(formula, two, period_content_hashes(two), store=store)
    three = _panel(3, groups=groups, seed=2)  # periods 1990 and 1991 as before, 1992 adds level c
    assert period_content_hashes(three)[:2] == period_content_hashes(two)
    result = changestats(formula, three, period_content_hashes(three), store=store)
    assert result.reused == []
    assert "nodefactor.group.c" in result.design.names
    _assert_fresh(result, formula, three)


def test_an_unchanged_rerun_reuses_every_period_and_a_new_model_none(store):
    formula = "y ~ edges + gwesp(0.5, fixed=TRUE) + memory(type='stability')"
    panel = _panel(3, seed=4)
    hashes = period_content_hashes(panel)
    first = changestats(formula, panel, hashes, store=store)
    assert first.computed == ["1991", "1992"]
    again = changestats(formula, panel, hashes, store=store)
    assert again.computed == [] and again.reused == ["1991", "1992"]
    _assert_fresh(again, formula, panel)
    other = changestats("y ~ edges + gwesp(0.7, fixed=TRUE) + memory(type='stability')", panel, hashes, store=store)
    assert other.reused == []


def test_a_kernel_source_change_recomputes(store, monkeypatch):
    formula = "y ~ edges + mutual"
    panel = _panel(2, seed=5)
    hashes = period_content_hashes(panel)
    changestats(formula, panel, hashes, store=store)
    assert changestats(formula, panel, hashes, store=store).computed == []
    import dyadflow.tergm.design as design

    monkeypatch.setattr(design, "kernel_sources_digest", lambda: "edited-kernels")
    assert changestats(formula, panel, hashes, store=store).reused == []
    assert stages.period_cache_parts is design.period_cache_parts
