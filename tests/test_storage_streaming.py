"""Streaming ingest (issue 11, item 2): long tables are read in chunks and their rows wait on disk,
grouped by period, so an input larger than memory ingests. Any chunk size writes the store that
reading each file whole writes (the same content hashes, bit for bit), errors in a later chunk name
the file's row and line, and a process whose address space is capped below what reading the input
whole needs ingests it in chunks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from dyadflow import storage

PERIODS = list(range(2001, 2005))


def dyad_years(nodes: int, periods: list[int], seed: int = 0) -> pd.DataFrame:
    """Every undirected dyad (i < j) of `nodes` nodes in every period: a tie and a covariate."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(nodes, 1)
    labels = np.array([f"n{k:05d}" for k in range(nodes)])
    year = np.repeat(periods, len(i))
    return pd.DataFrame(
        {
            "year": year,
            "a": np.tile(labels[i], len(periods)),
            "b": np.tile(labels[j], len(periods)),
            "tie": (rng.random(len(year)) < 0.05).astype(np.int64),
            "trade": rng.normal(size=len(year)).round(6),
        }
    )


def write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False, row_group_size=1000)
    else:
        frame.to_stata(path, write_index=False, version=118)


def write_dataset(directory: Path, suffix: str, nodes: int = 40, periods: list[int] = PERIODS) -> Path:
    """A dyad-year network with a covariate column, a per-period long covariate and a static long
    covariate that names a node never in the panel (left out with a warning)."""
    directory.mkdir(parents=True, exist_ok=True)
    network = dyad_years(nodes, periods)
    write(network, directory / f"network{suffix}")
    per_period = network[["year", "a", "b"]].assign(mlat=np.random.default_rng(1).integers(0, 3, len(network)))
    write(per_period.iloc[::3], directory / f"mlat{suffix}")  # a third of the dyads; the rest fill = 0
    static = network.loc[network["year"] == periods[0], ["a", "b"]].assign(
        distance=np.arange(len(network) // len(periods)) / 7
    )
    static = pd.concat([static, pd.DataFrame({"a": ["n00000"], "b": ["elsewhere"], "distance": [1.0]})])
    write(static, directory / f"distance{suffix}")
    spec = directory / "dataset.toml"
    spec.write_text(
        textwrap.dedent(
            f"""
            name = "streaming"
            directed = false
            periods = {{ first = {periods[0]}, last = {periods[-1]} }}

            [network]
            format = "dyad_years"
            path = "network{suffix}"
            period = "year"
            i = "a"
            j = "b"
            y = "tie"

            [[dyad_covariates]]
            format = "long"
            path = "mlat{suffix}"
            period = "year"
            i = "a"
            j = "b"
            values = ["mlat"]

            [[dyad_covariates]]
            format = "long"
            path = "distance{suffix}"
            i = "a"
            j = "b"
            values = ["distance"]
            """
        )
    )
    return spec


def stored(store: Path) -> tuple[dict, pd.DataFrame]:
    manifest = storage.read_manifest(store)
    return {key: manifest[key] for key in ("dataset_hash", "period_hashes", "dyad_covariates")}, storage.export_long(
        store
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".dta"])
def test_any_chunk_size_writes_the_store_of_the_whole_read(tmp_path, suffix):
    spec = write_dataset(tmp_path / "data", suffix)
    with pytest.warns(storage.IngestWarning, match="never in the panel"):
        storage.ingest(spec, tmp_path / "whole", chunk_bytes=None)
    expected, long = stored(tmp_path / "whole")
    assert long["trade"].notna().all() and (long["mlat"] > 0).any()
    for chunk_bytes in (2_000, 50_000):  # dozens of chunks, a few
        with pytest.warns(storage.IngestWarning, match="never in the panel"):
            storage.ingest(spec, tmp_path / f"chunks-{chunk_bytes}", chunk_bytes=chunk_bytes)
        manifest, chunked = stored(tmp_path / f"chunks-{chunk_bytes}")
        assert manifest == expected
        pd.testing.assert_frame_equal(chunked, long, check_exact=True)
    assert not [p for p in (tmp_path / "chunks-2000").iterdir() if p.name.startswith(".tmp-")]  # scratch removed


def test_errors_in_a_later_chunk_name_the_files_row_and_line(tmp_path):
    spec = write_dataset(tmp_path / "data", ".csv")
    network = dyad_years(40, PERIODS)
    bad = network.copy()
    bad.loc[2500, "tie"] = 3
    write(bad, tmp_path / "data" / "network.csv")
    with pytest.raises(
        storage.IngestError, match=r"network\.csv, row 2501 \(line 2502\), column 'tie': a tie must be 0 or 1"
    ):
        storage.ingest(spec, tmp_path / "store", chunk_bytes=2_000)
    # a duplicate whose first listing is chunks earlier: found when its period is written
    repeated = pd.concat([network, network.iloc[[10]]], ignore_index=True)
    write(repeated, tmp_path / "data" / "network.csv")
    with pytest.raises(
        storage.IngestError,
        match=rf"network\.csv, row {len(network) + 1} \(line {len(network) + 2}\), column 'a': duplicate dyad: "
        r"'n00000'-'n00011' is listed twice for period 2001 \(first in row 11\)",
    ):
        storage.ingest(spec, tmp_path / "store", chunk_bytes=2_000)
    assert not (tmp_path / "store").exists()  # a failed first ingest leaves nothing
    # a text cell in a numeric column many chunks down: the column is re-read as text from there
    late = network.astype({"trade": object})
    late.loc[3000, "trade"] = "n/a?"
    late.to_csv(tmp_path / "data" / "network.csv", index=False)
    with pytest.raises(
        storage.IngestError, match=r"row 3001 \(line 3002\), column 'trade': covariate 'trade' 'n/a\?' is not a number"
    ):
        storage.ingest(spec, tmp_path / "store", chunk_bytes=2_000)


CAPPED = """
import resource, sys
from pathlib import Path
import dyadflow.storage as storage

def vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

spec, store, headroom, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
storage.ingest  # everything imported: the cap is what is in use now plus the headroom
cap = vm_size() + headroom
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    storage.ingest(spec, store, chunk_bytes=None if chunk == "whole" else int(chunk))
except MemoryError:
    print("MemoryError")
    sys.exit(3)
print("ingested")
"""


@pytest.mark.slow
def test_an_input_larger_than_the_memory_cap_streams(tmp_path):
    """The network file (~440 MB of CSV, 12.8 M dyad-years) is larger than the address space the capped
    process may add to what it holds after importing (384 MB): reading it whole (~2.9 GB more, measured)
    fails there with MemoryError, reading it in 2 MB chunks (~280 MB more) ingests it, and the store
    equals the whole read's (done here, uncapped)."""
    directory = tmp_path / "data"
    directory.mkdir()
    nodes, periods = 800, list(range(2001, 2041))
    write(dyad_years(nodes, periods, seed=5), directory / "network.csv")
    spec = directory / "dataset.toml"
    spec.write_text(
        f'name = "big"\ndirected = false\nperiods = {{ first = {periods[0]}, last = {periods[-1]} }}\n\n'
        '[network]\nformat = "dyad_years"\npath = "network.csv"\nperiod = "year"\ni = "a"\nj = "b"\ny = "tie"\n'
    )
    size, headroom = (directory / "network.csv").stat().st_size, 384 * 2**20
    assert size > headroom
    # a few malloc arenas and Arrow's system allocator: the address space follows what is allocated
    environment = {**os.environ, "MALLOC_ARENA_MAX": "2", "ARROW_DEFAULT_MEMORY_POOL": "system", "OMP_NUM_THREADS": "1"}

    def capped(store: str, chunk: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", CAPPED, str(spec), str(tmp_path / store), str(headroom), chunk]
        return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900)

    whole = capped("whole", "whole")
    assert whole.returncode == 3 and "MemoryError" in whole.stdout, whole.stderr[-2000:]
    chunked = capped("chunked", str(2 * 2**20))
    assert chunked.returncode == 0 and "ingested" in chunked.stdout, chunked.stderr[-2000:]
    storage.ingest(spec, tmp_path / "uncapped", chunk_bytes=None)
    assert stored(tmp_path / "chunked")[0] == stored(tmp_path / "uncapped")[0]
    ties = storage.read_manifest(tmp_path / "chunked")["period_ties"]
    assert len(ties) == len(periods) and all(count > 0 for count in ties.values())
