"""The canonical store of one dataset, and reading it back.

Layout of a store directory::

    CURRENT                   name of the live version (replaced atomically: the commit point)
    v-<hash>-<id>/            one complete version
        manifest.json         schema version, node universe (+labels), periods, directedness,
                              a content hash per period, per attribute and per covariate
        panel.zarr/           Zarr v3 group; one chunk per period
            network           (T, N, N) uint8 over the node universe (absent nodes: zero rows)
            present           (T, N) uint8 node-presence masks
            node_attributes/  <name>: (T, N) float32/float64 (NaN = absent), categorical: int32 codes
            dyad_covariates/  <name>: (T, N, N) per period or (N, N) static, float32/float64
            observed          (T, N, N) uint8, only with missing = "drop-dyad": 0 = excluded dyad
        dyad_years/period=<p>/part-0.parquet   long dyad-years (i, j, y, covariates) for pandas/DuckDB
    derived/<group>/<key>.npz cached per-period arrays of the workflow (written atomically)
    .tmp-<pid>-<id>/          a version being written (removed if its process is gone)

Covariates and attributes are stored float32 when every value survives the round trip exactly and
float64 otherwise, so the store never changes a number the user gave.

One dataset per store. A dataset's identity is its spec's `name` and its network's `name` (the
left-hand side of every formula fitted on it), recorded in the manifest. Re-ingesting the same
dataset — updated files, new periods, other file paths, a corrected spec — writes a new version as
usual (the refresh flow does this on a schedule). A spec with another dataset name or network name is
refused with a StoreError before anything is read, because it would replace the data that earlier
results and caches in the store describe; `ingest(..., overwrite=True)` replaces it on purpose. The
content hash is deliberately not part of the identity: changed data of the same dataset is an update.

Atomicity: a version is written in full under a temporary name, renamed, and only then does CURRENT
switch to it (os.replace); a failed or killed ingest leaves the previous version live and intact. The
previous version is kept one generation so a reader that opened it keeps working.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import zarr
from zarr.codecs import ZstdCodec

from dyadflow.storage.ingest import Dataset, IngestWarning, PeriodArrays
from dyadflow.storage.panel import Panel, PanelError, Period
from dyadflow.storage.readers import CHUNK_BYTES, IngestError
from dyadflow.storage.spec import DatasetSpec, load_spec

SCHEMA_VERSION = 1
# How raw files are read (2: ids are labels, static tables may cover more nodes): part of the inputs
# fingerprint, so a store ingested by an older reader is read again at the next ingest, not skipped.
READER_VERSION = 2
CURRENT = "CURRENT"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class StoreError(PanelError):
    """A store that is missing, damaged or not a dyadflow store."""


class DamagedStoreWarning(UserWarning):
    """The live version of a store being re-ingested was damaged; a fresh version replaces it."""


class DerivedCacheWarning(UserWarning):
    """A cached derived entry was damaged and is being recomputed."""


DIGEST = "__dyadflow_digest__"  # the content digest stored with every derived entry


@dataclass(frozen=True)
class IngestReport:
    changed_periods: list[str]  # periods whose content differs from the previous store (all, for a new one)
    unchanged_periods: list[str]
    rewritten: bool  # False: the inputs were unchanged and nothing was written
    dataset_hash: str
    store_path: Path = field(default=Path("."))
    notes: tuple[str, ...] = ()  # input rows left out, one line per table (also issued as IngestWarning)


def ingest(
    spec_path_or_spec: str | Path | dict | DatasetSpec,
    store_path: str | Path,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    overwrite: bool = False,
    chunk_bytes: int | None = CHUNK_BYTES,
) -> IngestReport:
    """Validate a dataset's raw inputs and write them as a new store version (or nothing if unchanged).

    Long tables (dyad-years, edges, long covariates) are read in chunks of about chunk_bytes (None:
    whole), so inputs larger than memory ingest; the store is the same for any chunk size.

    progress(done, total, period) is called after each period is written. A store that holds another
    dataset (another spec `name` or network `name`, see the module docstring) is refused unless
    `overwrite`. A store whose live version is damaged is rebuilt (with a warning): that is the
    remedy its read errors point to.
    """
    spec = load_spec(spec_path_or_spec)
    store = Path(store_path)
    _check_store_directory(store)
    try:
        previous = _live_manifest(store)
    except StoreError as error:
        warnings.warn(DamagedStoreWarning(f"{error}; writing a fresh version"), stacklevel=2)
        previous = None
    if previous is not None and not overwrite:
        _refuse_another_dataset(store, previous, spec)
    fingerprint = _inputs_fingerprint(spec)
    if previous is not None and previous.get("inputs_fingerprint") == fingerprint:
        return IngestReport([], list(previous["periods"]), False, previous["dataset_hash"], store)
    created = not store.exists()
    store.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(store)
    token = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temporary, scratch = store / token, store / f"{token}-rows"
    try:
        scratch.mkdir()
        # Every input is read chunk by chunk and each row checked as far as it can be alone; the long
        # tables' rows wait in `scratch`, grouped by period, and each period's remaining checks
        # (duplicates, absent nodes, missing values) run as it is written. Nothing is visible in the
        # store before every period has passed.
        with Dataset(spec, scratch=scratch, chunk_bytes=chunk_bytes) as dataset:
            for note in dataset.notes:
                warnings.warn(IngestWarning(note), stacklevel=2)
            manifest = _write_version(dataset, temporary, fingerprint, progress)
        old_hashes = previous["period_hashes"] if previous is not None else {}
        changed = [p for p in manifest["periods"] if old_hashes.get(p) != manifest["period_hashes"][p]]
        unchanged = [p for p in manifest["periods"] if p not in changed]
        if previous is not None and previous["dataset_hash"] == manifest["dataset_hash"]:
            shutil.rmtree(temporary)
            return IngestReport([], unchanged, False, manifest["dataset_hash"], store, tuple(dataset.notes))
        version = f"v-{manifest['dataset_hash'][:16]}-{uuid.uuid4().hex[:6]}"
        os.rename(temporary, store / version)
        _point_current(store, version)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        if created and not any(store.iterdir()):
            store.rmdir()  # a failed first ingest leaves no trace
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune(store, keep={version, previous["_version"] if previous is not None else version})
    return IngestReport(changed, unchanged, True, manifest["dataset_hash"], store, tuple(dataset.notes))


def _refuse_another_dataset(store: Path, previous: dict, spec: DatasetSpec) -> None:
    held = (previous.get("name"), previous.get("network", spec.network.name))
    if held == (spec.name, spec.network.name):
        return
    raise StoreError(
        f"{store}: the store holds dataset {held[0]!r} (network {held[1]!r}), but the dataset spec {spec.source} "
        f"is dataset {spec.name!r} (network {spec.network.name!r}); a store holds one dataset. Ingest into "
        "another folder (the run spec's [dataset] store), delete this store, or pass overwrite=True to "
        "storage.ingest to replace it; if this is the same dataset renamed, overwrite=True is also the way"
    )


# ----------------------------------------------------------------------------------------- writing
def _write_version(dataset: Dataset, directory: Path, fingerprint: str, progress) -> dict:
    T, N = dataset.T, dataset.N
    spec = dataset.spec
    directory.mkdir(parents=True)
    group = zarr.open_group(str(directory / "panel.zarr"), mode="w")
    compressors = [ZstdCodec(level=3)]

    def array(parent, name, shape, chunks, dtype, fill):
        return parent.create_array(
            name, shape=shape, chunks=chunks, dtype=dtype, compressors=compressors, fill_value=fill
        )

    network = array(group, "network", (T, N, N), (1, N, N), "uint8", 0)
    present = array(group, "present", (T, N), (1, N), "uint8", 0)
    observed = array(group, "observed", (T, N, N), (1, N, N), "uint8", 1) if spec.missing == "drop-dyad" else None
    attribute_group = group.create_group("node_attributes")
    attributes_meta, attribute_arrays = {}, {}
    for name in dataset.attribute_names:
        categories = dataset.categories.get(name)
        dtype = "int32" if categories is not None else ("float32" if dataset.float32_exact(name) else "float64")
        fill = -1 if categories is not None else float("nan")
        attribute_arrays[name] = array(attribute_group, name, (T, N), (1, N), dtype, fill)
        attributes_meta[name] = {"dtype": dtype, "categories": categories, "hashes": {}}
    covariate_group = group.create_group("dyad_covariates")
    covariates_meta, covariate_arrays = {}, {}
    for name in dataset.covariate_names:
        dtype = "float32" if dataset.float32_exact(name) else "float64"
        static = name in dataset.static_covariates
        if static:
            stored = dataset.static_covariates[name].astype(dtype)
            array(covariate_group, name, (N, N), (N, N), dtype, 0.0)[...] = stored
            covariate_arrays[name] = stored
        else:
            covariate_arrays[name] = array(covariate_group, name, (T, N, N), (1, N, N), dtype, 0.0)
        covariates_meta[name] = {"dtype": dtype, "static": static, "hashes": {}}

    universe = pa.array(dataset.universe.tolist(), pa.string())
    period_hashes, network_hashes, node_counts, tie_counts, dropped = {}, {}, {}, {}, {}
    for t, (label, period) in enumerate(zip(spec.periods, dataset.periods())):
        index = np.flatnonzero(period.present)
        block = np.ix_(index, index)
        present[t] = period.present.astype(np.uint8)
        network[t] = period.network
        digest = _hasher(label.encode(), "\x00".join(dataset.universe[index].tolist()).encode())
        network_hashes[label] = _hash(period.network[block])
        digest.update(network_hashes[label].encode())
        for name, values in period.node_attributes.items():
            stored = _stored_attribute(values, attributes_meta[name]["dtype"])
            attribute_arrays[name][t] = stored
            attributes_meta[name]["hashes"][label] = _hash(stored[index])
        stored_covariates = {}
        for name in dataset.covariate_names:
            meta = covariates_meta[name]
            if meta["static"]:
                stored_covariates[name] = covariate_arrays[name]
            else:
                stored_covariates[name] = period.dyad_covariates[name].astype(meta["dtype"])
                covariate_arrays[name][t] = stored_covariates[name]
            meta["hashes"][label] = _hash(stored_covariates[name][block])
        for kind, meta in (("a", attributes_meta), ("c", covariates_meta)):
            for name in sorted(meta):
                digest.update(f"{kind}:{name}:{meta[name]['hashes'][label]}".encode())
        if period.observed is not None:
            observed[t] = period.observed.astype(np.uint8)
            digest.update(b"observed" + _hash(period.observed[block]).encode())
            dropped[label] = int(period.observed[block].size - len(index) - period.observed[block].sum())
        period_hashes[label] = digest.hexdigest()
        node_counts[label] = int(len(index))
        tie_counts[label] = int(period.network.sum() // (1 if spec.directed else 2))
        _write_long_period(directory, label, dataset, period, stored_covariates, universe)
        if progress is not None:
            progress(t + 1, T, label)

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": spec.name,
        "network": spec.network.name,
        "directed": spec.directed,
        "missing": spec.missing,
        "periods": list(spec.periods),
        "nodes": {"ids": dataset.universe.tolist(), "labels": dataset.node_labels},
        "period_hashes": period_hashes,
        "network_hashes": network_hashes,
        "period_nodes": node_counts,
        "period_ties": tie_counts,
        "node_attributes": attributes_meta,
        "dyad_covariates": covariates_meta,
        "observed": observed is not None,
        "dropped_dyads": dropped,
    }
    manifest["dataset_hash"] = _hash_text(json.dumps(manifest, sort_keys=True))
    manifest["inputs_fingerprint"] = fingerprint
    _write_json(directory / "manifest.json", manifest)
    return manifest


def _stored_attribute(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "int32":
        return np.where(np.isnan(values), -1, values).astype(np.int32)
    return values.astype(dtype)


def _write_long_period(directory: Path, label: str, dataset: Dataset, period: PeriodArrays, covariates, universe):
    dyads = np.outer(period.present, period.present)
    np.fill_diagonal(dyads, False)
    if not dataset.directed:
        dyads = np.triu(dyads, 1)
    i, j = np.nonzero(dyads)
    columns = {
        "i": pa.DictionaryArray.from_arrays(pa.array(i.astype(np.int32)), universe),
        "j": pa.DictionaryArray.from_arrays(pa.array(j.astype(np.int32)), universe),
        "y": pa.array(period.network[i, j]),
    }
    for name, matrix in covariates.items():
        columns[name] = pa.array(matrix[i, j])
    if period.observed is not None or dataset.spec.missing == "drop-dyad":
        observed = period.observed[i, j] if period.observed is not None else np.ones(len(i), dtype=bool)
        columns["observed"] = pa.array(observed)
    target = directory / "dyad_years" / f"period={label}"
    target.mkdir(parents=True)
    pq.write_table(pa.table(columns), target / "part-0.parquet", compression="zstd")


def _hasher(*parts: bytes):
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        digest.update(part)
    return digest


def _hash(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return _hasher(f"{array.dtype.str}{array.shape}".encode(), array.tobytes()).hexdigest()


def _hash_text(text: str) -> str:
    return _hasher(text.encode()).hexdigest()


def _input_files(spec: DatasetSpec) -> list[Path]:
    files = []
    if spec.nodes is not None:
        files.append(spec.nodes.path)
    paths = [spec.network.path] + [c.path for c in spec.dyad_covariates]
    for path in paths:
        if "{period}" in str(path):
            files += [spec.period_path(path, p) for p in spec.periods]
        else:
            files.append(path)
    return files


def _inputs_fingerprint(spec: DatasetSpec) -> str:
    """Hash of the spec and every input file's bytes: unchanged inputs need no ingest at all."""
    digest = _hasher(
        f"schema {SCHEMA_VERSION} reader {READER_VERSION}\n".encode(),
        json.dumps(spec.raw, sort_keys=True, default=str).encode(),
    )
    for path in _input_files(spec):
        digest.update(str(path).encode())
        if not path.is_file():
            raise IngestError(f"{path}: input file not found")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, content: dict) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(content, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def _point_current(store: Path, version: str) -> None:
    temporary = store / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(version)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, store / CURRENT)


def _check_store_directory(store: Path) -> None:
    if store.exists() and not store.is_dir():
        raise StoreError(f"{store}: exists and is not a directory")
    if store.is_dir() and not (store / CURRENT).exists():
        foreign = [p.name for p in store.iterdir() if not (p.name.startswith(".tmp-") or p.name == "derived")]
        if foreign:
            raise StoreError(
                f"{store}: the folder is not empty and is not a dyadflow store (has {foreign[:3]}); "
                "choose an empty or new folder"
            )


def _remove_abandoned(store: Path) -> None:
    """Remove versions-in-progress whose writer process no longer runs (a killed ingest)."""
    for path in store.glob(".tmp-*"):
        try:
            pid = int(path.name.split("-")[1])
            os.kill(pid, 0)
            alive = pid != os.getpid()
        except (ValueError, IndexError, ProcessLookupError):
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            shutil.rmtree(path, ignore_errors=True)


def _prune(store: Path, keep: set[str]) -> None:
    for path in store.glob("v-*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------------------- reading
def _version_directory(store: Path) -> Path:
    pointer = Path(store) / CURRENT
    if not pointer.is_file():
        raise StoreError(f"{store}: not a dyadflow store (no {CURRENT} file); create it with storage.ingest")
    version = pointer.read_text(encoding="utf-8").strip()
    directory = Path(store) / version
    if not SAFE_NAME.match(version) or not (directory / "manifest.json").is_file():
        raise StoreError(f"{store}: {CURRENT} names version {version!r}, which is missing or incomplete")
    return directory


_MANIFEST_KEYS = (
    "schema_version",
    "name",
    "directed",
    "periods",
    "nodes",
    "period_hashes",
    "network_hashes",
    "node_attributes",
    "dyad_covariates",
    "observed",
    "dropped_dyads",
    "dataset_hash",
)
REINGEST = "re-ingest the dataset (dyadflow.storage.ingest) to rebuild it"


def _live_manifest(store: Path) -> dict | None:
    if not (Path(store) / CURRENT).exists():
        return None
    directory = _version_directory(store)
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise StoreError(
            f"{store}: the manifest of version {directory.name} is damaged ({error}); {REINGEST}"
        ) from None
    lacking = [key for key in _MANIFEST_KEYS if not isinstance(manifest, dict) or key not in manifest]
    if lacking:
        raise StoreError(f"{store}: the manifest of version {directory.name} lacks {lacking[:3]}; {REINGEST}")
    content = {k: v for k, v in manifest.items() if k not in ("dataset_hash", "inputs_fingerprint")}
    if _hash_text(json.dumps(content, sort_keys=True)) != manifest["dataset_hash"]:
        raise StoreError(
            f"{store}: the manifest of version {directory.name} does not match its content hash "
            f"(edited or damaged); {REINGEST}"
        )
    manifest["_version"] = directory.name
    return manifest


def read_manifest(store_path: str | Path) -> dict:
    """The live version's manifest: periods, node universe, per-period and per-covariate content hashes."""
    manifest = _live_manifest(Path(store_path))
    if manifest is None:
        raise StoreError(f"{store_path}: not a dyadflow store (no {CURRENT} file); create it with storage.ingest")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(
            f"{store_path}: store schema version {manifest.get('schema_version')} is not "
            f"{SCHEMA_VERSION}; re-ingest the dataset"
        )
    return manifest


class _StoreLoader:
    """Loads one period from a pinned store version; opens the Zarr group lazily (per process).

    With `verify` (the default) every array read is hashed and compared with the manifest's content
    hashes, once per period per process (Panel caches loaded periods): a deleted, truncated or swapped
    chunk is a StoreError naming the store, the period and the array, never an empty or wrong network."""

    def __init__(self, directory: Path, manifest: dict, verify: bool = True):
        self.directory = directory
        self.manifest = manifest
        self.verify = verify
        self.universe = np.asarray(manifest["nodes"]["ids"], dtype=str)
        self._group = None
        self._static: dict[str, np.ndarray] = {}

    def __getstate__(self):  # ship the path, not open handles, to Dask workers
        return {"directory": self.directory, "manifest": self.manifest, "verify": self.verify}

    def __setstate__(self, state):
        self.__init__(state["directory"], state["manifest"], state.get("verify", True))

    def _fail(self, problem: str, period: str | None = None, array: str | None = None) -> StoreError:
        where = (
            [f"store {self.directory.parent}"]
            + ([f"period {period}"] if period else [])
            + ([f"array {array!r}"] if array else [])
        )
        return StoreError(f"{', '.join(where)}: {problem}; {REINGEST}")

    def group(self):
        if self._group is None:
            try:
                self._group = zarr.open_group(str(self.directory / "panel.zarr"), mode="r")
            except Exception as error:  # zarr raises FileNotFoundError/KeyError/GroupNotFoundError/ValueError
                raise self._fail(f"the Zarr group cannot be opened ({type(error).__name__}: {error})") from None
        return self._group

    def _read(self, path: str, selection, period: str):
        try:
            node = self.group()
            for part in path.split("/"):
                node = node[part]
            return node[selection]
        except StoreError:
            raise
        except Exception as error:  # a truncated chunk fails to decompress; a deleted array is a KeyError
            raise self._fail(f"cannot be read ({type(error).__name__}: {error})", period, path) from None

    def _check(self, value: np.ndarray, expected: str | None, period: str, array: str) -> None:
        if self.verify and _hash(value) != expected:
            raise self._fail(
                "the data do not match the manifest's content hash (a chunk is missing, "
                "truncated or from another period)",
                period,
                array,
            )

    def __call__(self, t: int) -> Period:
        name = self.manifest["periods"][t]
        present = self._read("present", t, name)
        index = np.flatnonzero(present)
        block = np.ix_(index, index)
        network = np.ascontiguousarray(self._read("network", t, name)[block])
        self._check(network, self.manifest["network_hashes"].get(name), name, "network")
        digest = _hasher(name.encode(), "\x00".join(self.universe[index].tolist()).encode())
        digest.update(self.manifest["network_hashes"][name].encode())
        attributes = {}
        for key, meta in self.manifest["node_attributes"].items():
            values = self._read(f"node_attributes/{key}", t, name)[index]
            self._check(values, meta["hashes"].get(name), name, f"node_attributes/{key}")
            if meta["categories"] is not None:
                labels = np.asarray(list(meta["categories"]) + [""], dtype=str)
                attributes[key] = labels[values]  # code -1 (missing) picks the trailing ""
            else:
                attributes[key] = values.astype(np.float64)
        covariates = {}
        for key, meta in self.manifest["dyad_covariates"].items():
            if meta["static"]:
                if key not in self._static:
                    self._static[key] = self._read(f"dyad_covariates/{key}", ..., name)
                stored = self._static[key][block]
            else:
                stored = self._read(f"dyad_covariates/{key}", t, name)[block]
            self._check(stored, meta["hashes"].get(name), name, f"dyad_covariates/{key}")
            covariates[key] = stored.astype(np.float64)
        for kind, meta in (("a", self.manifest["node_attributes"]), ("c", self.manifest["dyad_covariates"])):
            for key in sorted(meta):
                digest.update(f"{kind}:{key}:{meta[key]['hashes'].get(name)}".encode())
        observed = None
        if self.manifest["observed"] and self.manifest["dropped_dyads"].get(name):
            observed = self._read("observed", t, name)[block].astype(bool)
            digest.update(b"observed" + _hash(observed).encode())
            np.fill_diagonal(observed, False)
        if self.verify and digest.hexdigest() != self.manifest["period_hashes"].get(name):
            raise self._fail(
                "the nodes present (or the observed dyads) do not match the manifest's period hash", name, "present"
            )
        return Period(name, self.universe[index], network, attributes, covariates, observed)


def open_panel(store_path: str | Path, *, verify: bool = True) -> Panel:
    """The store's live version as a Panel; each period is read from disk when first used and checked
    against the manifest's content hashes (verify=False skips that for a trusted store)."""
    manifest = read_manifest(store_path)
    directory = Path(store_path) / manifest["_version"]
    return Panel(
        directed=manifest["directed"], period_names=manifest["periods"], load=_StoreLoader(directory, manifest, verify)
    )


def period_nodes(store_path: str | Path) -> list[np.ndarray]:
    """Per period of the store's live version, the labels of the nodes present (what a period's
    layout needs, without reading its networks and covariates)."""
    manifest = read_manifest(store_path)
    loader = _StoreLoader(Path(store_path) / manifest["_version"], manifest, verify=False)
    universe = loader.universe
    return [universe[np.flatnonzero(loader._read("present", t, name))] for t, name in enumerate(manifest["periods"])]


def export_long(store_path: str | Path) -> pd.DataFrame:
    """Every present dyad of every period (undirected: i before j in the node universe's order) with its
    tie `y` and dyadic covariates, read from the store's Parquet dataset."""
    manifest = read_manifest(store_path)
    directory = Path(store_path) / manifest["_version"] / "dyad_years"
    frames = []
    for label in manifest["periods"]:
        table = pq.read_table(directory / f"period={label}" / "part-0.parquet")
        frame = table.to_pandas()
        frame["i"] = frame["i"].astype(str)
        frame["j"] = frame["j"].astype(str)
        frame.insert(0, "period", label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------- derived
def _derived_path(store_path: str | Path, group: str, key: str) -> Path:
    for what, value in (("group", group), ("key", key)):
        if not isinstance(value, str) or not SAFE_NAME.match(value):
            raise StoreError(
                f"derived {what} {value!r} may hold only letters, digits, '_', '.', '-' "
                "and must not start with '.' or '-'"
            )
    return Path(store_path) / "derived" / group / f"{key}.npz"


def write_derived(store_path: str | Path, group: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store named arrays next to the data (e.g. change statistics of one period under its hash)."""
    if not (Path(store_path) / CURRENT).exists():
        raise StoreError(f"{store_path}: not a dyadflow store; derived arrays live next to an ingested dataset")
    path = _derived_path(store_path, group, key)
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in arrays.items():
        if value.dtype == object:
            raise StoreError(f"derived array {name!r} has dtype object; only numeric/str arrays can be stored")
    if DIGEST in arrays:
        raise StoreError(f"derived array name {DIGEST!r} is reserved")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays, **{DIGEST: np.array(_arrays_digest(arrays))})
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_derived(store_path: str | Path, group: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays written under (group, key), or None if there are none. An entry that is damaged
    (truncated, altered, or without its content digest) is removed with a warning and None returned,
    so the caller recomputes it rather than using it."""
    path = _derived_path(store_path, group, key)
    if not path.is_file():
        return None
    problem = None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        digest = arrays.pop(DIGEST, None)
        if digest is None:
            problem = "it has no content digest (written by an older dyadflow)"
        elif str(digest) != _arrays_digest(arrays):
            problem = "its content does not match its digest"
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        problem = f"it cannot be read ({type(error).__name__}: {error})"
    if problem is None:
        return arrays
    warnings.warn(
        f"{path}: discarding the cached {group} entry because {problem}; it will be recomputed",
        DerivedCacheWarning,
        stacklevel=2,
    )
    path.unlink(missing_ok=True)
    return None


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    digest = _hasher()
    for name in sorted(arrays):
        digest.update(name.encode() + b"\x00" + _hash(np.asarray(arrays[name])).encode())
    return digest.hexdigest()
