"""The dataset spec: a small TOML file that says where a panel's raw inputs are and how to read them.

Example (every path is relative to the spec file's folder)::

    name = "alliances"
    directed = false
    periods = { first = 1981, last = 2000 }   # consecutive integer periods (years), or a list of labels
    missing = "error"                         # or "drop-dyad" | "fill-mode" (see storage.ingest)

    [nodes]                                   # optional: node-period rows = who is present when
    path = "allyNet_nodes_long.csv"
    period = "year"
    node = "vertex.names"
    attributes = ["cinc", "polity"]           # default: every other column
    categorical = []                          # attributes kept as text labels instead of numbers
    label = "name"                            # optional display name of each node

    [network]
    name = "alliance"
    format = "edges"                          # edges | dyad_years | agreements | matrices
    path = "allyNet_edges_long.csv"
    period = "year"
    i = "tail_label"
    j = "head_label"
    # dyad_years: also y = "tie" and covariates = [...] (default: every other column)
    # agreements: start = "signed", end = "ended" (end optional; empty = active to the last period)
    # matrices:   path = "allyNet/allyNet_{period}.csv"

    [[dyad_covariates]]
    format = "matrix"                         # a static matrix, or per period with {period} in the path
    name = "contiguity"
    path = "contigMat.csv"

    [[dyad_covariates]]
    format = "long"                           # rows [period,] i, j, value columns
    path = "dyads.parquet"
    period = "year"                           # leave out for a static covariate
    i = "a"
    j = "b"
    values = ["log_trade", "mlat"]            # each column becomes a covariate of that name
    fill = 0.0                                # value of dyads the table does not list

`name` (and the network's `name`) identify the dataset: a store holds one dataset, and ingesting a
spec with another dataset or network name into it is refused unless `storage.ingest(..., overwrite=True)`;
updated files, new periods or other paths of the same dataset are ordinary re-ingests. Give each
dataset its own name (the default is "dataset").

Node ids are labels: read as text exactly as written, in every file and format ("NA", "007" and
12345678901234567890 are ids like any other; only surrounding spaces are trimmed); a whole number
stored as a number (Parquet, Stata) reads as its digits, so 7 in one file matches "7" in another.
Only a truly empty cell is a missing id. Static covariate tables (no period) may list nodes that are
never in the panel (real contiguity or distance tables cover every state): those rows are left out
with one summary warning per table. Non-finite numbers (inf, -inf) are refused. Top-level options::

    node_ids = "integer"                      # ids are whole numbers: "007", "7" and 7.0 name one node
    na_values = ["-99"]                       # further cells read as missing (ids included)
    strict = true                             # static covariate rows of nodes never in the panel: error
                                              # (default: dropped, with one summary warning)

Numeric columns also read "NA", "N/A", "NaN", "null", "." as missing. Unknown keys anywhere are errors
that name the table and the closest known key.

Each input may also set `encoding = "latin-1"` (CSV only). CSV (optionally .gz), Parquet and Stata
`.dta` are read; Stata value labels become the text labels for node-id and period columns and for
`categorical` attributes, and are refused for numeric columns (see storage/readers.py).
"""

from __future__ import annotations

import codecs
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dyadflow.storage.panel import PanelError
from dyadflow.storage.validation import check_keys

NETWORK_FORMATS = ("edges", "dyad_years", "agreements", "matrices")
COVARIATE_FORMATS = ("long", "matrix")
MISSING_POLICIES = ("error", "drop-dyad", "fill-mode")
TOP_KEYS = (
    "name",
    "directed",
    "periods",
    "missing",
    "node_ids",
    "na_values",
    "strict",
    "nodes",
    "network",
    "dyad_covariates",
)
NODES_KEYS = ("path", "node", "period", "attributes", "categorical", "label", "encoding")
NETWORK_KEYS = {
    "edges": ("name", "format", "path", "period", "i", "j", "encoding"),
    "dyad_years": ("name", "format", "path", "period", "i", "j", "y", "covariates", "encoding"),
    "agreements": ("name", "format", "path", "i", "j", "start", "end", "encoding"),
    "matrices": ("name", "format", "path", "encoding"),
}
COVARIATE_KEYS = {
    "long": ("format", "path", "period", "i", "j", "values", "value", "fill", "encoding"),
    "matrix": ("format", "name", "path", "encoding"),
}
NODE_ID_TYPES = ("text", "integer")
PERIOD_LABEL = re.compile(r"^[A-Za-z0-9_.-]+$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class SpecError(PanelError):
    """A dataset spec that cannot be followed; the message names the spec file and the key."""


@dataclass(frozen=True)
class NodesSpec:
    path: Path
    node: str
    period: str | None
    attributes: tuple[str, ...] | None  # None: every column but node/period/label
    categorical: tuple[str, ...]
    label: str | None
    encoding: str


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    format: str
    path: Path  # for matrices: may contain "{period}"
    i: str = "i"
    j: str = "j"
    period: str = "period"
    y: str = "y"
    start: str = "start"
    end: str | None = None
    covariates: tuple[str, ...] | None = None  # dyad_years only; None: every other column
    encoding: str = "utf-8"


@dataclass(frozen=True)
class CovariateSpec:
    format: str
    path: Path
    names: tuple[str, ...]  # covariate names; for "long" the value columns
    i: str = "i"
    j: str = "j"
    period: str | None = None  # long: None = static
    fill: float = 0.0
    encoding: str = "utf-8"

    @property
    def per_period(self) -> bool:
        return self.period is not None if self.format == "long" else "{period}" in str(self.path)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    directed: bool
    periods: tuple[str, ...]
    first_year: int | None  # set when the periods are consecutive integers
    network: NetworkSpec
    nodes: NodesSpec | None = None
    dyad_covariates: tuple[CovariateSpec, ...] = ()
    missing: str = "error"
    node_ids: str = "text"  # "integer": ids are whole numbers, so "007", "7" and 7.0 are one node
    na_values: tuple[str, ...] = ()  # cells (also node ids) read as missing besides truly empty ones
    strict: bool = False  # True: static covariate rows of nodes never in the panel are an error
    source: str = "<dict>"
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def period_path(self, pattern: Path, period: str) -> Path:
        return Path(str(pattern).replace("{period}", period))


def load_spec(spec: str | Path | dict | DatasetSpec) -> DatasetSpec:
    """A DatasetSpec from a TOML path, a dict (paths relative to `base_dir` or the current folder) or itself."""
    if isinstance(spec, DatasetSpec):
        return spec
    if isinstance(spec, dict):
        raw = dict(spec)
        base = Path(raw.pop("base_dir", ".")).resolve()
        return _parse(raw, base, "<dict>")
    path = Path(spec)
    if not path.is_file():
        raise SpecError(f"dataset spec {path}: file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpecError(f"dataset spec {path}: not valid TOML ({error})") from None
    return _parse(raw, path.resolve().parent, str(path))


def _parse(raw: dict, base: Path, source: str) -> DatasetSpec:
    def fail(key: str, problem: str):
        raise SpecError(f"dataset spec {source}, key {key!r}: {problem}")

    def table(value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            fail(key, f"expected a table, got {type(value).__name__}")
        return value

    def text(section: dict, key: str, where: str, default: str | None = None, required: bool = False) -> str | None:
        value = section.get(key, default)
        path = f"{where}.{key}" if where else key
        if value is None:
            if required:
                fail(path, "is required")
            return None
        if not isinstance(value, str) or not value:
            fail(path, f"expected a non-empty string, got {value!r}")
        return value

    def names(section: dict, key: str, where: str) -> tuple[str, ...] | None:
        value = section.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            fail(f"{where}.{key}", f"expected a list of column names, got {value!r}")
        return tuple(value)

    def encoding(section: dict, where: str) -> str:
        value = text(section, "encoding", where, default="utf-8")
        try:
            codecs.lookup(value)
        except LookupError:
            fail(f"{where}.encoding", f'unknown text encoding {value!r}; use e.g. "utf-8", "latin-1" or "cp1252"')
        return value

    def resolve(section: dict, where: str) -> Path:
        value = text(section, "path", where, required=True)
        path = Path(value)
        return path if path.is_absolute() else base / path

    prefix = f"dataset spec {source}: "
    check_keys(raw, TOP_KEYS, "the top-level table", SpecError, prefix)
    name = text(raw, "name", "", default="dataset")
    directed = raw.get("directed")
    if not isinstance(directed, bool):
        fail("directed", f"must be true or false, got {directed!r}")
    missing = raw.get("missing", "error")
    if missing not in MISSING_POLICIES:
        fail("missing", f"must be one of {MISSING_POLICIES}, got {missing!r}")
    node_ids = raw.get("node_ids", "text")
    if node_ids not in NODE_ID_TYPES:
        fail("node_ids", f"must be one of {NODE_ID_TYPES}, got {node_ids!r}")
    na_values = raw.get("na_values", [])
    if isinstance(na_values, str):
        na_values = [na_values]
    if not isinstance(na_values, list) or not all(isinstance(v, str) for v in na_values):
        fail("na_values", f"expected a list of strings (cells to read as missing), got {na_values!r}")
    strict = raw.get("strict", False)
    if not isinstance(strict, bool):
        fail("strict", f"must be true or false, got {strict!r}")

    periods_raw = raw.get("periods")
    first_year = None
    if isinstance(periods_raw, dict):
        first, last = periods_raw.get("first"), periods_raw.get("last")
        if not (isinstance(first, int) and isinstance(last, int)) or isinstance(first, bool) or last < first:
            fail("periods", f"expected {{ first = <int>, last = <int> }} with first <= last, got {periods_raw!r}")
        periods = tuple(str(p) for p in range(first, last + 1))
        first_year = first
    elif isinstance(periods_raw, list) and periods_raw:
        periods = tuple(str(p) for p in periods_raw)
        if len(set(periods)) != len(periods):
            fail("periods", "period labels must be unique")
    else:
        fail("periods", f"expected {{ first = 1990, last = 2020 }} or a list of labels, got {periods_raw!r}")
    for label in periods:
        if not PERIOD_LABEL.match(label):
            fail("periods", f"period label {label!r} may hold only letters, digits, '_', '.', '-'")

    nodes = None
    if "nodes" in raw:
        section = table(raw["nodes"], "nodes")
        check_keys(section, NODES_KEYS, "[nodes]", SpecError, prefix)
        nodes = NodesSpec(
            path=resolve(section, "nodes"),
            node=text(section, "node", "nodes", default="node"),
            period=text(section, "period", "nodes"),
            attributes=names(section, "attributes", "nodes"),
            categorical=names(section, "categorical", "nodes") or (),
            label=text(section, "label", "nodes"),
            encoding=encoding(section, "nodes"),
        )

    if "network" not in raw:
        fail("network", "is required")
    section = table(raw["network"], "network")
    network_format = section.get("format")
    if network_format not in NETWORK_FORMATS:
        fail("network.format", f"must be one of {NETWORK_FORMATS}, got {network_format!r}")
    check_keys(section, NETWORK_KEYS[network_format], f"[network] (format = {network_format!r})", SpecError, prefix)
    network = NetworkSpec(
        name=text(section, "name", "network", default="network"),
        format=network_format,
        path=resolve(section, "network"),
        i=text(section, "i", "network", default="i"),
        j=text(section, "j", "network", default="j"),
        period=text(section, "period", "network", default="period"),
        y=text(section, "y", "network", default="y"),
        start=text(section, "start", "network", default="start"),
        end=text(section, "end", "network"),
        covariates=names(section, "covariates", "network"),
        encoding=encoding(section, "network"),
    )
    if network_format == "matrices" and "{period}" not in str(network.path):
        fail("network.path", "a network given as matrices needs one file per period: put {period} in the path")

    covariates = []
    entries = raw.get("dyad_covariates", [])
    if not isinstance(entries, list):
        fail("dyad_covariates", "expected an array of tables ([[dyad_covariates]])")
    for k, entry in enumerate(entries):
        where = f"dyad_covariates[{k}]"
        entry = table(entry, where)
        kind = entry.get("format")
        if kind not in COVARIATE_FORMATS:
            fail(f"{where}.format", f"must be one of {COVARIATE_FORMATS}, got {kind!r}")
        check_keys(
            entry, COVARIATE_KEYS[kind], f"[[dyad_covariates]] number {k + 1} (format = {kind!r})", SpecError, prefix
        )
        if kind == "matrix":
            covariate_names = (text(entry, "name", where, required=True),)
        else:
            covariate_names = names(entry, "values", where)
            if covariate_names is None:
                value = text(entry, "value", where, required=True)
                covariate_names = (value,)
        fill = entry.get("fill", 0.0)
        if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not math.isfinite(fill):
            fail(f"{where}.fill", f"expected a finite number (the value of unlisted dyads), got {fill!r}")
        covariates.append(
            CovariateSpec(
                format=kind,
                path=resolve(entry, where),
                names=covariate_names,
                i=text(entry, "i", where, default="i"),
                j=text(entry, "j", where, default="j"),
                period=text(entry, "period", where),
                fill=float(fill),
                encoding=encoding(entry, where),
            )
        )
    seen: set[str] = set()
    for cov in covariates:
        for cov_name in cov.names:
            if not NAME.match(cov_name):
                fail("dyad_covariates", f"covariate name {cov_name!r} must be an identifier (letters, digits, _ .)")
            if cov_name in seen:
                fail("dyad_covariates", f"covariate {cov_name!r} is defined twice")
            seen.add(cov_name)
    return DatasetSpec(
        name=name,
        directed=directed,
        periods=periods,
        first_year=first_year,
        network=network,
        nodes=nodes,
        dyad_covariates=tuple(covariates),
        missing=missing,
        node_ids=node_ids,
        na_values=tuple(na_values),
        strict=strict,
        source=source,
        raw=raw,
    )
