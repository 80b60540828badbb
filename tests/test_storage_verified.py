"""A damaged store is refused with a StoreError naming the store, period and array, never read
silently; a damaged cached derived entry is discarded (with a warning) and recomputed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dyadflow import storage
from dyadflow.storage.store import DerivedCacheWarning

VALID = Path(__file__).parent / "data" / "storage" / "valid_tiny"


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    storage.ingest(VALID / "dataset.toml", path)
    return path


def _version(store: Path) -> Path:
    return store / (store / "CURRENT").read_text().strip()


def _chunk(store: Path, array: str, t: int) -> Path:
    chunks = sorted((_version(store) / "panel.zarr" / array / "c").rglob("*"))
    files = [
        p
        for p in chunks
        if p.is_file() and p.relative_to(_version(store) / "panel.zarr" / array / "c").parts[0] == str(t)
    ]
    assert len(files) == 1, files
    return files[0]


def _read_all(store: Path):
    return [period.network.sum() for period in storage.open_panel(store)]


def test_intact_store_reads_and_trusted_store_skips_checks(store):
    assert len(_read_all(store)) == 2
    assert len(list(storage.open_panel(store, verify=False))) == 2


def test_deleted_chunk_is_refused(store):
    _chunk(store, "network", 1).unlink()
    with pytest.raises(storage.StoreError, match=r"period 2001, array 'network'.*re-ingest") as error:
        _read_all(store)
    assert str(store) in str(error.value)


def test_chunk_swapped_between_periods_is_refused(store):
    first, second = _chunk(store, "dyad_covariates/dist", 0), _chunk(store, "dyad_covariates/dist", 1)
    shutil.copyfile(first, second)
    with pytest.raises(storage.StoreError, match=r"period 2001, array 'dyad_covariates/dist'"):
        _read_all(store)


def test_swapped_presence_is_refused(store):
    shutil.copyfile(_chunk(store, "present", 0), _chunk(store, "present", 1))
    with pytest.raises(storage.StoreError, match=r"period 2001, array '(present|network)'"):
        _read_all(store)


def test_truncated_chunk_is_refused(store):
    chunk = _chunk(store, "network", 0)
    chunk.write_bytes(chunk.read_bytes()[:5])
    with pytest.raises(storage.StoreError, match=r"period 2000, array 'network'"):
        _read_all(store)


def test_truncated_manifest_is_refused(store):
    manifest = _version(store) / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:100])
    with pytest.raises(storage.StoreError, match="manifest.*damaged"):
        storage.open_panel(store)


def test_edited_manifest_is_refused(store):
    manifest = _version(store) / "manifest.json"
    content = json.loads(manifest.read_text())
    content["period_ties"]["2000"] += 1
    manifest.write_text(json.dumps(content))
    with pytest.raises(storage.StoreError, match="does not match its content hash"):
        storage.read_manifest(store)


def test_deleted_zarr_json_is_refused(store):
    (_version(store) / "panel.zarr" / "zarr.json").unlink()
    with pytest.raises(storage.StoreError, match=r"Zarr group cannot be opened"):
        _read_all(store)


def test_damaged_derived_entry_is_discarded_with_a_warning(store):
    arrays = {"X": np.arange(6.0).reshape(3, 2)}
    storage.write_derived(store, "change_stats", "k1", arrays)
    np.testing.assert_array_equal(storage.read_derived(store, "change_stats", "k1")["X"], arrays["X"])
    path = store / "derived" / "change_stats" / "k1.npz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.warns(DerivedCacheWarning, match="discarding"):
        assert storage.read_derived(store, "change_stats", "k1") is None
    assert not path.exists()
    np.savez(path, X=np.zeros((3, 2)))  # no digest: not trusted
    with pytest.warns(DerivedCacheWarning, match="no content digest"):
        assert storage.read_derived(store, "change_stats", "k1") is None
