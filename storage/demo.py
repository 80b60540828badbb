"""A realistic synthetic panel of customs mutual-assistance agreements (CMAA) among states.

`write_demo_dataset` writes the raw files a political scientist would have — a list of agreements
with the year each was signed (and ended, when a party ceased to exist), state-year attributes and
dyad-year covariates — plus the dataset spec (TOML) that ingests them, and returns the spec's path.

States: the real states of country_converter's table (ISO3 codes, names, UN regions; UN members
first), entering in the year they joined the UN and leaving when they ceased to exist (the Soviet
Union after 1991, ...); beyond the ~240 real entries, synthetic states `S0001`, ... in random regions,
10 % of them entering late. Geography: each state gets a position near its region's centre; the three
nearest states are contiguous.

Generative model (undirected; every number is a multiple of 1/1024 so float32 holds it exactly):
- node-years: polyarchy, corruption, civil_liberties in [0, 1] and un_ideal_point follow AR(1)
  processes around a state's own level; terror_fatalities is zero-inflated count data; drug_list is a
  persistent 0/1 flag.
- dyad-years: log_trade = gravity (sizes, distance) + growth + noise for the ~120 strongest partners
  of each state, 0 otherwise; mlat and fta are agreements that, once in force, stay in force
  (yearly signing probability logistic(-7.5 + 2 contiguity + 0.25 log_trade), resp. -8 + ...; the
  first year's draw adds STOCK_SHIFT to the logit: the agreements already in force, a few % of dyads).
- CMAA ties persist once signed. A dyad without a tie signs in year t with probability
      logistic(edges + lag_shared_partners * log1p(shared partners at t-1)
               + lag_degree * (degree_i + degree_j at t-1) + mlat * mlat_t + contiguity * contiguity)
  with the TRUE_PARAMETERS below, edges shifted by -log(nodes / 230) so the mean degree does not grow
  with the number of states. The first year's ties are drawn from the same logit with no lagged
  network and edges + 1.5.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from scipy import sparse

TRUE_PARAMETERS = {
    "edges": -6.2,
    "lag_shared_partners": 0.7,
    "lag_degree": 0.006,
    "mlat": 1.5,
    "contiguity": 1.0,
}
NODE_ATTRIBUTES = ("polyarchy", "corruption", "civil_liberties", "un_ideal_point", "terror_fatalities", "drug_list")
DYAD_COVARIATES = ("contiguity", "log_trade", "mlat", "fta")
FORMATS = {"parquet": ".parquet", "csv": ".csv", "dta": ".dta"}
STOCK_SHIFT = 4.5  # logit shift of the first year's mlat/fta draw: the agreements signed before it
QUANTUM = 1024.0  # values are multiples of 1/QUANTUM: exact in float32 and in decimal text
UNINHABITED = {"ATA", "BVT", "HMD", "SGS", "ATF", "IOT", "PCN", "CXR", "CCK", "NFK", "SJM", "UMI"}


def _quantised(values: np.ndarray) -> np.ndarray:
    return (np.round(np.asarray(values, dtype=np.float64) * QUANTUM) / QUANTUM).astype(np.float32)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _states(nodes: int, first_year: int, last_year: int, rng: np.random.Generator) -> pd.DataFrame:
    import country_converter

    table = pd.read_csv(
        os.path.join(os.path.dirname(country_converter.__file__), "country_data.tsv"),
        sep="\t",
        keep_default_na=False,
        na_values=[""],
        dtype=str,
    )
    table = table[~table["ISO3"].isin(UNINHABITED) & table["UNregion"].notna()]
    joined = pd.to_numeric(table["UNmember"], errors="coerce")
    gone = pd.to_numeric(table["obsolete"], errors="coerce")
    table = table[gone.isna() | (gone > first_year)]
    table = table.assign(joined=joined, gone=gone, order=joined.isna().astype(int) + 2 * gone.isna().astype(int))
    table = table.sort_values(["order", "name_short"]).head(nodes)
    states = pd.DataFrame(
        {
            "iso3": table["ISO3"].to_numpy(),
            "name": table["name_short"].to_numpy(),
            "region": table["UNregion"].to_numpy(),
            "entry": np.maximum(first_year, table["joined"].fillna(first_year).to_numpy()).astype(int),
            "exit": np.minimum(last_year, table["gone"].fillna(last_year + 1).to_numpy() - 1).astype(int),
        }
    )
    extra = nodes - len(states)
    if extra > 0:
        regions = sorted(states["region"].unique())
        late = rng.random(extra) < 0.1
        states = pd.concat(
            [
                states,
                pd.DataFrame(
                    {
                        "iso3": [f"S{k:04d}" for k in range(1, extra + 1)],
                        "name": [f"Synthetic state {k}" for k in range(1, extra + 1)],
                        "region": rng.choice(regions, extra),
                        "entry": np.where(
                            late, rng.integers(first_year + 1, max(first_year + 2, last_year + 1), extra), first_year
                        ),
                        "exit": np.full(extra, last_year),
                    }
                ),
            ],
            ignore_index=True,
        )
    states = states.sort_values("iso3", kind="stable").reset_index(drop=True)
    return states


class _Writer:
    """Appends one table period by period in the chosen format (Stata: collected, written at the end)."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self._parquet = None
        self._frames: list[pd.DataFrame] = []
        self._csv_started = False

    def append(self, frame: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self._parquet.write_table(table)
        elif self.fmt == "csv":
            # float64 text of a multiple of 1/1024 is exact; float32's shortest text is not, read back as float64
            frame = frame.astype({c: np.float64 for c in frame.columns if frame[c].dtype == np.float32})
            table = pa.Table.from_pandas(frame, preserve_index=False)
            with open(self.path, "ab" if self._csv_started else "wb") as handle:
                pacsv.write_csv(table, handle, write_options=pacsv.WriteOptions(include_header=not self._csv_started))
            self._csv_started = True
        else:
            self._frames.append(frame)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self.fmt == "dta":
            frame = pd.concat(self._frames, ignore_index=True)
            frame.to_stata(self.path, write_index=False, version=118)


def write_demo_dataset(
    directory: str | Path,
    *,
    nodes: int = 230,
    periods: int = 31,
    first_year: int = 1990,
    seed: int = 20240601,
    fmt: str = "parquet",
) -> Path:
    """Write the demo panel's raw files and dataset spec into `directory`; return the spec's path."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, got {fmt!r}")
    if nodes < 3 or periods < 1:
        raise ValueError(f"need at least 3 nodes and 1 period, got nodes={nodes}, periods={periods}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = FORMATS[fmt]
    rng = np.random.default_rng(seed)
    last_year = first_year + periods - 1
    states = _states(nodes, first_year, last_year, rng)
    n = len(states)
    ids = states["iso3"].to_numpy()
    entry, exit_ = states["entry"].to_numpy(), states["exit"].to_numpy()

    # geography and economy
    regions = sorted(states["region"].unique())
    centres = {r: rng.normal(0, 10, 2) for r in regions}
    position = np.array([centres[r] for r in states["region"]]) + rng.normal(0, 2.0, (n, 2))
    iu, ju = np.triu_indices(n, 1)
    distance = np.hypot(*(position[iu] - position[ju]).T) + 0.1
    contiguous = np.zeros(n * (n - 1) // 2, dtype=bool)
    pair_of = lambda a, b: a * n - a * (a + 1) // 2 + (b - a - 1)  # noqa: E731 (index of (a<b) in triu order)
    for a in range(n):
        d = np.hypot(*(position - position[a]).T)
        d[a] = np.inf
        for b in np.argsort(d)[:3]:
            lo, hi = min(a, b), max(a, b)
            contiguous[pair_of(lo, hi)] = True
    size = rng.lognormal(0, 1.5, n)
    gravity = np.log(size[iu] * size[ju]) - 1.2 * np.log(distance)
    partners = min(1.0, 120 / max(n - 1, 1))
    threshold = np.quantile(gravity, 1 - partners)
    trades = gravity >= threshold
    base_trade = np.where(trades, gravity - threshold + 1.0, 0.0)

    # node-level latent levels
    level = {name: rng.normal(0, 1, n) for name in ("polyarchy", "corruption", "civil_liberties", "un_ideal_point")}
    latent = {name: level[name] + rng.normal(0, 0.5, n) for name in level}
    terror_rate = rng.gamma(0.3, 20, n)
    drug_list = rng.random(n) < 0.1

    mlat = np.zeros(len(iu), dtype=bool)
    fta = np.zeros(len(iu), dtype=bool)
    tie = np.zeros(len(iu), dtype=bool)
    signed = np.full(len(iu), -1)
    edges = TRUE_PARAMETERS["edges"] - math.log(n / 230)

    writers = {
        "dyads": _Writer(directory / f"dyad_years{suffix}", fmt),
        "nodes": _Writer(directory / f"states{suffix}", fmt),
    }
    for t, year in enumerate(range(first_year, last_year + 1)):
        present = (entry <= year) & (exit_ >= year)
        pair_present = present[iu] & present[ju]
        # node-years
        for name in latent:
            latent[name] = 0.8 * latent[name] + 0.2 * level[name] + rng.normal(0, 0.3, n)
        drug_list = np.where(rng.random(n) < 0.03, ~drug_list, drug_list)
        fatalities = np.where(rng.random(n) < 0.3, rng.poisson(terror_rate), 0)
        rows = np.flatnonzero(present)
        writers["nodes"].append(
            pd.DataFrame(
                {
                    "year": np.full(len(rows), year, dtype=np.int32),
                    "iso3": ids[rows],
                    "name": states["name"].to_numpy()[rows],
                    "region": states["region"].to_numpy()[rows],
                    "polyarchy": _quantised(_logistic(latent["polyarchy"][rows])),
                    "corruption": _quantised(_logistic(latent["corruption"][rows])),
                    "civil_liberties": _quantised(_logistic(latent["civil_liberties"][rows])),
                    "un_ideal_point": _quantised(latent["un_ideal_point"][rows]),
                    "terror_fatalities": fatalities[rows].astype(np.float32),
                    "drug_list": drug_list[rows].astype(np.float32),
                }
            )
        )
        # dyad-years
        log_trade = np.where(
            trades, _quantised(np.maximum(0.0, base_trade + 0.03 * t + rng.normal(0, 0.1, len(iu)))), 0
        )
        # agreements in force before the first year: a stock to start from, so that a short or small
        # panel has both values of mlat and fta (not a handful of treaties that separate the fit)
        mlat_shift, fta_shift = (STOCK_SHIFT, STOCK_SHIFT) if t == 0 else (0.0, 0.0)
        mlat |= pair_present & (rng.random(len(iu)) < _logistic(-7.5 + mlat_shift + 2 * contiguous + 0.25 * log_trade))
        fta |= pair_present & (rng.random(len(iu)) < _logistic(-8.0 + fta_shift + 2 * contiguous + 0.3 * log_trade))
        nonzero = pair_present & ((log_trade > 0) | mlat | fta)
        writers["dyads"].append(
            pd.DataFrame(
                {
                    "year": np.full(int(nonzero.sum()), year, dtype=np.int32),
                    "state_a": ids[iu[nonzero]],
                    "state_b": ids[ju[nonzero]],
                    "log_trade": log_trade[nonzero].astype(np.float32),
                    "mlat": mlat[nonzero].astype(np.float32),
                    "fta": fta[nonzero].astype(np.float32),
                }
            )
        )
        # agreements: formation driven by the lagged network, persistence once signed
        if t == 0:
            logit = edges + 1.5 + TRUE_PARAMETERS["mlat"] * mlat + TRUE_PARAMETERS["contiguity"] * contiguous
        else:
            adjacency = sparse.coo_matrix((np.ones(int(tie.sum())), (iu[tie], ju[tie])), shape=(n, n)).tocsr()
            adjacency = adjacency + adjacency.T
            degree = np.asarray(adjacency.sum(axis=1)).ravel()
            shared = np.asarray((adjacency @ adjacency)[iu, ju]).ravel()
            logit = (
                edges
                + TRUE_PARAMETERS["lag_shared_partners"] * np.log1p(shared)
                + TRUE_PARAMETERS["lag_degree"] * (degree[iu] + degree[ju])
                + TRUE_PARAMETERS["mlat"] * mlat
                + TRUE_PARAMETERS["contiguity"] * contiguous
            )
        new = pair_present & ~tie & (rng.random(len(iu)) < _logistic(logit))
        tie |= new
        signed[new] = year
        tie &= pair_present  # a tie ends when a party leaves
    for writer in writers.values():
        writer.close()

    ever = np.flatnonzero(signed >= 0)
    ended = np.minimum(exit_[iu[ever]], exit_[ju[ever]]).astype(float)
    ended[ended >= last_year] = np.nan
    agreements = pd.DataFrame(
        {
            "state_a": ids[iu[ever]],
            "state_b": ids[ju[ever]],
            "signed": signed[ever].astype(np.int32),
            "ended": pd.array(ended, dtype="Int32"),
        }
    )
    contiguity = pd.DataFrame(
        {
            "state_a": ids[iu[contiguous]],
            "state_b": ids[ju[contiguous]],
            "contiguity": np.ones(int(contiguous.sum()), dtype=np.float32),
        }
    )
    for frame, stem in ((agreements, "cmaa_agreements"), (contiguity, "contiguity")):
        writer = _Writer(directory / f"{stem}{suffix}", fmt)
        if fmt == "dta" and stem == "cmaa_agreements":
            frame = frame.assign(ended=frame["ended"].astype("float64"))
        writer.append(frame)
        writer.close()

    (directory / "true_parameters.json").write_text(
        json.dumps(
            {
                "formation_logit": TRUE_PARAMETERS,
                "edges_used": edges,
                "nodes": n,
                "periods": periods,
                "first_year": first_year,
                "seed": seed,
            },
            indent=1,
        )
    )
    spec = directory / "dataset.toml"
    spec.write_text(
        _SPEC.format(
            nodes=n,
            first=first_year,
            last=last_year,
            suffix=suffix,
            edges=edges,
            **{k: v for k, v in TRUE_PARAMETERS.items() if k != "edges"},
            attributes=json.dumps(list(NODE_ATTRIBUTES)),
        ),
        encoding="utf-8",
    )
    return spec


_SPEC = """# Demo customs mutual-assistance agreement (CMAA) panel written by storage.demo.write_demo_dataset:
# {nodes} states, {first}-{last}. True formation model of a CMAA between states without one (see
# true_parameters.json): logit = {edges:.4f} (edges) + {lag_shared_partners} log1p(lagged shared partners)
#   + {lag_degree} (lagged degree_i + degree_j) + {mlat} mlat + {contiguity} contiguity; ties persist once signed.
name = "cmaa_demo"
directed = false
periods = {{ first = {first}, last = {last} }}

[nodes]
path = "states{suffix}"
period = "year"
node = "iso3"
label = "name"
attributes = {attributes}
categorical = ["region"]

[network]
name = "cmaa"
format = "agreements"
path = "cmaa_agreements{suffix}"
i = "state_a"
j = "state_b"
start = "signed"
end = "ended"

[[dyad_covariates]]
format = "long"
path = "contiguity{suffix}"
i = "state_a"
j = "state_b"
values = ["contiguity"]

[[dyad_covariates]]
format = "long"
path = "dyad_years{suffix}"
period = "year"
i = "state_a"
j = "state_b"
values = ["log_trade", "mlat", "fta"]
"""
