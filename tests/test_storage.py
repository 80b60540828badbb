"""The data layer against independent references: the alliances and Knecht panels as R ships them
(every network and covariate cell equal to the files), round trips, change detection, atomicity."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyadflow import storage
from dyadflow.storage.demo import write_demo_dataset
from dyadflow.storage.panel import Panel

DATA = Path(__file__).parent / "data"
ALLIANCES = DATA / "alliances"
KNECHT = DATA / "reference" / "knecht" / "preprocessed"


def _tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _matrix(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, index_col=0)
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    return frame


@pytest.fixture(scope="module")
def alliance_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("alliances") / "store"
    report = storage.ingest(ALLIANCES / "dataset.toml", store)
    assert report.rewritten and len(report.changed_periods) == 20
    return store


def test_alliances_equal_the_files_cell_for_cell(alliance_store):
    panel = storage.open_panel(alliance_store)
    assert not panel.directed and panel.period_names == [str(y) for y in range(1981, 2001)]
    nodes = pd.read_csv(ALLIANCES / "allyNet_nodes_long.csv.gz")
    contiguity = _matrix(ALLIANCES / "contigMat.csv.gz")
    for period in panel:
        network = _matrix(ALLIANCES / "allyNet" / f"allyNet_{period.name}.csv.gz")
        assert period.nodes.tolist() == network.index.tolist()
        np.testing.assert_array_equal(period.network, network.to_numpy())
        np.testing.assert_array_equal(period.dyad_covariates["contiguity"], contiguity.loc[period.nodes, period.nodes])
        for name in ("lNet", "LSP", "warNet"):
            upper = _matrix(ALLIANCES / name / f"{name}_{period.name}.csv.gz").to_numpy()
            assert not np.tril(upper, -1).any()  # stored upper-triangular, as btergm ships them
            covariate = period.dyad_covariates[name]
            np.testing.assert_array_equal(np.triu(covariate, 1), upper)
            np.testing.assert_array_equal(covariate, covariate.T)
        year = nodes[nodes["year"] == int(period.name)].set_index("vertex.names").loc[period.nodes]
        np.testing.assert_array_equal(period.node_attributes["cinc"], year["cinc"].to_numpy())
        np.testing.assert_array_equal(period.node_attributes["polity"], year["polity"].to_numpy())


def test_alliance_network_from_matrices_equals_the_edge_list(alliance_store, tmp_path):
    spec = storage.load_spec(ALLIANCES / "dataset.toml").raw
    spec = {
        **spec,
        "base_dir": str(ALLIANCES),
        "network": {"name": "alliance", "format": "matrices", "path": "allyNet/allyNet_{period}.csv.gz"},
    }
    storage.ingest(spec, tmp_path / "from_matrices")
    edges, matrices = storage.open_panel(alliance_store), storage.open_panel(tmp_path / "from_matrices")
    for a, b in zip(edges, matrices):
        np.testing.assert_array_equal(a.network, b.network)
    first, second = storage.read_manifest(alliance_store), storage.read_manifest(tmp_path / "from_matrices")
    assert first["period_hashes"] == second["period_hashes"]


def test_knecht_waves_of_different_sizes_equal_the_files(tmp_path):
    spec = {
        "base_dir": str(KNECHT),
        "name": "knecht",
        "directed": True,
        "periods": ["1", "2", "3", "4"],
        "nodes": {
            "path": "nodes_long.csv",
            "period": "wave",
            "node": "label",
            "attributes": ["sex", "idegsqrt", "odegsqrt"],
        },
        "network": {"name": "friendship", "format": "matrices", "path": "friendship_t{period}.csv"},
        "dyad_covariates": [{"format": "matrix", "name": "primary", "path": "primary_26x26_labelled.csv"}],
    }
    storage.ingest(spec, tmp_path / "knecht")
    panel = storage.open_panel(tmp_path / "knecht")
    assert [p.n for p in panel] == [26, 26, 25, 25]
    primary = _matrix(KNECHT / "primary_26x26_labelled.csv")
    attributes = pd.read_csv(KNECHT / "nodes_long.csv")
    for period in panel:
        wave = _matrix(KNECHT / f"friendship_t{period.name}.csv")
        assert period.nodes.tolist() == wave.index.tolist()
        np.testing.assert_array_equal(period.network, wave.to_numpy())
        np.testing.assert_array_equal(period.dyad_covariates["primary"], primary.loc[period.nodes, period.nodes])
        rows = attributes[attributes["wave"] == int(period.name)]
        assert rows["label"].astype(str).tolist() == period.nodes.tolist()
        for name in ("sex", "idegsqrt", "odegsqrt"):  # float64 kept exactly (not squeezed to float32)
            np.testing.assert_array_equal(period.node_attributes[name], rows[name].to_numpy(dtype=float))


def _dyad_years(directed: bool, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nodes = [f"N{k}" for k in range(7)]
    rows = []
    for year in (2001, 2002, 2003):
        for a, i in enumerate(nodes):
            for b, j in enumerate(nodes):
                if a == b or (not directed and b < a):
                    continue
                rows.append((year, i, j, int(rng.random() < 0.3), float(rng.normal()), float(rng.integers(0, 5))))
    return pd.DataFrame(rows, columns=["year", "i", "j", "y", "trade", "count"])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dta"])
@pytest.mark.parametrize("directed", [True, False])
def test_round_trip_long_table(tmp_path, fmt, directed):
    frame = _dyad_years(directed)
    path = tmp_path / f"dyads.{fmt}"
    {
        "csv": lambda: frame.to_csv(path, index=False),
        "parquet": lambda: frame.to_parquet(path, index=False),
        "dta": lambda: frame.to_stata(path, write_index=False),
    }[fmt]()
    spec = {
        "base_dir": str(tmp_path),
        "directed": directed,
        "periods": {"first": 2001, "last": 2003},
        "network": {"format": "dyad_years", "path": path.name, "period": "year", "i": "i", "j": "j", "y": "y"},
    }
    storage.ingest(spec, tmp_path / "store")
    exported = storage.export_long(tmp_path / "store")
    expected = frame.assign(period=frame["year"].astype(str)).drop(columns="year")
    key = ["period", "i", "j"]
    exported = exported.sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)[exported.columns]
    pd.testing.assert_frame_equal(exported, expected, check_dtype=False)
    # the same panel object as Panel.from_arrays builds from the same matrices
    panel = storage.open_panel(tmp_path / "store")
    nodes = [f"N{k}" for k in range(7)]
    networks, trade = [], []
    for year in (2001, 2002, 2003):
        rows = frame[frame["year"] == year]
        a, b = rows["i"].map(nodes.index).to_numpy(), rows["j"].map(nodes.index).to_numpy()
        y, t = np.zeros((7, 7)), np.zeros((7, 7))
        y[a, b], t[a, b] = rows["y"], rows["trade"]
        if not directed:
            y, t = y + y.T, t + t.T
        networks.append(y)
        trade.append(t)
    built = Panel.from_arrays(
        networks,
        directed=directed,
        nodes=[nodes] * 3,
        period_names=["2001", "2002", "2003"],
        dyad_covariates={"trade": trade},
    )
    assert isinstance(panel, Panel) and panel.period_names == built.period_names
    for a, b in zip(panel, built):
        assert a.nodes.tolist() == b.nodes.tolist()
        np.testing.assert_array_equal(a.network, b.network)
        np.testing.assert_array_equal(a.dyad_covariates["trade"], b.dyad_covariates["trade"])


def _tiny_spec(tmp_path: Path, edges: str, missing: str = "error", nodes: str | None = None) -> dict:
    (tmp_path / "edges.csv").write_text(edges)
    (tmp_path / "nodes.csv").write_text(
        nodes or "year,node,score\n2000,A,1\n2000,B,2\n2000,C,3\n2001,A,1\n2001,B,2\n2001,C,3\n"
    )
    (tmp_path / "cov.csv").write_text(
        "year,i,j,dist\n2000,A,B,1\n2000,A,C,2\n2000,B,C,2\n2001,A,B,4\n2001,A,C,\n2001,B,C,4\n"
    )
    return {
        "base_dir": str(tmp_path),
        "directed": False,
        "periods": {"first": 2000, "last": 2001},
        "missing": missing,
        "nodes": {"path": "nodes.csv", "period": "year", "node": "node"},
        "network": {"format": "dyad_years", "path": "edges.csv", "period": "year", "i": "i", "j": "j", "y": "y"},
        "dyad_covariates": [
            {"format": "long", "path": "cov.csv", "period": "year", "i": "i", "j": "j", "values": ["dist"]}
        ],
    }


EDGES = "year,i,j,y\n2000,A,B,1\n2000,A,C,0\n2000,B,C,1\n2001,A,B,NA\n2001,A,C,0\n2001,B,C,0\n"


def test_missing_values_error_by_default(tmp_path):
    with pytest.raises(storage.IngestError, match=r"edges\.csv, row 4 \(line 5\), column 'y': missing value"):
        storage.ingest(_tiny_spec(tmp_path, EDGES), tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_missing_drop_dyad_excludes_the_dyads(tmp_path):
    storage.ingest(_tiny_spec(tmp_path, EDGES, "drop-dyad"), tmp_path / "store")
    panel = storage.open_panel(tmp_path / "store")
    assert panel[0].observed is None
    second = panel[1]  # A-B tie missing, A-C covariate missing: only B-C remains observed
    expected = np.zeros((3, 3), dtype=bool)
    expected[1, 2] = expected[2, 1] = True
    np.testing.assert_array_equal(second.observed, expected)
    assert storage.export_long(tmp_path / "store")["observed"].tolist() == [True] * 3 + [False, False, True]


def test_missing_fill_mode_uses_the_most_frequent_value(tmp_path):
    storage.ingest(_tiny_spec(tmp_path, EDGES, "fill-mode"), tmp_path / "store")
    second = storage.open_panel(tmp_path / "store")[1]
    assert second.network[0, 1] == 0  # observed ties of 2001: 0, 0 -> mode 0
    assert second.dyad_covariates["dist"][0, 2] == 4.0  # observed distances of 2001: 4, 4


def test_unchanged_inputs_rewrite_nothing_and_changes_are_reported(tmp_path):
    spec = _tiny_spec(tmp_path, EDGES.replace("NA", "1"), "fill-mode")
    store = tmp_path / "store"
    first = storage.ingest(spec, store)
    before = _tree(store)
    again = storage.ingest(spec, store)
    assert not again.rewritten and again.changed_periods == [] and again.dataset_hash == first.dataset_hash
    assert _tree(store) == before
    # same content in another row order: parsed again, but nothing rewritten
    (tmp_path / "edges.csv").write_text(
        "year,i,j,y\n" + "".join(reversed(EDGES.replace("NA", "1").splitlines(True)[1:]))
    )
    reordered = storage.ingest(spec, store)
    assert not reordered.rewritten and _tree(store) == before
    (tmp_path / "edges.csv").write_text(EDGES.replace("NA", "0"))
    changed = storage.ingest(spec, store)
    assert changed.rewritten and changed.changed_periods == ["2001"] and changed.unchanged_periods == ["2000"]
    manifest = storage.read_manifest(store)
    assert manifest["period_hashes"]["2000"] == storage.read_manifest(store)["period_hashes"]["2000"]
    assert storage.open_panel(store)[1].network[0, 1] == 0


def test_killed_ingest_leaves_the_previous_store_intact(tmp_path):
    spec_dir = tmp_path / "demo"
    spec = write_demo_dataset(spec_dir, nodes=40, periods=6, seed=7)
    store = tmp_path / "store"
    storage.ingest(spec, store)
    before = _tree(store)
    reference = [p.network.copy() for p in storage.open_panel(store)]
    write_demo_dataset(spec_dir, nodes=40, periods=6, seed=8)  # new data: a full rewrite is due
    script = textwrap.dedent(f"""
        import os, signal
        from dyadflow import storage
        def progress(done, total, period):
            if done == 3:
                os.kill(os.getpid(), signal.SIGKILL)  # die half way, mid-write
        storage.ingest({str(spec)!r}, {str(store)!r}, progress=progress)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], capture_output=True)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    leftovers = [p for p in store.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers  # the half-written version is there, unreferenced
    assert {k: v for k, v in _tree(store).items() if not k.startswith(".tmp-")} == before
    panel = storage.open_panel(store)
    for network, period in zip(reference, panel):
        np.testing.assert_array_equal(network, period.network)
    report = storage.ingest(spec, store)  # the next ingest completes and removes the debris
    assert report.rewritten and not [p for p in store.iterdir() if p.name.startswith(".tmp-")]
    assert os.path.exists(store / "CURRENT")


def test_demo_panel_is_realistic_and_identical_from_csv_and_parquet(tmp_path):
    hashes = {}
    for fmt in ("parquet", "csv"):
        spec = write_demo_dataset(tmp_path / fmt, nodes=60, periods=5, seed=11, fmt=fmt)
        hashes[fmt] = storage.ingest(spec, tmp_path / f"store_{fmt}").dataset_hash
    assert hashes["csv"] == hashes["parquet"]
    manifest = storage.read_manifest(tmp_path / "store_parquet")
    assert (
        manifest["network"] == "cmaa"
        and manifest["nodes"]["labels"][manifest["nodes"]["ids"].index("AFG")] == "Afghanistan"
    )
    panel = storage.open_panel(tmp_path / "store_parquet")
    period = panel[4]
    assert set(period.node_attributes) >= {
        "polyarchy",
        "corruption",
        "civil_liberties",
        "un_ideal_point",
        "terror_fatalities",
        "drug_list",
    }
    assert set(period.dyad_covariates) == {"contiguity", "log_trade", "mlat", "fta"}
    ties = [p.network.sum() for p in panel]
    assert all(b >= a for a, b in zip(ties, ties[1:]))  # agreements persist; no state leaves in 1990-1994
    assert all(
        float(p.dyad_covariates["log_trade"].astype(np.float32).astype(float).sum())
        == float(p.dyad_covariates["log_trade"].sum())
        for p in panel
    )


def test_derived_arrays_round_trip_atomically(alliance_store):
    assert storage.read_derived(alliance_store, "change_stats", "abc123") is None
    arrays = {"X": np.arange(6.0).reshape(3, 2), "labels": np.array(["a", "b"])}
    storage.write_derived(alliance_store, "change_stats", "abc123", arrays)
    loaded = storage.read_derived(alliance_store, "change_stats", "abc123")
    assert set(loaded) == {"X", "labels"} and np.array_equal(loaded["X"], arrays["X"])
    with pytest.raises(storage.StoreError, match="derived key"):
        storage.write_derived(alliance_store, "change_stats", "../escape", arrays)
