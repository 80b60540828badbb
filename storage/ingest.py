"""From a dataset spec's raw files to per-period arrays over the node universe, validated.

Conventions (documented for users in storage/spec.py):
- The node universe and who is present when come from the nodes table (one row per node and
  period; composition change is normal). Without a nodes table, every node named by the network (or
  by the matrices' labels, per period) is present in every period (matrices: in the periods whose
  matrix lists it).
- Undirected data: ties are stored symmetric. A dyad may be listed in either orientation or in both
  (both must agree). A dyadic covariate *matrix* is read from its upper triangle, as ergm reads it:
  a symmetric matrix or an upper-triangular one (lower triangle all zero, in the file's own order) is
  accepted and stored symmetric; any other asymmetric matrix is refused.
- Dyads a long covariate table does not list take the covariate's `fill` (default 0).
- Missing values (NA in a tie, an attribute or a covariate of a present node/dyad):
  "error" (default) refuses them; "drop-dyad" excludes the affected dyads from the likelihood (a dyad
  with a missing tie or covariate, every dyad of a node with a missing attribute) and records that in
  Period.observed; "fill-mode" replaces each missing value by the most frequent value of the same
  variable in the same period (ties and per-period covariates: over that period's present dyads;
  attributes: over present nodes; static covariates: over all dyads), as btergm's
  handleMissings(method = "fillmode") does for matrices. Ties between equally frequent values go to
  the smallest.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dyadflow.storage.readers import CHUNK_BYTES, IngestError, Matrix, Table, read_matrix, read_table, read_table_chunks
from dyadflow.storage.spec import CovariateSpec, DatasetSpec

MISSING = np.iinfo(np.int64).min  # period index of an empty cell (an agreement that has not ended)
EXAMPLES = 3  # node ids quoted in the summary of dropped rows


class IngestWarning(UserWarning):
    """Input rows ingest leaves out (static covariates of nodes never in the panel): one line per table."""


@dataclass
class PeriodArrays:
    """One period over the whole universe (absent nodes: zero rows, NaN attributes)."""

    present: np.ndarray  # (N,) bool
    network: np.ndarray  # (N, N) uint8
    node_attributes: dict[str, np.ndarray]  # name -> (N,) float64, or int32 codes for categorical
    dyad_covariates: dict[str, np.ndarray]  # per-period covariates only: name -> (N, N) float64
    observed: np.ndarray | None = None  # (N, N) bool; None = every present dyad observed


@dataclass
class _Rows:
    """One period's rows of a long table (or all of a static table's) as universe codes; errors name
    the row in the file."""

    source: Table  # the file (Table.at_file_row): fail(problem, file row, column)
    i_column: str  # named in errors about a row's nodes
    i: np.ndarray  # int64 universe codes
    j: np.ndarray
    values: dict[str, np.ndarray]  # column -> float64 (NaN = missing)
    file_rows: np.ndarray  # int64: each row's data row in the file (0-based)

    def file_row(self, row: int) -> int:
        return int(self.file_rows[row])

    def fail(self, problem: str, row: int | None = None, column: str | None = None) -> IngestError:
        return self.source.fail(problem, None if row is None else self.file_row(row), column)


class _LongRows:
    """A long table's rows, converted chunk by chunk to universe codes and kept grouped by period
    (static: one group) in .npy files under `scratch`: a table larger than memory is read once, and
    each period's rows are read back on their own (`period`)."""

    def __init__(self, source: Table, i_column: str, names: list[str], groups: int, scratch: Path):
        self.source, self.i_column, self.names, self.groups = source.at_file_row(), i_column, list(names), groups
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=False)
        self._offsets: list[np.ndarray] = []  # per chunk: (groups + 1,) row offsets of each group
        self.float32_exact = dict.fromkeys(self.names, True)  # every finite value survives float32

    def add(self, i: np.ndarray, j: np.ndarray, t: np.ndarray | None, values: dict, file_rows: np.ndarray) -> None:
        if t is None:
            order, offsets = np.arange(len(i)), np.array([0, len(i)])
        else:
            order = np.argsort(t, kind="stable")
            offsets = np.searchsorted(t[order], np.arange(self.groups + 1))
        k = len(self._offsets)
        arrays = {"i": i[order].astype(np.int32), "j": j[order].astype(np.int32), "row": file_rows[order]}
        for n, name in enumerate(self.names):
            arrays[f"v{n}"] = values[name][order]
            finite = values[name][np.isfinite(values[name])]
            if self.float32_exact[name] and not np.array_equal(finite.astype(np.float32).astype(np.float64), finite):
                self.float32_exact[name] = False
        for key, array in arrays.items():
            np.save(self.scratch / f"{k}-{key}.npy", array)
        self._offsets.append(offsets)

    def period(self, t: int | None) -> _Rows:
        """The rows of period t (None: a static table's), in file order."""
        g = 0 if t is None else t

        def column(key: str) -> np.ndarray:
            pieces = [
                np.load(self.scratch / f"{k}-{key}.npy", mmap_mode="r")[offsets[g] : offsets[g + 1]]
                for k, offsets in enumerate(self._offsets)
            ]
            return np.concatenate(pieces) if pieces else np.empty(0)

        values = {name: column(f"v{n}").astype(np.float64) for n, name in enumerate(self.names)}
        i, j = column("i").astype(np.int64), column("j").astype(np.int64)
        return _Rows(self.source, self.i_column, i, j, values, column("row").astype(np.int64))


class Dataset:
    """A dataset spec's inputs, read and checked; `periods()` yields each period's arrays in turn."""

    def __init__(self, spec: DatasetSpec, *, scratch: Path | None = None, chunk_bytes: int | None = CHUNK_BYTES):
        """scratch: where the long tables' rows wait between reading and writing (a fresh directory
        inside it, removed by `close`; default the system's temporary directory). chunk_bytes: the
        long tables are read in chunks of about this size (None: whole)."""
        self._scratch = Path(tempfile.mkdtemp(prefix=".rows-", dir=scratch))
        try:
            self._read(spec, chunk_bytes)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self, spec: DatasetSpec, chunk_bytes: int | None) -> None:
        self.spec = spec
        self.chunk_bytes = chunk_bytes
        self.T = len(spec.periods)
        self.directed = spec.directed
        self.policy = spec.missing
        self._period_position = {label: t for t, label in enumerate(spec.periods)}
        self.notes: list[str] = []  # input rows left out, one summary line each (IngestWarning)
        self._network_matrices: list[Matrix] | None = None
        if spec.network.format == "matrices":
            self._network_matrices = [
                self._read_matrix(spec.period_path(spec.network.path, p), spec.network.encoding, "network")
                for p in spec.periods
            ]
        self._read_nodes()
        self._read_network()
        self._read_covariates()

    # ----------------------------------------------------------------------------------------- nodes
    def _read_nodes(self) -> None:
        spec = self.spec.nodes
        self.node_labels: list[str] | None = None
        self.attribute_names: list[str] = []
        self.categories: dict[str, list[str]] = {}
        self._attribute_values: dict[str, np.ndarray] = {}  # name -> (T, N)
        if spec is None:
            self._universe_without_nodes_table()
            return
        own = [spec.node] + ([spec.period] if spec.period else []) + ([spec.label] if spec.label else [])
        labels = (
            [spec.node]
            + ([spec.label] if spec.label else [])
            + list(spec.categorical)
            + ([spec.period] if spec.period and self.spec.first_year is None else [])
        )
        table = read_table(spec.path, None, encoding=spec.encoding, role="nodes", **self._text_options(labels))
        if table.n_rows == 0:
            raise IngestError(f"{spec.path}: the nodes file has no rows; it must list every node (per period)")
        for name in own:
            if name not in table.header:
                raise IngestError(f"{spec.path}: the nodes file has no column {name!r}; its columns are {table.header}")
        attributes = list(spec.attributes) if spec.attributes is not None else [c for c in table.header if c not in own]
        for name in list(attributes) + list(spec.categorical):
            if name not in table.header:
                raise IngestError(
                    f"{spec.path}: the nodes file has no attribute column {name!r}; its columns are {table.header}"
                )
        for name in spec.categorical:
            if name not in attributes:
                attributes.append(name)
        ids = self._ids(table, spec.node).to_numpy(zero_copy_only=False).astype(object)
        self.universe = np.asarray(pd.unique(ids), dtype=str)
        self._index = {label: k for k, label in enumerate(self.universe.tolist())}
        codes = pd.Index(self.universe).get_indexer(ids)
        N = len(self.universe)
        if spec.period:
            t = self._period_codes(table, spec.period)
        else:
            t = None
        self.present = np.zeros((self.T, N), dtype=bool)
        if t is None:
            self.present[:] = True
            key = codes
        else:
            self.present[t, codes] = True
            key = t.astype(np.int64) * N + codes
        _refuse_duplicates(
            table,
            key,
            lambda r: (
                f"node {ids[r]!r} is listed twice" + (f" for period {self.spec.periods[t[r]]}" if t is not None else "")
            ),
            spec.node,
        )
        if spec.label:
            labels = table.text(spec.label, what="node label", allow_missing=True).to_pylist()
            first = {}
            for code, label in zip(codes.tolist(), labels):
                first.setdefault(code, label if label is not None else self.universe[code])
            self.node_labels = [first[k] for k in range(N)]
        rows_t = t if t is not None else None
        for name in attributes:
            if name in spec.categorical:
                text = table.text(name, what=name, allow_missing=True)
                values = text.to_numpy(zero_copy_only=False).astype(object)
                missing = pd.isna(values)
                categories = sorted(set(values[~missing].tolist()))
                self.categories[name] = categories
                column = np.full(len(values), np.nan)
                column[~missing] = pd.Index(categories).get_indexer(values[~missing])
            else:
                column = table.numbers(name, what=f"attribute {name!r}")
                missing = np.isnan(column)
            if missing.any() and self.policy == "error":
                raise table.fail(_missing_message(), int(np.flatnonzero(missing)[0]), name)
            grid = np.full((self.T, N), np.nan)
            if rows_t is None:
                grid[:, codes] = column
            else:
                grid[rows_t, codes] = column
            self._attribute_values[name] = grid
            self.attribute_names.append(name)

    def _universe_without_nodes_table(self) -> None:
        net = self.spec.network
        if self._network_matrices is not None:
            labels = list(dict.fromkeys(label for m in self._network_matrices for label in m.rows))
            self.universe = np.asarray(labels, dtype=str)
            self._index = {label: k for k, label in enumerate(labels)}
            self.present = np.zeros((self.T, len(labels)), dtype=bool)
            for t, matrix in enumerate(self._network_matrices):
                self.present[t, [self._index[v] for v in matrix.rows]] = True
            return
        seen: dict[str, None] = {}  # ids in order of first appearance (row by row, i before j)
        for table in self._network_chunks([net.i, net.j]):
            i = self._ids(table, net.i).to_numpy(zero_copy_only=False).astype(object)
            j = self._ids(table, net.j).to_numpy(zero_copy_only=False).astype(object)
            seen.update(dict.fromkeys(pd.unique(np.column_stack([i, j]).ravel()).tolist()))
        self.universe = np.asarray(list(seen), dtype=str)
        self._index = {label: k for k, label in enumerate(self.universe.tolist())}
        self.present = np.ones((self.T, len(self.universe)), dtype=bool)

    # -------------------------------------------------------------------------------------- helpers
    def _label(self, code) -> str:
        return str(self.universe[int(code)])

    @property
    def N(self) -> int:
        return len(self.universe)

    def _period_codes(
        self, table: Table, column: str, *, clip: bool = False, allow_missing: bool = False
    ) -> np.ndarray:
        """Period index of each row (MISSING where empty and allowed); a period outside the dataset's
        range is an error unless `clip` (agreements signed before the first period are fine)."""
        periods = self.spec.periods
        span = f"{periods[0]}..{periods[-1]}" if self.spec.first_year is not None else str(list(periods))
        if self.spec.first_year is not None:
            values = table.numbers(column, what="period")
            missing = np.isnan(values)
            if missing.any() and not allow_missing:
                raise table.fail("missing period", int(np.flatnonzero(missing)[0]), column)
            fractional = ~missing & (values != np.round(values))
            if fractional.any():
                r = int(np.flatnonzero(fractional)[0])
                raise table.fail(f"period {values[r]} is not a whole number", r, column)
            index = np.where(missing, 0, values - self.spec.first_year).astype(np.int64)
            if not clip:
                outside = ~missing & ((index < 0) | (index >= self.T))
                if outside.any():
                    r = int(np.flatnonzero(outside)[0])
                    raise table.fail(f"period {int(values[r])} is outside the dataset's periods {span}", r, column)
            index[missing] = MISSING
            return index
        text = table.text(column, what="period", allow_missing=allow_missing)
        found = pc.index_in(text, value_set=pa.array(list(periods)))
        unknown = np.asarray(pc.and_(found.is_null(), text.is_valid()).to_numpy(zero_copy_only=False), dtype=bool)
        if unknown.any():
            r = int(np.flatnonzero(unknown)[0])
            raise table.fail(f"period {text[r].as_py()!r} is outside the dataset's periods {span}", r, column)
        return pc.fill_null(pc.cast(found, pa.int64()), MISSING).to_numpy(zero_copy_only=False)

    def _text_options(self, labels: list[str]) -> dict:
        """read_table's options: id (and label-period) columns read as text, the spec's na_values."""
        return {"text_columns": labels, "na_values": self.spec.na_values}

    def _ids(self, table: Table, column: str) -> pa.ChunkedArray:
        return table.ids(column, integer=self.spec.node_ids == "integer")

    def _read_matrix(self, path, encoding: str, role: str) -> Matrix:
        return read_matrix(
            path,
            encoding=encoding,
            role=role,
            integer_ids=self.spec.node_ids == "integer",
            na_values=self.spec.na_values,
        )

    def _source(self) -> str:
        return "the nodes table" if self.spec.nodes else "the network"

    def _node_codes(self, table: Table, column: str, *, allow_unknown: bool = False) -> np.ndarray:
        """Universe code of each row's node id; an unknown id is an error, or -1 with `allow_unknown`."""
        text = self._ids(table, column)
        codes = pc.index_in(text, value_set=pa.array(self.universe.tolist(), pa.string()))
        if codes.null_count and not allow_unknown:
            r = _first_null(codes)
            raise table.fail(f"unknown node id {text[r].as_py()!r} (not in {self._source()})", r, column)
        return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def _matrix_codes(self, matrix: Matrix) -> np.ndarray:
        unknown = [label for label in matrix.rows if label not in self._index]
        if unknown:
            r = matrix.rows.index(unknown[0])
            raise IngestError(
                f"{matrix.path}, row {unknown[0]!r} (line {matrix.lines[r] + 2}): unknown node id "
                f"{unknown[0]!r} (not in {self._source()})"
            )
        return np.array([self._index[label] for label in matrix.rows], dtype=np.int64)

    def _outsiders(self, path, rows: int, ids: list[str], where: str) -> None:
        """Static covariate rows of nodes never in the panel: one summary warning, or an error if strict.

        Real static tables (contiguity, distance) cover every state that ever existed; a panel covers
        some years, so the other states' rows are expected and carry no information for the model."""
        examples = ", ".join(repr(v) for v in ids[:EXAMPLES]) + (", ..." if len(ids) > EXAMPLES else "")
        summary = (
            f"{rows} {'row' if rows == 1 else 'rows'} of the static covariate table name "
            f"{len(ids)} {'node' if len(ids) == 1 else 'nodes'} never in the panel ({examples}; not in "
            f"{self._source()})"
        )
        if self.spec.strict:
            raise IngestError(
                f"{where}: {summary}; the dataset spec sets strict = true, which makes this an "
                "error: remove those rows, fix the ids, or drop `strict` to leave the rows out"
            )
        self.notes.append(
            f"{path}: {summary}; they are left out (set strict = true in the dataset spec to make this an error)"
        )

    def _matrix_inside_universe(self, matrix: Matrix) -> Matrix:
        """A static matrix without the rows and columns of nodes never in the panel (see _outsiders)."""
        keep = [k for k, label in enumerate(matrix.rows) if label in self._index]
        if len(keep) == len(matrix.rows):
            return matrix
        outside = [label for label in matrix.rows if label not in self._index]
        r = matrix.rows.index(outside[0])
        self._outsiders(
            matrix.path, len(outside), outside, f"{matrix.path}, row {outside[0]!r} (line {matrix.lines[r] + 2})"
        )
        return Matrix(
            matrix.path,
            matrix.kind,
            [matrix.rows[k] for k in keep],
            [matrix.cols[k] for k in keep],
            matrix.values[np.ix_(keep, keep)],
            [matrix.lines[k] for k in keep],
        )

    def _network_chunks(self, columns: list[str] | None, *, whole: bool = False) -> Iterator[Table]:
        """The network file's `columns` (None: all), chunk by chunk (whole: as one Table)."""
        net = self.spec.network
        labels = [net.i, net.j] + ([net.period] if self.spec.first_year is None else [])
        return read_table_chunks(
            net.path,
            columns,
            encoding=net.encoding,
            role="network",
            chunk_bytes=None if whole else self.chunk_bytes,
            **self._text_options(labels),
        )

    # ------------------------------------------------------------------------------------ network
    def _read_network(self) -> None:
        net = self.spec.network
        self.network_covariates: list[str] = []
        if net.format == "matrices":
            return
        if net.format == "agreements":  # one row per agreement: read whole
            columns = [net.i, net.j, net.start] + ([net.end] if net.end else [])
            [table] = self._network_chunks(columns, whole=True)
            self._read_agreements(table)
            return
        columns = [net.period, net.i, net.j] if net.format == "edges" else None
        name = net.y if net.format == "dyad_years" else "__tie__"
        rows: _LongRows | None = None
        for table in self._network_chunks(columns):
            if rows is None:  # the first chunk: the columns the file has
                if net.format == "dyad_years":
                    for column in [net.period, net.i, net.j, net.y]:
                        if column not in table.header:
                            raise IngestError(
                                f"{net.path}: the network file has no column {column!r}; its columns are {table.header}"
                            )
                    own = {net.period, net.i, net.j, net.y}
                    covariates = (
                        list(net.covariates)
                        if net.covariates is not None
                        else [c for c in table.header if c not in own]
                    )
                    for covariate in covariates:
                        if covariate not in table.header:
                            raise IngestError(f"{net.path}: the network file has no covariate column {covariate!r}")
                    self.network_covariates = covariates
                rows = _LongRows(table, net.i, [name, *self.network_covariates], self.T, self._scratch / "network")
            i, j = self._tie_codes(table)
            t = self._period_codes(table, net.period)
            values = {}
            if net.format == "dyad_years":
                y = table.numbers(net.y, what="tie")
                bad = ~np.isnan(y) & (y != 0) & (y != 1)
                if bad.any():
                    r = int(np.flatnonzero(bad)[0])
                    raise table.fail(f"a tie must be 0 or 1, got {y[r]:g}", r, net.y)
                values[net.y] = y
                for covariate in self.network_covariates:
                    values[covariate] = table.numbers(covariate, what=f"covariate {covariate!r}")
            else:
                values["__tie__"] = np.ones(len(i))
            rows.add(i, j, t, values, table.first_row + np.arange(table.n_rows))
        self._network_rows = rows

    def _tie_codes(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        """Universe codes of each network row's two nodes; a self-loop is an error."""
        net = self.spec.network
        i = self._node_codes(table, net.i)
        j = self._node_codes(table, net.j)
        loops = np.flatnonzero(i == j)
        if len(loops):
            r = int(loops[0])
            raise table.fail(f"self-loop: node {self._label(i[r])!r} is tied to itself", r, net.j)
        return i, j

    def _read_agreements(self, table: Table) -> None:
        net = self.spec.network
        i, j = self._tie_codes(table)
        start = self._period_codes(table, net.start, clip=True)
        end = self._period_codes(table, net.end, clip=True, allow_missing=True) if net.end else np.full(len(i), MISSING)
        end = np.where(end == MISSING, self.T - 1, end)  # no end: active through the last period
        span = f"{self.spec.periods[0]}..{self.spec.periods[-1]}"
        for bad, column, problem in (
            (start >= self.T, net.start, f"the tie starts after the dataset's periods {span}"),
            (end < 0, net.end, f"the tie ends before the dataset's periods {span}"),
            (end < start, net.end, "the tie ends before it starts"),
        ):
            if bad.any():
                raise table.fail(problem, int(np.flatnonzero(bad)[0]), column)
        start = np.clip(start, 0, self.T - 1)
        end = np.clip(end, 0, self.T - 1)
        key = np.minimum(i, j) * self.N + np.maximum(i, j) if not self.directed else i * self.N + j
        order = np.lexsort((start, key))
        same = key[order][1:] == key[order][:-1]
        overlap = same & (start[order][1:] <= end[order][:-1])
        if overlap.any():
            k = int(np.flatnonzero(overlap)[0])
            first, second = int(order[k]), int(order[k + 1])
            raise table.fail(
                f"duplicate dyad: {self._label(i[second])!r}-{self._label(j[second])!r} is already tied in "
                f"these periods by row {first + 1}",
                second,
                net.i,
            )
        self._agreements = (table, i, j, start, end)

    def _refuse_duplicate_rows(self, rows: _Rows, column: str, t: int | None) -> None:
        """The same i, j twice in a period (or a static table) is an error; in undirected data so is
        (j, i) with other values."""
        N = self.N
        key = rows.i * N + rows.j
        _refuse_duplicates(
            rows,
            key,
            lambda r: (
                f"duplicate dyad: {self._label(rows.i[r])!r}-"
                f"{self._label(rows.j[r])!r} is listed twice"
                + (f" for period {self.spec.periods[t]}" if t is not None else "")
            ),
            column,
        )
        if self.directed:
            return
        reverse = rows.j * N + rows.i
        position = pd.Index(key).get_indexer(reverse)
        both = np.flatnonzero(position >= 0)
        for name, values in rows.values.items():
            a, b = values[both], values[position[both]]
            differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
            if differ.any():
                r = int(both[np.flatnonzero(differ)[0]])
                q = int(position[r])
                what = "tie" if name in (self.spec.network.y, "__tie__") else f"covariate {name!r}"
                raise rows.fail(
                    f"asymmetric {what} in undirected data: {self._label(rows.i[r])!r}-{self._label(rows.j[r])!r} "
                    f"is {a[np.flatnonzero(differ)[0]]:g} here but {b[np.flatnonzero(differ)[0]]:g} in row "
                    f"{rows.file_row(q) + 1}",
                    r,
                    name,
                )

    # --------------------------------------------------------------------------------- covariates
    def _read_covariates(self) -> None:
        self.covariate_names: list[str] = list(self.network_covariates)
        self.static_covariates: dict[str, np.ndarray] = {}
        self._long_covariates: list[tuple[CovariateSpec, _LongRows]] = []
        self._matrix_covariates: list[tuple[CovariateSpec, list[Matrix]]] = []
        for cov in self.spec.dyad_covariates:
            for name in cov.names:
                if name in self.covariate_names:
                    raise IngestError(f"{cov.path}: covariate {name!r} is also a column of the network table")
                self.covariate_names.append(name)
            if cov.format == "long":
                rows = self._read_long_covariate(cov, len(self._long_covariates) + len(self.static_covariates))
                if not cov.per_period:
                    static_rows = rows.period(None)
                    self._refuse_duplicate_rows(static_rows, cov.i, None)
                    for name in cov.names:
                        self.static_covariates[name] = self._long_to_matrix(static_rows, None, name, cov.fill)
                else:
                    self._long_covariates.append((cov, rows))
            else:
                if cov.per_period:
                    matrices = [
                        self._read_matrix(self.spec.period_path(cov.path, p), cov.encoding, "dyadic covariate")
                        for p in self.spec.periods
                    ]
                    self._matrix_covariates.append((cov, matrices))
                else:
                    matrix = self._read_matrix(cov.path, cov.encoding, "dyadic covariate")
                    matrix = self._matrix_inside_universe(matrix)
                    self.static_covariates[cov.names[0]] = self._matrix_to_universe(matrix, None)
        if self.policy == "fill-mode":
            for matrix in self.static_covariates.values():
                off_diagonal = ~np.eye(self.N, dtype=bool)
                missing = np.isnan(matrix) & off_diagonal
                if missing.any():
                    matrix[missing] = _mode(matrix[off_diagonal & ~missing])

    def _read_long_covariate(self, cov: CovariateSpec, k: int) -> _LongRows:
        """A long covariate table read chunk by chunk into rows grouped by period (static: one group).
        A static table may name nodes never in the panel: those rows are left out, with one summary
        (self._outsiders) over the whole file."""
        columns = [cov.i, cov.j] + ([cov.period] if cov.period else []) + list(cov.names)
        labels = [cov.i, cov.j] + ([cov.period] if cov.period and self.spec.first_year is None else [])
        static = not cov.per_period
        chunks = read_table_chunks(
            cov.path,
            columns,
            encoding=cov.encoding,
            role="dyadic covariate",
            chunk_bytes=self.chunk_bytes,
            **self._text_options(labels),
        )
        rows: _LongRows | None = None
        outsiders, outsider_ids, first_outsider = 0, {}, None  # left-out rows, their ids, where the first is
        loop = None  # the first self-dyad among kept rows: refused after the outsiders' summary
        for table in chunks:
            if rows is None:
                groups = 1 if static else self.T
                rows = _LongRows(table, cov.i, list(cov.names), groups, self._scratch / f"covariate-{k}")
            i = self._node_codes(table, cov.i, allow_unknown=static)
            j = self._node_codes(table, cov.j, allow_unknown=static)
            inside = (i >= 0) & (j >= 0)
            if not inside.all():
                outside = np.flatnonzero(~inside)
                pairs = np.column_stack(
                    [self._ids(table, c).to_numpy(zero_copy_only=False)[outside] for c in (cov.i, cov.j)]
                )
                unknown = np.column_stack([i[outside] < 0, j[outside] < 0])
                outsider_ids.update(dict.fromkeys(pd.unique(pairs[unknown]).tolist()))  # in the order of the rows
                if first_outsider is None:
                    r = int(outside[0])
                    first_outsider = table.where(r, cov.i if i[r] < 0 else cov.j)
                outsiders += len(outside)
            loops = np.flatnonzero((i == j) & inside)
            if len(loops) and loop is None:
                r = int(loops[0])
                loop = table.fail(f"self-dyad: a covariate row for node {self._label(i[r])!r} with itself", r, cov.j)
            t = self._period_codes(table, cov.period) if cov.period else None
            values = {name: table.numbers(name, what=f"covariate {name!r}") for name in cov.names}
            keep = np.flatnonzero(inside)  # rows of nodes never in the panel are left out (static tables only)
            rows.add(
                i[keep],
                j[keep],
                None if t is None else t[keep],
                {name: column[keep] for name, column in values.items()},
                table.first_row + keep,
            )
            if loop is not None and not static:
                raise loop
        if outsiders:
            self._outsiders(cov.path, outsiders, list(outsider_ids), first_outsider)
        if loop is not None:
            raise loop
        return rows

    def _long_to_matrix(self, rows: _Rows, t: int | None, name: str, fill: float) -> np.ndarray:
        i, j, v = rows.i, rows.j, rows.values[name]
        if t is not None:
            self._refuse_absent(rows, np.arange(len(i)), i, j, t, rows.i_column)
        if self.policy == "error":
            missing = np.isnan(v)
            if missing.any():
                raise rows.fail(_missing_message(), int(np.flatnonzero(missing)[0]), name)
        matrix = np.full((self.N, self.N), float(fill))
        matrix[i, j] = v
        if not self.directed:
            matrix[j, i] = v
        np.fill_diagonal(matrix, 0.0)
        return matrix

    def _refuse_absent(self, table: Table | _Rows, selected, i, j, t: int, column: str) -> None:
        present = self.present[t]
        absent = ~(present[i] & present[j])
        if absent.any():
            k = int(np.flatnonzero(absent)[0])
            node = i[k] if not present[i[k]] else j[k]
            raise table.fail(
                f"node {self._label(node)!r} is absent in period {self.spec.periods[t]} "
                f"({'not in the nodes table for that period' if self.spec.nodes else 'not in that period'}), "
                "yet this row gives it a tie or covariate",
                int(selected[k]),
                column,
            )

    def _matrix_to_universe(self, matrix: Matrix, t: int | None, *, network: bool = False) -> np.ndarray:
        """A matrix file as an (N, N) float64 over the universe, checked (t=None: a static covariate)."""
        codes = self._matrix_codes(matrix)
        values = matrix.values.copy()
        n = len(codes)
        if network:
            diagonal = np.diagonal(values)
            loops = np.flatnonzero(~np.isnan(diagonal) & (diagonal != 0))
            if len(loops):
                k = int(loops[0])
                raise IngestError(f"{matrix.where(k, k)}: self-loop (the diagonal must be 0)")
            bad = ~np.isnan(values) & (values != 0) & (values != 1)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise IngestError(f"{matrix.where(r, c)}: a tie must be 0 or 1, got {values[r, c]:g}")
        if network:
            np.fill_diagonal(values, 0.0)
        else:  # the diagonal never enters a model; kept as given (0 where empty)
            np.fill_diagonal(values, np.nan_to_num(np.diagonal(values)))
        if not self.directed:
            values = self._symmetric(values, matrix, network)
        if t is None:
            needed = self.present.any(axis=0)
            covered = np.zeros(self.N, dtype=bool)
            covered[codes] = True
            lacking = np.flatnonzero(needed & ~covered)
            if len(lacking):
                raise IngestError(
                    f"{matrix.path}: the matrix has no row for node {self._label(lacking[0])!r} "
                    f"(and {len(lacking) - 1} more); a static matrix must cover every node"
                )
            inside = np.ones(n, dtype=bool)
        else:
            present = self.present[t]
            inside = present[codes]
            lacking = np.flatnonzero(present & ~np.isin(np.arange(self.N), codes))
            if len(lacking):
                raise IngestError(
                    f"{matrix.path}: the matrix has no row for node {self._label(lacking[0])!r}, "
                    f"present in period {self.spec.periods[t]}"
                )
            outside = np.flatnonzero(~inside)
            for k in outside:
                row, column = values[k], values[:, k]
                if np.nansum(np.abs(row)) or np.nansum(np.abs(column)):
                    c = int(np.flatnonzero(np.nan_to_num(row) != 0)[0]) if np.nansum(np.abs(row)) else k
                    what = "ties" if network else "covariate values"
                    raise IngestError(
                        f"{matrix.where(k, c)}: node {matrix.rows[k]!r} is absent in period {self.spec.periods[t]} "
                        f"but has {what}; absent nodes' rows and columns must be 0 or empty"
                    )
        if self.policy == "error":
            block = values[np.ix_(inside, inside)]
            missing = np.isnan(block)
            if missing.any():
                r, c = np.argwhere(missing)[0]
                rows_inside = np.flatnonzero(inside)
                raise IngestError(f"{matrix.where(rows_inside[r], rows_inside[c])}: {_missing_message()}")
        full = np.zeros((self.N, self.N))
        keep = codes[inside]
        full[np.ix_(keep, keep)] = values[np.ix_(inside, inside)]
        return full

    def _symmetric(self, values: np.ndarray, matrix: Matrix, network: bool) -> np.ndarray:
        same = (values == values.T) | (np.isnan(values) & np.isnan(values.T))
        if same.all():
            return values
        lower = np.tril(np.nan_to_num(values, nan=1.0), -1)
        if not network and not lower.any():
            upper = np.triu(values, 1)
            return upper + upper.T + np.diag(np.diagonal(values))
        r, c = np.argwhere(~same)[0]
        if network:
            raise IngestError(
                f"{matrix.where(r, c)}: asymmetric tie in undirected data ({values[r, c]:g} here, "
                f"{values[c, r]:g} at row {matrix.rows[c]!r}, column {matrix.cols[r]!r})"
            )
        raise IngestError(
            f"{matrix.where(r, c)}: the covariate matrix of undirected data is neither symmetric nor upper-triangular "
            f"({values[r, c]:g} here, {values[c, r]:g} at row {matrix.rows[c]!r}, column {matrix.cols[r]!r})"
        )

    # ------------------------------------------------------------------------------------ periods
    def float32_exact(self, name: str) -> bool:
        """Whether every value of covariate/attribute `name` survives a float32 round trip."""
        arrays = []
        if name in self._attribute_values:
            arrays.append(self._attribute_values[name])
        if name in self.static_covariates:
            arrays.append(self.static_covariates[name])
        if name in self.network_covariates and not self._network_rows.float32_exact[name]:
            return False
        for cov, rows in self._long_covariates:
            if name in cov.names:
                if not rows.float32_exact[name]:
                    return False
                arrays.append(np.array([cov.fill]))
        for cov, matrices in self._matrix_covariates:
            if name in cov.names:
                arrays += [m.values for m in matrices]
        for values in arrays:
            finite = values[np.isfinite(values)]
            if not np.array_equal(finite.astype(np.float32).astype(np.float64), finite):
                return False
        return True

    @property
    def per_period_covariates(self) -> list[str]:
        return [name for name in self.covariate_names if name not in self.static_covariates]

    def periods(self) -> Iterator[PeriodArrays]:
        for t in range(self.T):
            yield self.period(t)

    def period(self, t: int) -> PeriodArrays:
        present = self.present[t]
        N = self.N
        tie_missing = None
        if self._network_matrices is not None:
            network = self._matrix_to_universe(self._network_matrices[t], t, network=True)
        elif hasattr(self, "_agreements"):
            table, i, j, start, end = self._agreements
            active = np.flatnonzero((start <= t) & (end >= t))
            self._refuse_absent(table, active, i[active], j[active], t, self.spec.network.i)
            network = np.zeros((N, N))
            network[i[active], j[active]] = 1
            if not self.directed:
                network[j[active], i[active]] = 1
        else:
            rows = self._network_rows.period(t)
            self._refuse_duplicate_rows(rows, self.spec.network.i, t)
            name = self.spec.network.y if self.spec.network.format == "dyad_years" else "__tie__"
            network = self._long_to_matrix(rows, t, name, 0.0)
        covariates = {}
        for name in self.network_covariates:
            covariates[name] = self._long_to_matrix(rows, t, name, 0.0)
        for cov, long_rows in self._long_covariates:
            rows = long_rows.period(t)
            self._refuse_duplicate_rows(rows, cov.i, t)
            for name in cov.names:
                covariates[name] = self._long_to_matrix(rows, t, name, cov.fill)
        for cov, matrices in self._matrix_covariates:
            covariates[cov.names[0]] = self._matrix_to_universe(matrices[t], t)
        attributes = {name: grid[t].copy() for name, grid in self._attribute_values.items()}

        dyads = np.outer(present, present)
        np.fill_diagonal(dyads, False)
        observed = None
        tie_missing = np.isnan(network) & dyads
        if self.policy == "drop-dyad":
            observed = dyads & ~tie_missing
            for matrix in list(covariates.values()) + list(self.static_covariates.values()):
                observed &= ~np.isnan(matrix)
            for values in attributes.values():
                lacking = np.isnan(values) & present
                observed[lacking, :] = False
                observed[:, lacking] = False
            if observed.sum() == dyads.sum():
                observed = None
        elif self.policy == "fill-mode":
            if tie_missing.any():
                network[tie_missing] = _mode(network[dyads & ~tie_missing])
            for matrix in covariates.values():
                missing = np.isnan(matrix) & dyads
                if missing.any():
                    matrix[missing] = _mode(matrix[dyads & ~missing])
            for values in attributes.values():
                missing = np.isnan(values) & present
                if missing.any():
                    values[missing] = _mode(values[present & ~missing])
        network = np.nan_to_num(network, nan=0.0)
        network[~dyads] = 0
        among_present = np.outer(present, present)
        for matrix in covariates.values():
            matrix[~among_present] = 0.0
        return PeriodArrays(present.copy(), network.astype(np.uint8), attributes, covariates, observed)


def _mode(values: np.ndarray) -> float:
    if len(values) == 0:
        return 0.0
    unique, counts = np.unique(values, return_counts=True)
    return float(unique[np.argmax(counts)])  # np.unique sorts, argmax takes the first: the smallest tie


def _missing_message() -> str:
    return (
        'missing value; fix the data, or set missing = "drop-dyad" (exclude the affected dyads) or '
        'missing = "fill-mode" (use the most frequent value) in the dataset spec'
    )


def _first_null(array) -> int:
    return int(np.flatnonzero(np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool))[0])


def _refuse_duplicates(table: Table, key: np.ndarray, describe, column: str) -> None:
    order = np.argsort(key, kind="stable")
    repeated = np.flatnonzero(key[order][1:] == key[order][:-1])
    if len(repeated):
        first, second = int(order[repeated[0]]), int(order[repeated[0] + 1])
        raise table.fail(f"{describe(second)} (first in row {table.file_row(first) + 1})", second, column)
