"""Every malformed input of the corpus in tests/data/storage/malformed is refused with a message that
names the file and the row/cell and column, and the store it was ingested into stays as it was."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from dyadflow import storage

CORPUS = Path(__file__).parent / "data" / "storage" / "malformed"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
VALID = Path(__file__).parent / "data" / "storage" / "valid_tiny"


def _tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def live_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "tiny"
    storage.ingest(VALID / "dataset.toml", store)
    return store


def test_corpus_has_a_case_per_rule():
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_malformed_input_is_refused_and_store_unchanged(case, live_store):
    before = _tree(live_store)
    expected = (CORPUS / case / "expected.txt").read_text().strip()
    with pytest.raises(storage.PanelError) as error:
        storage.ingest(CORPUS / case / "dataset.toml", live_store)
    assert re.search(expected, str(error.value)), f"{case}: {error.value}"
    assert _tree(live_store) == before
    assert storage.open_panel(live_store)[0].n == 5
