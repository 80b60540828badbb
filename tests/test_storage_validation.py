"""Specs are strict: one validation helper (storage/validation.py) refuses unknown keys in the dataset,
run and cluster specs naming the key, the table and the closest known key; type errors name the key and
the expected type; cluster options are checked against the cluster class before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyadflow import storage
from dyadflow.cluster import ClusterSpec, ClusterSpecError
from dyadflow.flows.spec import RunSpecError, load_run_spec, parse_run_spec
from dyadflow.storage.validation import Key, check_table

VALID = Path(__file__).parent / "data" / "storage" / "valid_tiny"


def _dataset_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dataset.toml"
    path.write_text(text)
    return path


AGREEMENTS = """
name = "tiny"
directed = false
periods = {{ first = 2000, last = 2002 }}
{top}
[network]
format = "agreements"
path = "agreements.csv"
i = "a"
j = "b"
start = "signed"
{network}
[[dyad_covariates]]
format = "long"
path = "cov.csv"
i = "a"
j = "b"
values = ["w"]
{covariate}
"""


@pytest.mark.parametrize(
    "top, network, covariate, message",
    [
        ("", 'edn = "ended"', "", r"unknown key 'edn' in \[network\].*did you mean 'end'\?"),
        ("", "", "fil = 1.0", r"unknown key 'fil' in \[\[dyad_covariates\]\] number 1.*did you mean 'fill'\?"),
        ("mising = 'error'", "", "", r"unknown key 'mising' in the top-level table; did you mean 'missing'\?"),
        ("", 'period = "year"', "", r"unknown key 'period' in \[network\] \(format = 'agreements'\)"),
    ],
)
def test_misspelt_dataset_keys_are_refused_with_a_suggestion(tmp_path, top, network, covariate, message):
    path = _dataset_spec(tmp_path, AGREEMENTS.format(top=top, network=network, covariate=covariate))
    with pytest.raises(storage.SpecError, match=message) as error:
        storage.load_spec(path)
    assert str(path) in str(error.value)


def test_nodes_table_keys_are_checked(tmp_path):
    text = (VALID / "dataset.toml").read_text()
    assert "[nodes]" in text
    path = _dataset_spec(tmp_path, text.replace("[nodes]", "[nodes]\nlable = 'x'"))
    with pytest.raises(storage.SpecError, match=r"unknown key 'lable' in \[nodes\]; did you mean 'label'\?"):
        storage.load_spec(path)


def test_dataset_option_types_are_checked(tmp_path):
    base = AGREEMENTS.format(top="{}", network="", covariate="")
    for top, message in (
        ("strict = 'yes'", r"'strict'.*true or false"),
        ("node_ids = 'numeric'", r"'node_ids'.*one of \('text', 'integer'\)"),
        ("na_values = [1]", r"'na_values'.*list of strings"),
    ):
        with pytest.raises(storage.SpecError, match=message):
            storage.load_spec(_dataset_spec(tmp_path, base.replace("{}", top)))


RUN = {"dataset": {"spec": "d.toml", "store": "s"}, "model": {"formula": "net ~ edges"}}


@pytest.mark.parametrize(
    "table, message",
    [
        ({**RUN, "bootstrp": {"R": 5}}, r"unknown key 'bootstrp' in the run spec; did you mean 'bootstrap'\?"),
        ({**RUN, "bootstrap": {"sead": 5}}, r"unknown key 'sead' in \[bootstrap\]; did you mean 'seed'\?"),
        ({**RUN, "bootstrap": {"R": "abc"}}, r"R = 'abc': expected a non-negative integer"),
        ({**RUN, "cluster": {"wrokers": 2}}, r"unknown key 'wrokers' in \[cluster\]; did you mean 'workers'\?"),
        (
            {**RUN, "cluster": {"options": {"dashbord_address": ":0"}}},
            r"unknown key 'dashbord_address' in \[cluster.options\] \(kind = 'local'\); did you mean 'dashboard_address'\?",
        ),
    ],
)
def test_run_spec_keys_and_types_are_strict(tmp_path, table, message):
    with pytest.raises(RunSpecError, match=message):
        parse_run_spec(table, base=tmp_path)


def test_cluster_options_checked_against_the_class_signature():
    assert ClusterSpec.from_mapping({"options": {"death_timeout": 5}}).options == {"death_timeout": 5}
    with pytest.raises(ClusterSpecError, match="set by dyadflow"):
        ClusterSpec.from_mapping({"options": {"n_workers": 3}})
    with pytest.raises(ClusterSpecError, match="takes no options"):
        ClusterSpec.from_mapping({"kind": "address", "address": "tcp://h:1", "options": {"x": 1}})


def test_run_spec_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_bytes('[model]\nformula = "net ~ edges" # caf\xe9\n'.encode("latin-1"))
    with pytest.raises(RunSpecError, match=rf"{path}.*not valid UTF-8"):
        load_run_spec(path)


def test_check_table_fills_defaults_and_names_types():
    schema = {"R": Key((int,), default=100), "name": Key((str,), required=True), "share": Key((float,))}
    assert check_table({"name": "x", "share": 1}, schema, "[t]", ValueError) == {"R": 100, "name": "x", "share": 1}
    with pytest.raises(ValueError, match=r"\[t\] R = True: expected an integer, got bool"):
        check_table({"name": "x", "R": True}, schema, "[t]", ValueError)
    with pytest.raises(ValueError, match=r"\[t\] name is required \(a string\)"):
        check_table({}, schema, "[t]", ValueError)
    with pytest.raises(ValueError, match=r"\[t\] must be a table"):
        check_table([1], schema, "[t]", ValueError)
