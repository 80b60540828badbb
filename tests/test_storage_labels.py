"""Ids are labels, static covariates may cover more nodes than the panel, non-finite values and
malformed CSV rows are refused at ingest with file, row and column, and a store holds one dataset.

Every case ingests real files (CSV, Parquet, Stata) and reads the store back through open_panel."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from dyadflow import storage

BIG = "12345678901234567890"  # beyond int64 and far beyond float64's exact integers
BIG_NEIGHBOUR = "12345678901234567891"  # the same float64 as BIG: they collide if read as numbers
IDS = ["NA", "007", "7", BIG, BIG_NEIGHBOUR, "N/A"]


def _spec(tmp_path, *, suffix=".csv", extra_top="", covariates="", name="labels", network="ties"):
    text = (
        f'name = "{name}"\ndirected = false\nperiods = {{ first = 2000, last = 2001 }}\n{extra_top}\n'
        f'[nodes]\npath = "nodes{suffix}"\nperiod = "year"\nnode = "id"\nattributes = ["score"]\n\n'
        f'[network]\nname = "{network}"\nformat = "edges"\npath = "edges{suffix}"\nperiod = "year"\n'
        f'i = "a"\nj = "b"\n{covariates}'
    )
    path = tmp_path / "dataset.toml"
    path.write_text(text)
    return path


def _write(frame: pd.DataFrame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_stata(path, write_index=False, version=118)


def _nodes(ids=IDS):
    return pd.DataFrame(
        {"year": [2000] * len(ids) + [2001] * len(ids), "id": ids + ids, "score": np.arange(2 * len(ids), dtype=float)}
    )


EDGES = pd.DataFrame(
    {"year": [2000, 2000, 2001, 2001], "a": ["NA", "007", BIG, "NA"], "b": ["007", BIG_NEIGHBOUR, BIG_NEIGHBOUR, "7"]}
)


def _ties(panel, t):
    period = panel[t]
    labels = period.nodes.tolist()
    return {frozenset((labels[i], labels[j])) for i, j in zip(*np.nonzero(np.triu(period.network)))}


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".dta"])
def test_na_leading_zero_and_huge_ids_round_trip(tmp_path, suffix):
    _write(_nodes(), tmp_path / f"nodes{suffix}")
    _write(EDGES, tmp_path / f"edges{suffix}")
    storage.ingest(_spec(tmp_path, suffix=suffix), tmp_path / "store")
    panel = storage.open_panel(tmp_path / "store")
    assert panel[0].nodes.tolist() == IDS and panel[1].nodes.tolist() == IDS
    assert storage.read_manifest(tmp_path / "store")["nodes"]["ids"] == IDS
    assert _ties(panel, 0) == {frozenset(("NA", "007")), frozenset(("007", BIG_NEIGHBOUR))}
    assert _ties(panel, 1) == {frozenset((BIG, BIG_NEIGHBOUR)), frozenset(("NA", "7"))}
    assert panel[0].node_attributes["score"].tolist() == list(range(len(IDS)))


def test_an_id_numeric_in_one_file_and_text_in_another_matches(tmp_path):
    ids = ["5", "6", "7", "8"]
    _write(_nodes(ids), tmp_path / "nodes.csv")  # "5" as written in CSV
    pd.DataFrame(
        {
            "year": [2000, 2001],
            "a": np.array([5, 6], dtype=np.int64),  # integers in Parquet
            "b": np.array([7.0, 8.0]),
        }
    ).to_parquet(tmp_path / "edges.parquet", index=False)  # floats
    spec = _spec(tmp_path).read_text().replace('"edges.csv"', '"edges.parquet"')
    (tmp_path / "dataset.toml").write_text(spec)
    storage.ingest(tmp_path / "dataset.toml", tmp_path / "store")
    panel = storage.open_panel(tmp_path / "store")
    assert _ties(panel, 0) == {frozenset(("5", "7"))} and _ties(panel, 1) == {frozenset(("6", "8"))}


def test_text_ids_keep_leading_zeros_distinct_and_integer_ids_merge_them(tmp_path):
    _write(_nodes(["007", "7", "8"]), tmp_path / "nodes.csv")
    _write(pd.DataFrame({"year": [2000], "a": ["007"], "b": ["8"]}), tmp_path / "edges.csv")
    storage.ingest(_spec(tmp_path), tmp_path / "text")
    assert storage.open_panel(tmp_path / "text")[0].nodes.tolist() == ["007", "7", "8"]
    with pytest.raises(
        storage.IngestError,
        match=r"nodes\.csv, row 2 \(line 3\), column 'id': duplicate|"
        r"node '7' is listed twice",
    ):
        storage.ingest(_spec(tmp_path, extra_top='node_ids = "integer"'), tmp_path / "integer")

    _write(_nodes(["007", "8", BIG]), tmp_path / "nodes.csv")
    pd.DataFrame({"year": [2000], "a": np.array([7]), "b": ["8.0"]}).to_parquet(tmp_path / "edges.parquet")
    spec = _spec(tmp_path, extra_top='node_ids = "integer"').read_text().replace('"edges.csv"', '"edges.parquet"')
    (tmp_path / "dataset.toml").write_text(spec)
    storage.ingest(tmp_path / "dataset.toml", tmp_path / "integer")
    panel = storage.open_panel(tmp_path / "integer")
    assert panel[0].nodes.tolist() == ["7", "8", BIG]  # exact, even beyond int64
    assert _ties(panel, 0) == {frozenset(("7", "8"))}

    _write(_nodes(["7", "x8"]), tmp_path / "nodes.csv")
    with pytest.raises(
        storage.IngestError,
        match=r"nodes\.csv, row 2 \(line 3\), column 'id': node id 'x8' is not a "
        r'whole number, but the dataset spec says node_ids = "integer"',
    ):
        storage.ingest(tmp_path / "dataset.toml", tmp_path / "integer")


def test_huge_ids_stored_as_floats_are_refused_not_merged(tmp_path):
    _write(_nodes(["1", "2"]), tmp_path / "nodes.csv")
    pd.DataFrame({"year": [2000], "a": [1.0], "b": [float(BIG)]}).to_parquet(tmp_path / "edges.parquet")
    (tmp_path / "dataset.toml").write_text(_spec(tmp_path).read_text().replace('"edges.csv"', '"edges.parquet"'))
    with pytest.raises(
        storage.IngestError,
        match=r"edges\.parquet, row 1, column 'b': node id 1\.2345678901234567\d*e\+19 "
        r"is stored as a floating-point number too large to be exact.*store the column as text",
    ):
        storage.ingest(tmp_path / "dataset.toml", tmp_path / "store")
    pd.DataFrame({"year": [2000], "a": [1.0], "b": [np.inf]}).to_parquet(tmp_path / "edges.parquet")
    with pytest.raises(storage.IngestError, match=r"edges\.parquet, row 1, column 'b': node id is inf, not a finite"):
        storage.ingest(tmp_path / "dataset.toml", tmp_path / "store")


def test_only_empty_cells_and_listed_na_values_are_missing_ids(tmp_path):
    nodes = "year,id,score\n2000,NA,1\n2000,-99,2\n2000,B,3\n"
    (tmp_path / "nodes.csv").write_text(nodes)
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,NA,B\n")
    storage.ingest(_spec(tmp_path), tmp_path / "store")
    assert storage.open_panel(tmp_path / "store")[0].nodes.tolist() == ["NA", "-99", "B"]
    with pytest.raises(storage.IngestError, match=r"nodes\.csv, row 2 \(line 3\), column 'id': missing node id"):
        storage.ingest(_spec(tmp_path, extra_top='na_values = ["-99"]'), tmp_path / "other")
    (tmp_path / "nodes.csv").write_text(nodes.replace("-99", ""))
    with pytest.raises(storage.IngestError, match=r"nodes\.csv, row 2 \(line 3\), column 'id': missing node id"):
        storage.ingest(_spec(tmp_path), tmp_path / "other")


def test_numeric_columns_still_read_na_text_as_missing_and_categories_keep_it(tmp_path):
    (tmp_path / "nodes.csv").write_text("year,id,score,region\n2000,A,NA,NA\n2000,B,-99,EU\n2000,C,3,NA\n")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n")
    spec = (
        _spec(tmp_path, extra_top='missing = "fill-mode"\nna_values = ["-99"]')
        .read_text()
        .replace('attributes = ["score"]', 'attributes = ["score", "region"]\ncategorical = ["region"]')
    )
    (tmp_path / "dataset.toml").write_text(spec)
    storage.ingest(tmp_path / "dataset.toml", tmp_path / "store")
    manifest = storage.read_manifest(tmp_path / "store")
    assert manifest["node_attributes"]["region"]["categories"] == ["EU", "NA"]  # North America, not missing
    period = storage.open_panel(tmp_path / "store")[0]
    assert period.node_attributes["score"].tolist() == [3.0, 3.0, 3.0]  # two missing, filled with the mode


# ------------------------------------------------------------------------------ non-finite values, CSV lines
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_covariates_are_refused_at_ingest(tmp_path, suffix, bad):
    _write(_nodes(["A", "B", "C"]), tmp_path / "nodes.csv")
    _write(EDGES.iloc[:0], tmp_path / "edges.csv")
    _write(
        pd.DataFrame({"year": [2000, 2000], "a": ["A", "A"], "b": ["B", "C"], "dist": [1.5, bad]}),
        tmp_path / f"cov{suffix}",
    )
    covariates = (
        f'\n[[dyad_covariates]]\nformat = "long"\npath = "cov{suffix}"\nperiod = "year"\ni = "a"\n'
        'j = "b"\nvalues = ["dist"]\n'
    )
    line = r" \(line 3\)" if suffix == ".csv" else ""
    with pytest.raises(
        storage.IngestError,
        match=rf"cov\{suffix}, row 2{line}, column 'dist': covariate 'dist' is "
        rf"{'-' if bad < 0 else ''}inf, not a finite number; fix the value, or leave the cell empty",
    ):
        storage.ingest(_spec(tmp_path, covariates=covariates), tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_infinite_attribute_and_matrix_cells_are_refused(tmp_path):
    (tmp_path / "nodes.csv").write_text("year,id,score\n2000,A,1\n2000,B,inf\n")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n")
    with pytest.raises(
        storage.IngestError,
        match=r"nodes\.csv, row 2 \(line 3\), column 'score': attribute 'score' "
        r"is inf, not a finite number",
    ):
        storage.ingest(_spec(tmp_path), tmp_path / "store")
    (tmp_path / "nodes.csv").write_text("year,id,score\n2000,A,1\n2000,B,2\n")
    (tmp_path / "dist.csv").write_text(",A,B\nA,0,-Inf\nB,-Inf,0\n")
    covariates = '\n[[dyad_covariates]]\nformat = "matrix"\nname = "dist"\npath = "dist.csv"\n'
    with pytest.raises(storage.IngestError, match=r"dist\.csv, row 2 \(line 3\), column 'A': matrix cell is -inf"):
        storage.ingest(_spec(tmp_path, covariates=covariates), tmp_path / "store")


def test_non_finite_fill_is_a_spec_error(tmp_path):
    covariates = '\n[[dyad_covariates]]\nformat = "long"\npath = "cov.csv"\nvalues = ["d"]\nfill = inf\n'
    with pytest.raises(storage.SpecError, match=r"key 'dyad_covariates\[0\]\.fill': expected a finite number"):
        storage.load_spec(_spec(tmp_path, covariates=covariates))


def test_csv_rows_with_the_wrong_number_of_fields_name_the_line(tmp_path):
    (tmp_path / "nodes.csv").write_text("year,id,score\n2000,A,1\n2000,B,2\n2000,C,3\n")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n2000,B,C,extra\n2000,A,C\n")
    with pytest.raises(
        storage.IngestError,
        match=r"edges\.csv, line 3: a row has the wrong number of fields "
        r"\(4 fields where the header has 3\).*quote it",
    ):
        storage.ingest(_spec(tmp_path), tmp_path / "store")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n2000,B,C\n2000,A\n")
    with pytest.raises(storage.IngestError, match=r"edges\.csv, line 4: .*\(2 fields where the header has 3\)"):
        storage.ingest(_spec(tmp_path), tmp_path / "store")
    (tmp_path / "edges.csv").write_text('year,a,b\n2000,A,B\n2000,"B,C\n2000,A,C\n')
    with pytest.raises(
        storage.IngestError,
        match=r"edges\.csv, line 3: .*a quoted value opened on this line is not "
        r"closed \(an unmatched '\"'\), so the row runs to line 4",
    ):
        storage.ingest(_spec(tmp_path), tmp_path / "store")


def test_nan_in_a_parquet_covariate_is_a_missing_value_naming_the_row(tmp_path):
    _write(_nodes(["A", "B", "C"]), tmp_path / "nodes.csv")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n")
    _write(
        pd.DataFrame({"year": [2000, 2001], "a": ["A", "A"], "b": ["B", "C"], "dist": [1.5, np.nan]}),
        tmp_path / "cov.parquet",
    )
    covariates = (
        '\n[[dyad_covariates]]\nformat = "long"\npath = "cov.parquet"\nperiod = "year"\ni = "a"\n'
        'j = "b"\nvalues = ["dist"]\n'
    )
    with pytest.raises(
        storage.IngestError,
        match=r"cov\.parquet, row 2, column 'dist': missing value; fix the data, "
        r"or set missing = \"drop-dyad\"",
    ):
        storage.ingest(_spec(tmp_path, covariates=covariates), tmp_path / "store")


def test_stata_numeric_ids_match_csv_text_ids(tmp_path):
    _write(_nodes(["5", "6", "7"]), tmp_path / "nodes.csv")
    pd.DataFrame(
        {"year": np.array([2000, 2001], dtype=np.int16), "a": [5.0, 6.0], "b": np.array([7, 7], dtype=np.int32)}
    ).to_stata(tmp_path / "edges.dta", write_index=False)
    (tmp_path / "dataset.toml").write_text(_spec(tmp_path).read_text().replace('"edges.csv"', '"edges.dta"'))
    storage.ingest(tmp_path / "dataset.toml", tmp_path / "store")
    panel = storage.open_panel(tmp_path / "store")
    assert _ties(panel, 0) == {frozenset(("5", "7"))} and _ties(panel, 1) == {frozenset(("6", "7"))}


# --------------------------------------------------------------------- static covariates beyond the panel
def _static_long(tmp_path, rows: str, strict: bool = False):
    _write(_nodes(["A", "B", "C"]), tmp_path / "nodes.csv")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n2001,B,C\n")
    (tmp_path / "contig.csv").write_text("a,b,contiguity\n" + rows)
    covariates = (
        '\n[[dyad_covariates]]\nformat = "long"\npath = "contig.csv"\ni = "a"\nj = "b"\nvalues = ["contiguity"]\n'
    )
    return _spec(tmp_path, covariates=covariates, extra_top="strict = true" if strict else "")


def test_static_covariate_rows_of_nodes_never_in_the_panel_are_dropped_with_one_warning(tmp_path):
    rows = "A,B,1\nA,AND,1\nAND,FRA,1\nB,C,1\nKIR,NRU,1\nC,TUV,1\n"
    with pytest.warns(storage.IngestWarning) as caught:
        storage.ingest(_static_long(tmp_path, rows), tmp_path / "store")
    messages = [str(w.message) for w in caught if issubclass(w.category, storage.IngestWarning)]
    assert len(messages) == 1
    assert messages[0].startswith(
        f"{tmp_path / 'contig.csv'}: 4 rows of the static covariate table name 5 nodes "
        "never in the panel ('AND', 'FRA', 'KIR', ...; not in the nodes table); they are "
        "left out (set strict = true"
    )
    contiguity = storage.open_panel(tmp_path / "store")[0].dyad_covariates["contiguity"]
    assert contiguity.tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inputs unchanged: nothing is read again, nothing repeated
        storage.ingest(tmp_path / "dataset.toml", tmp_path / "store")


def test_strict_makes_rows_of_unknown_nodes_an_error(tmp_path):
    spec = _static_long(tmp_path, "A,B,1\nB,C,1\nC,TUV,1\n", strict=True)
    with pytest.raises(
        storage.IngestError,
        match=r"contig\.csv, row 3 \(line 4\), column 'b': 1 row of the static "
        r"covariate table name 1 node never in the panel \('TUV'; not in the nodes table\); the dataset "
        r"spec sets strict = true, which makes this an error: remove those rows",
    ):
        storage.ingest(spec, tmp_path / "store")


def test_a_static_matrix_over_more_nodes_is_cut_to_the_panel(tmp_path):
    _write(_nodes(["A", "B", "C"]), tmp_path / "nodes.csv")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n")
    (tmp_path / "dist.csv").write_text(",A,AND,B,C\nA,0,9,1,2\nAND,9,0,9,9\nB,1,9,0,3\nC,2,9,3,0\n")
    covariates = '\n[[dyad_covariates]]\nformat = "matrix"\nname = "dist"\npath = "dist.csv"\n'
    with pytest.warns(
        storage.IngestWarning,
        match=r"1 row of the static covariate table name 1 node never in the "
        r"panel \('AND'; not in the nodes table\)",
    ):
        storage.ingest(_spec(tmp_path, covariates=covariates), tmp_path / "store")
    assert storage.open_panel(tmp_path / "store")[0].dyad_covariates["dist"].tolist() == [
        [0, 1, 2],
        [1, 0, 3],
        [2, 3, 0],
    ]
    with pytest.raises(
        storage.IngestError,
        match=r"dist\.csv, row 'AND' \(line 3\): 1 row of the static "
        r"covariate table name 1 node never in the panel \('AND'.*strict = true",
    ):
        storage.ingest(_spec(tmp_path, covariates=covariates, extra_top="strict = true"), tmp_path / "strict")


def test_per_period_covariates_still_refuse_unknown_nodes(tmp_path):
    _write(_nodes(["A", "B"]), tmp_path / "nodes.csv")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n")
    (tmp_path / "cov.csv").write_text("year,a,b,d\n2000,A,B,1\n2000,A,ZZ,1\n")
    covariates = (
        '\n[[dyad_covariates]]\nformat = "long"\npath = "cov.csv"\nperiod = "year"\ni = "a"\nj = "b"\nvalues = ["d"]\n'
    )
    with pytest.raises(storage.IngestError, match=r"cov\.csv, row 2 \(line 3\), column 'b': unknown node id 'ZZ'"):
        storage.ingest(_spec(tmp_path, covariates=covariates), tmp_path / "store")


@pytest.mark.parametrize("periods, nodes", [(2, 5), (3, 20), (3, 5), (4, 240)])
def test_demo_dataset_ingests_for_any_size(tmp_path, periods, nodes):
    from dyadflow.storage.demo import write_demo_dataset

    spec = write_demo_dataset(tmp_path / "data", nodes=nodes, periods=periods, seed=3, fmt="csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = storage.ingest(spec, tmp_path / "store")
    # states that join after the last year are in the contiguity table only: left out, said once
    assert [str(w.message) for w in caught] == list(report.notes)
    assert all("contiguity.csv" in note and "never in the panel" in note for note in report.notes)
    panel = storage.open_panel(tmp_path / "store")
    assert len(panel) == periods and all(p.n >= 2 for p in panel)


# ------------------------------------------------------------------------------------ one dataset a store
def test_another_dataset_is_refused_unless_overwrite(tmp_path):
    _write(_nodes(["A", "B", "C"]), tmp_path / "nodes.csv")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n")
    store = tmp_path / "store"
    storage.ingest(_spec(tmp_path), store)
    version = (store / "CURRENT").read_text()

    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n2001,B,C\n")  # updated data, same dataset
    updated = storage.ingest(_spec(tmp_path), store)
    assert updated.rewritten and updated.changed_periods == ["2001"]
    version = (store / "CURRENT").read_text()

    for name, network in (("other", "ties"), ("labels", "alliances")):
        with pytest.raises(
            storage.StoreError,
            match=rf"store holds dataset 'labels' \(network 'ties'\), but the dataset "
            rf"spec .*dataset\.toml is dataset '{name}' \(network '{network}'\); a store holds one "
            r"dataset\. Ingest into another folder .*overwrite=True",
        ):
            storage.ingest(_spec(tmp_path, name=name, network=network), store)
        assert (store / "CURRENT").read_text() == version
    replaced = storage.ingest(_spec(tmp_path, name="other"), store, overwrite=True)
    assert replaced.rewritten and storage.read_manifest(store)["name"] == "other"


def test_a_damaged_store_is_rebuilt_by_re_ingest(tmp_path):
    _write(_nodes(["A", "B", "C"]), tmp_path / "nodes.csv")
    (tmp_path / "edges.csv").write_text("year,a,b\n2000,A,B\n")
    store = tmp_path / "store"
    storage.ingest(_spec(tmp_path), store)
    manifest = store / (store / "CURRENT").read_text() / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(storage.StoreError, match="damaged.*re-ingest"):
        storage.open_panel(store)
    with pytest.warns(storage.store.DamagedStoreWarning, match="writing a fresh version"):
        report = storage.ingest(_spec(tmp_path), store)
    assert report.rewritten and storage.open_panel(store)[0].n == 3


# ----------------------------------------------------------------------------------- spec type errors
@pytest.mark.parametrize(
    "edit, message",
    [
        (('name = "labels"', "name = 5"), r"key 'name': expected a non-empty string, got 5"),
        (("directed = false", 'directed = "no"'), r"key 'directed': must be true or false, got 'no'"),
        (('node = "id"', "node = 1"), r"key 'nodes\.node': expected a non-empty string, got 1"),
        (
            ('attributes = ["score"]', "attributes = 3"),
            r"key 'nodes\.attributes': expected a list of column names, got 3",
        ),
        (('i = "a"', "i = true"), r"key 'network\.i': expected a non-empty string, got True"),
        (('path = "edges.csv"', "path = []"), r"key 'network\.path': expected a non-empty string, got \[\]"),
        (("periods = { first = 2000, last = 2001 }", 'periods = "2000-2001"'), r"key 'periods': expected"),
        (
            ('path = "nodes.csv"', 'path = "nodes.csv"\nencoding = "utf-9"'),
            r"key 'nodes\.encoding': unknown text encoding 'utf-9'; use e\.g\. \"utf-8\"",
        ),
        (
            ('path = "nodes.csv"', 'path = "nodes.csv"\nencoding = 8'),
            r"key 'nodes\.encoding': expected a non-empty string",
        ),
        (
            ('format = "edges"', "format = 3"),
            r"key 'network\.format': must be one of \('edges', 'dyad_years', "
            r"'agreements', 'matrices'\), got 3",
        ),
        (("strict = true", 'strict = "yes"'), r"key 'strict': must be true or false, got 'yes'"),
    ],
)
def test_spec_type_errors_name_the_key_and_the_expected_type(tmp_path, edit, message):
    path = _spec(tmp_path, extra_top="strict = true")
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(storage.SpecError, match=rf"dataset spec .*dataset\.toml.*{message}"):
        storage.load_spec(path)
