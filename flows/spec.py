"""The run spec: one TOML file that fixes a whole workflow (data, model, bootstrap, sensitivity batch,
cluster, output). Relative paths are relative to the spec file.

    [dataset]
    spec = "data/dataset.toml"      # the dataset spec storage.ingest reads
    store = "data/store"            # where the ingested panel and cached change statistics live

    [model]
    formula = "cmaa ~ edges + gwesp(0.5, fixed=TRUE) + memory(type='stability')"
    estimate = "MPLE"               # or "MLE": MCMC-MLE started at the MPLE (no bootstrap)

    [bootstrap]
    R = 100
    seed = 12345
    batch_size = 25                 # replicates per Dask task; fixes the batches, not the workers

    [gof]                           # optional: simulation goodness of fit (tergm.gof)
    nsim = 100
    seed = 12345                    # burnin, interval: default as tergm.simulation documents

    [sensitivity]                   # optional
    levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    simulations = 100
    mode = "period"                 # or "agreement"
    seed = 20210101

    [cluster]                       # optional; see cluster.ClusterSpec
    kind = "local"
    workers = 2

    [output]
    directory = "runs/latest"
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dyadflow.cluster import ClusterSpec, ClusterSpecError
from dyadflow.storage.validation import check_keys
from dyadflow.tergm.rewire import MODES


class RunSpecError(ValueError):
    """A run spec that cannot be run; the message names the table and key."""


@dataclass(frozen=True)
class SensitivitySpec:
    levels: tuple[float, ...]
    simulations: int = 100
    mode: str = "period"
    seed: int = 20210101


@dataclass(frozen=True)
class GofSpec:
    nsim: int = 100
    burnin: int | None = None
    interval: int | None = None
    seed: int = 12345


@dataclass(frozen=True)
class RunSpec:
    dataset: Path
    store: Path
    formula: str
    output: Path
    R: int = 100
    seed: int = 12345
    batch_size: int = 25
    sensitivity: SensitivitySpec | None = None
    gof: GofSpec | None = None
    estimate: str = "MPLE"
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    source: Mapping = field(default_factory=dict)  # the parsed TOML, recorded in run.json

    def with_cluster_address(self, address: str | None) -> RunSpec:
        if not address:
            return self
        return replace(self, cluster=ClusterSpec.from_mapping(self.source.get("cluster"), address=address))

    def model_key(self) -> str:
        """Identifies what a fit depends on besides the data (formula); stages hash it with the data hash."""
        return hashlib.sha256(json.dumps({"formula": self.formula}, sort_keys=True).encode()).hexdigest()[:16]


_TABLES = {
    "dataset": {"spec", "store"},
    "model": {"formula", "estimate"},
    "gof": {"nsim", "burnin", "interval", "seed"},
    "bootstrap": {"R", "seed", "batch_size"},
    "sensitivity": {"levels", "simulations", "mode", "seed"},
    "cluster": None,  # checked by ClusterSpec
    "output": {"directory"},
}


def load_run_spec(path: str | Path, *, cluster_address: str | None = None) -> RunSpec:
    path = Path(path)
    if not path.is_file():
        raise RunSpecError(f"run spec {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RunSpecError(f"run spec {path}: byte {error.object[error.start]:#04x} at offset {error.start} is "
                           "not valid UTF-8; save the file as UTF-8") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RunSpecError(f"run spec {path} is not valid TOML: {error}") from None
    return parse_run_spec(table, base=path.resolve().parent, cluster_address=cluster_address)


def parse_run_spec(table: Mapping, *, base: Path, cluster_address: str | None = None) -> RunSpec:
    check_keys(table, _TABLES, "the run spec", RunSpecError, "run spec: ")
    for name, keys in _TABLES.items():
        if name in table and not isinstance(table[name], Mapping):
            raise RunSpecError(f"run spec: [{name}] must be a table, got {table[name]!r}")
        if keys is not None and name in table:
            check_keys(table[name], keys, f"[{name}]", RunSpecError)
    dataset = table.get("dataset", {})
    for key in ("spec", "store"):
        if not isinstance(dataset.get(key), str):
            raise RunSpecError(f"[dataset] {key} is required (a path)")
    formula = table.get("model", {}).get("formula")
    if not isinstance(formula, str) or "~" not in formula:
        raise RunSpecError("[model] formula is required, e.g. formula = \"net ~ edges + memory(type='stability')\"")
    estimate = table.get("model", {}).get("estimate", "MPLE")
    if estimate not in ("MPLE", "MLE"):
        raise RunSpecError(f"[model] estimate = {estimate!r}: expected \"MPLE\" or \"MLE\"")
    gof = None
    if "gof" in table:
        g = table["gof"]
        gof = GofSpec(
            nsim=_positive_int(g.get("nsim", 100), "[gof] nsim"),
            burnin=None if "burnin" not in g else _positive_int(g["burnin"], "[gof] burnin", allow_zero=True),
            interval=None if "interval" not in g else _positive_int(g["interval"], "[gof] interval"),
            seed=_positive_int(g.get("seed", 12345), "[gof] seed", allow_zero=True),
        )
    boot = table.get("bootstrap", {})
    R = _positive_int(boot.get("R", 100), "[bootstrap] R", allow_zero=True)
    seed = _positive_int(boot.get("seed", 12345), "[bootstrap] seed", allow_zero=True)
    batch_size = _positive_int(boot.get("batch_size", 25), "[bootstrap] batch_size")
    sensitivity = None
    if "sensitivity" in table:
        sens = table["sensitivity"]
        levels = sens.get("levels", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
        if not isinstance(levels, list) or not levels:
            raise RunSpecError("[sensitivity] levels must be a non-empty list of shares in [0, 1]")
        for level in levels:
            if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level <= 1:
                raise RunSpecError(f"[sensitivity] levels: {level!r} is not a share in [0, 1]")
        if len(set(levels)) != len(levels):
            raise RunSpecError(f"[sensitivity] levels repeat a value: {levels}")
        mode = sens.get("mode", "period")
        if mode not in MODES:
            raise RunSpecError(f"[sensitivity] mode = {mode!r}: expected one of {list(MODES)}")
        sensitivity = SensitivitySpec(
            levels=tuple(float(v) for v in levels),
            simulations=_positive_int(sens.get("simulations", 100), "[sensitivity] simulations"),
            mode=mode,
            seed=_positive_int(sens.get("seed", 20210101), "[sensitivity] seed", allow_zero=True),
        )
    try:
        cluster = ClusterSpec.from_mapping(table.get("cluster"), address=cluster_address)
    except ClusterSpecError as error:
        raise RunSpecError(str(error)) from error
    output = table.get("output", {}).get("directory", "runs/latest")
    return RunSpec(
        dataset=(base / dataset["spec"]).resolve(),
        store=(base / dataset["store"]).resolve(),
        formula=formula,
        output=(base / output).resolve(),
        R=R,
        seed=seed,
        batch_size=batch_size,
        sensitivity=sensitivity,
        gof=gof,
        estimate=estimate,
        cluster=cluster,
        source=dict(table),
    )


def _positive_int(value, name: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise RunSpecError(f"{name} = {value!r}: expected a {'non-negative' if allow_zero else 'positive'} integer")
    return value
