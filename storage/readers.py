"""Reading the tables users bring (CSV, optionally gzipped; Parquet; Stata .dta) into typed columns,
with errors that name the file, the row and the column.

Rows are numbered from 1 over the data rows; for CSV the message also gives the line (header = line 1).

Stata value labels: pandas turns a labelled column into text categories. dyadflow uses those labels
for node ids and periods (they are what the user sees in Stata) and for attributes declared
`categorical`; a labelled column read as a number (a tie, a covariate, a numeric attribute) is
refused, because the codes behind the labels are rarely meaningful magnitudes — the message says to
drop the labels in Stata (`label values <var>`) or to declare the attribute categorical.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dyadflow.storage.panel import PanelError

# Text that a *numeric* column reads as missing. Text columns (node ids, labels, categorical
# attributes) read only a truly empty cell as missing ("NA" is Namibia), plus the spec's `na_values`.
NUMERIC_NA = ("NA", "N/A", "NaN", "nan", "null", "NULL", ".")
EXACT_FLOAT = 2.0**53  # beyond this, a float64 no longer holds every integer: ids stored so may collide
INTEGER_ID = re.compile(r"^[+-]?[0-9]+(\.0*)?$")


class IngestError(PanelError):
    """Input data that cannot be ingested; the message names the file, row and column."""


def file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".dta", ".dta.gz")):
        return "stata"
    raise IngestError(f"{path}: unsupported file type; use .csv (or .csv.gz), .parquet or .dta")


@dataclass
class Table:
    """Named columns of one input file; every column has `n_rows` entries."""

    path: Path
    kind: str
    header: list[str]
    columns: dict[str, pa.ChunkedArray]
    n_rows: int
    labelled: set[str] = field(default_factory=set)  # columns that carried Stata value labels
    na_values: tuple[str, ...] = ()  # the spec's extra missing-value cells, for every column
    first_row: int = 0  # the file's data row this table's row 0 is (a chunk of a larger file)

    def where(self, row: int | None = None, column: str | None = None) -> str:
        parts = [str(self.path)]
        if row is not None:
            row = self.first_row + row
            parts.append(f"row {row + 1}" + (f" (line {row + 2})" if self.kind == "csv" else ""))
        if column is not None:
            parts.append(f"column {column!r}")
        return ", ".join(parts)

    def fail(self, problem: str, row: int | None = None, column: str | None = None) -> IngestError:
        return IngestError(f"{self.where(row, column)}: {problem}")

    def file_row(self, row: int) -> int:
        """The file's data row (0-based) of this table's row."""
        return self.first_row + row

    def at_file_row(self) -> Table:
        """This table's description with row 0 = the file's first data row (for errors about rows
        located by their file row)."""
        return Table(self.path, self.kind, self.header, {}, 0, self.labelled, self.na_values)

    def _column(self, name: str) -> pa.ChunkedArray:
        return self.columns[name]

    def text(self, name: str, *, what: str = "value", allow_missing: bool = False) -> pa.ChunkedArray:
        """The column as strings: text as written (trimmed), integral numbers without a decimal point.

        Only an empty cell (or one of the spec's `na_values`) is missing. A float column of whole
        numbers reads as integers ("7", not "7.0"); one beyond 2**53 is refused, because a float64
        cannot tell such integers apart (two ids would become one)."""
        column = self._column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_floating(column.type):
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
            nan = np.isnan(values)
            finite = np.isfinite(values)
            if (~finite & ~nan).any():
                row = int(np.flatnonzero(~finite & ~nan)[0])
                raise self.fail(f"{what} is {values[row]:g}, not a finite number", row, name)
            if np.all(values[finite] == np.round(values[finite])):
                huge = finite & (np.abs(values) > EXACT_FLOAT)
                if huge.any():
                    row = int(np.flatnonzero(huge)[0])
                    raise self.fail(
                        f"{what} {values[row]:.17g} is stored as a floating-point number too large to be exact "
                        "(beyond 2**53, different integers read as the same number); store the column as text "
                        "or as integers",
                        row,
                        name,
                    )
                column = pa.chunked_array([pa.array(np.where(finite, values, 0).astype(np.int64), mask=nan)])
            elif nan.any():
                column = pa.chunked_array([pa.array(values, mask=nan)])
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = pc.cast(column, pa.string())
        column = pc.utf8_trim_whitespace(column)
        missing = pc.is_in(column, value_set=pa.array(["", *self.na_values], pa.string()))
        if pc.any(missing).as_py():
            column = pc.if_else(missing, pa.scalar(None, pa.string()), column)
            column = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
        if not allow_missing and column.null_count:
            row = _first_true(column.is_null())
            raise self.fail(f"missing {what} (an empty cell)", row, name)
        return column

    def ids(self, name: str, *, integer: bool = False, what: str = "node id") -> pa.ChunkedArray:
        """Node ids as labels, none missing. `integer`: ids are whole numbers, so "007", "7" and 7.0 are
        written "7" (exactly, for any size); anything else is an error naming the row."""
        column = self.text(name, what=what)
        if not integer:
            return column
        unique = pc.unique(column).to_pylist()
        canonical = {}
        for value in unique:
            if not INTEGER_ID.match(value):
                row = _first_true(pc.equal(column, value))
                raise self.fail(
                    f"{what} {value!r} is not a whole number, but the dataset spec says "
                    'node_ids = "integer"; remove that option to read ids as text',
                    row,
                    name,
                )
            canonical[value] = str(int(value.split(".")[0]))
        if all(k == v for k, v in canonical.items()):
            return column
        keys = pa.array(list(canonical), pa.string())
        values = pa.array(list(canonical.values()), pa.string())
        return pa.chunked_array([pc.take(values, pc.index_in(column, value_set=keys))])

    def numbers(self, name: str, *, what: str = "value") -> np.ndarray:
        """The column as float64, NaN where missing. A non-numeric cell, or an infinite value, is an
        error naming its row; "NA", "N/A", "NaN", "null", "." and the spec's `na_values` are missing."""
        column = self._column(name)
        if name in self.labelled:
            labels = column.combine_chunks().dictionary.to_pylist()[:4] if pa.types.is_dictionary(column.type) else []
            raise self.fail(
                f"the {what} column carries Stata value labels ({', '.join(map(repr, labels))}, ...) instead of "
                "numbers; remove the labels in Stata (label values <var>) to use the codes, or declare a node "
                "attribute `categorical`",
                None,
                name,
            )
        if pa.types.is_boolean(column.type) or pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            values = (
                column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
                if column.null_count == 0
                else (pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(zero_copy_only=False))
            )
            if self.na_values:
                listed = np.isin(values, [float(v) for v in self.na_values if _is_number(v)])
                values = np.where(listed, np.nan, values)
        elif pa.types.is_null(column.type):
            values = np.full(self.n_rows, np.nan)
        else:
            text = self.text(name, allow_missing=True).to_pandas()
            text = text.where(~text.isin(NUMERIC_NA))
            parsed = pd.to_numeric(text, errors="coerce")
            bad = parsed.isna() & text.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise self.fail(f"{what} {text.iloc[row]!r} is not a number", row, name)
            values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise self.fail(
                f"{what} is {values[row]:g}, not a finite number; fix the value, or leave the cell "
                "empty to mark it missing",
                row,
                name,
            )
        return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_true(mask) -> int:
    return int(np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))[0])


CHUNK_BYTES = 64 * 2**20  # what one chunk of a streamed input holds, about (see read_table_chunks)


def read_table(path: Path, columns: Sequence[str] | None, **options) -> Table:
    """The whole file as one Table: read_table_chunks(path, columns, chunk_bytes=None, **options)."""
    [table] = read_table_chunks(path, columns, chunk_bytes=None, **options)
    return table


def read_table_chunks(
    path: Path,
    columns: Sequence[str] | None,
    *,
    encoding: str = "utf-8",
    role: str = "input",
    text_columns: Sequence[str] = (),
    first_column_text: bool = False,
    na_values: Sequence[str] = (),
    chunk_bytes: int | None = CHUNK_BYTES,
) -> Iterator[Table]:
    """Read `columns` (all when None) of a CSV, Parquet or Stata file as consecutive Tables of about
    `chunk_bytes` each (None: one Table, the whole file), so a file larger than memory streams;
    each Table's errors name the file's row (Table.first_row). Missing columns are an error.

    `text_columns` (and the first column, with `first_column_text`) are labels: a CSV reads them as
    text exactly as written, never as numbers ("007" stays "007", a 20-digit id stays exact). Only
    an empty cell is missing, plus `na_values` (the spec's list, for every column)."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: {role} file not found")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the {role} file is empty")
    kind = file_kind(path)
    na_values = tuple(na_values)
    if kind == "csv":
        chunks = _read_csv(path, columns, encoding, role, text_columns, first_column_text, na_values, chunk_bytes)
    elif kind == "parquet":
        chunks = _read_parquet(path, columns, role, chunk_bytes)
    else:
        chunks = _read_stata(path, columns, role, chunk_bytes)
    first_row = 0
    for table in chunks:
        table.na_values, table.first_row = na_values, first_row
        first_row += table.n_rows
        yield table


def _require(path: Path, header: list[str], columns: Sequence[str] | None, role: str) -> list[str]:
    if columns is None:
        return list(header)
    missing = [c for c in columns if c not in header]
    if missing:
        raise IngestError(f"{path}: the {role} file has no column {missing[0]!r}; its columns are {header}")
    return list(dict.fromkeys(columns))


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _csv_header(path: Path, encoding: str, role: str) -> list[str]:
    try:
        with _open_bytes(path) as handle:
            first = handle.readline()
    except (OSError, EOFError) as error:
        raise IngestError(f"{path}: cannot read the {role} file ({error}); is it truncated or not gzip?") from None
    try:
        line = first.decode(encoding)
    except UnicodeDecodeError as error:
        raise IngestError(
            f"{path}, line 1: byte {first[error.start]:#04x} is not valid {encoding}; save the file as UTF-8 "
            'or set `encoding` (e.g. "latin-1") for this input in the dataset spec'
        ) from None
    if not line.strip():
        raise IngestError(f"{path}: the {role} file is empty (no header row)")
    header = next(csv.reader([line.lstrip("\ufeff")]))
    if len(set(header)) != len(header):
        duplicated = sorted({h for h in header if header.count(h) > 1})
        raise IngestError(f"{path}, line 1: duplicate column names {duplicated}")
    return header


def _first_bad_line(path: Path, encoding: str) -> tuple[int, int] | None:
    with _open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as error:
                return number, raw[error.start]
    return None


def _first_ragged_line(path: Path, encoding: str, width: int) -> tuple[int, str] | None:
    """(line number, what is wrong) of the first record whose field count is not `width`."""
    try:
        with _open_bytes(path) as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as handle:
            reader = csv.reader(handle)
            start = 1
            for record in reader:
                if record and len(record) != width:
                    if reader.line_num > start:  # the record ran over several lines: a quote never closed
                        return start, (
                            f"a quoted value opened on this line is not closed (an unmatched '\"'), "
                            f"so the row runs to line {reader.line_num}"
                        )
                    return start, f"{len(record)} fields where the header has {width}"
                start = reader.line_num + 1
    except (csv.Error, UnicodeDecodeError, OSError, EOFError):
        return None
    return None


def _read_csv(
    path: Path,
    columns,
    encoding: str,
    role: str,
    text_columns,
    first_column_text: bool,
    na_values: tuple[str, ...],
    chunk_bytes: int | None,
) -> Iterator[Table]:
    header = _csv_header(path, encoding, role)
    wanted = _require(path, header, columns, role)
    labels = set(text_columns) | ({header[0]} if first_column_text else set())
    as_text: dict[str, pa.DataType] = {name: pa.string() for name in wanted if name in labels}
    done = 0  # rows already given out: a re-read after a column turned out to be text skips them
    while True:
        try:
            for batch in _csv_batches(path, wanted, encoding, as_text, na_values, chunk_bytes, skip=done):
                yield _csv_table(path, header, wanted, batch, encoding)
                done += batch.num_rows
            return
        except (pa.ArrowInvalid, OSError, EOFError) as error:
            message = str(error)
            retype = re.search(r"In CSV column #(\d+): .*conversion error", message)
            if retype and header[int(retype.group(1))] not in as_text:
                # A column whose first block looked numeric has text further down: read it as text so
                # the numeric check (Table.numbers) can name the exact row.
                as_text[header[int(retype.group(1))]] = pa.string()
                continue
            _refuse_csv(path, header, encoding, role, message)


def _csv_batches(path: Path, wanted, encoding: str, as_text, na_values, chunk_bytes: int | None, skip: int):
    """The file's record batches (all at once when chunk_bytes is None), the first `skip` rows left out."""
    read = pacsv.ReadOptions(encoding=encoding, **({} if chunk_bytes is None else {"block_size": chunk_bytes}))
    parse = pacsv.ParseOptions(newlines_in_values=False)
    convert = pacsv.ConvertOptions(
        include_columns=wanted,
        # numeric columns: empty, NA-like and listed cells are null; text columns stay text
        # (Table.text reads only empty and listed cells as missing: "NA" is Namibia)
        null_values=["", *NUMERIC_NA, *na_values],
        strings_can_be_null=False,
        column_types=as_text,
    )
    if chunk_bytes is None:
        whole = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        batches: Iterable = whole.combine_chunks().to_batches()
    else:
        batches = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    seen = 0
    for batch in batches:
        if skip and seen + batch.num_rows <= skip:
            seen += batch.num_rows
            continue
        if seen < skip:
            batch = batch.slice(skip - seen)
        seen += batch.num_rows
        yield batch
    if seen == 0:  # a file of no rows is one empty chunk
        yield pa.RecordBatch.from_pylist(
            [], schema=pa.schema([(name, as_text.get(name, pa.null())) for name in wanted])
        )


def _csv_table(path: Path, header: list[str], wanted, batch, encoding: str) -> Table:
    columns_out = {name: pa.chunked_array([batch.column(name)]) for name in wanted}
    for column in columns_out.values():
        if pa.types.is_binary(column.type):  # pyarrow reads text that is not valid UTF-8 as bytes
            bad = _first_bad_line(path, encoding)
            line, byte = bad if bad else ("?", 0)
            raise IngestError(
                f"{path}, line {line}: byte {byte:#04x} is not valid {encoding}; save the file as UTF-8 "
                'or set `encoding` (e.g. "latin-1") for this input in the dataset spec'
            )
    return Table(path, "csv", header, columns_out, batch.num_rows)


def _refuse_csv(path: Path, header: list[str], encoding: str, role: str, message: str) -> NoReturn:
    """The IngestError for a CSV pyarrow cannot read, naming the line where that can be found."""
    if "UTF8" in message or "utf-8" in message.lower() or "decode" in message.lower():
        bad = _first_bad_line(path, encoding)
        if bad:
            raise IngestError(
                f"{path}, line {bad[0]}: byte {bad[1]:#04x} is not valid {encoding}; save the file as "
                'UTF-8 or set `encoding` (e.g. "latin-1") for this input in the dataset spec'
            ) from None
    if "Expected" in message and "columns" in message:
        ragged = _first_ragged_line(path, encoding, len(header))
        where = f"{path}, line {ragged[0]}" if ragged else str(path)
        found = ragged[1] if ragged else message.splitlines()[0]
        raise IngestError(
            f"{where}: a row has the wrong number of fields ({found}); "
            'is the file truncated, or does a value hold an unquoted comma (quote it: "a, b")?'
        ) from None
    raise IngestError(f"{path}: cannot read the {role} file as CSV ({message.splitlines()[0]})") from None


def _rows_per_chunk(chunk_bytes: int | None, columns: int) -> int | None:
    """Rows of about chunk_bytes, at 8 bytes per value (None: all)."""
    return None if chunk_bytes is None else max(1, chunk_bytes // (8 * max(1, columns)))


def _read_parquet(path: Path, columns, role: str, chunk_bytes: int | None) -> Iterator[Table]:
    try:
        schema = pq.read_schema(path)
        header = list(schema.names)
        wanted = _require(path, header, columns, role)
        rows = _rows_per_chunk(chunk_bytes, len(wanted))
        if rows is None:
            table = pq.read_table(path, columns=wanted)
            chunks: Iterator = iter([table])
        else:
            chunks = (pa.Table.from_batches([b]) for b in pq.ParquetFile(path).iter_batches(rows, columns=wanted))
        empty = True
        for table in chunks:
            empty = False
            yield Table(path, "parquet", header, {name: table.column(name) for name in wanted}, table.num_rows)
        if empty:  # a file of no rows is one empty chunk, as read whole
            table = schema.empty_table().select(wanted)
            yield Table(path, "parquet", header, {name: table.column(name) for name in wanted}, 0)
    except IngestError:
        raise
    except (pa.ArrowException, OSError) as error:
        raise IngestError(
            f"{path}: cannot read the {role} file as Parquet ({str(error).splitlines()[0]}); is it truncated?"
        ) from None


def _read_stata(path: Path, columns, role: str, chunk_bytes: int | None) -> Iterator[Table]:
    try:
        with pd.io.stata.StataReader(path, convert_categoricals=True, convert_missing=False) as reader:
            rows = _rows_per_chunk(chunk_bytes, len(reader.variable_labels()))
            frame = reader.read(nrows=rows)
            header = [str(c) for c in frame.columns]
            wanted = _require(path, header, columns, role)
            while True:
                yield _stata_table(path, header, wanted, frame)
                if rows is None:
                    return
                try:
                    frame = reader.read(nrows=rows)
                except StopIteration:  # pandas' reader says "no rows left" so
                    return
                if len(frame) == 0:
                    return
    except IngestError:
        raise
    except Exception as error:  # pandas raises ValueError/OSError/struct.error/... for damaged files
        raise IngestError(
            f"{path}: cannot read the {role} file as Stata .dta ({type(error).__name__}: {error}); is it truncated?"
        ) from None


def _stata_table(path: Path, header: list[str], wanted: list[str], frame: pd.DataFrame) -> Table:
    labelled = {name for name in wanted if isinstance(frame[name].dtype, pd.CategoricalDtype)}
    converted = {}
    for name in wanted:
        series = frame[name]
        if name in labelled:
            converted[name] = pa.chunked_array(
                [pa.array(series.astype(object).where(series.notna(), None), pa.string())]
            )
        else:
            converted[name] = pa.chunked_array([pa.array(series.to_numpy(), from_pandas=True)])
    return Table(path, "stata", header, converted, len(frame), labelled)


@dataclass
class Matrix:
    """A square table: first column = row labels, header = column labels."""

    path: Path
    kind: str
    rows: list[str]
    cols: list[str]
    values: np.ndarray  # float64, NaN = missing
    lines: list[int]  # data row number (0-based) in the file of each row

    def where(self, r: int, c: int) -> str:
        line = f" (line {self.lines[r] + 2})" if self.kind == "csv" else ""
        return f"{self.path}, row {self.rows[r]!r}{line}, column {self.cols[c]!r}"


def read_matrix(
    path: Path,
    *,
    encoding: str = "utf-8",
    role: str = "matrix",
    integer_ids: bool = False,
    na_values: Sequence[str] = (),
) -> Matrix:
    """A square table of node labels (rows: the first column, read as text; columns: the header)."""
    table = read_table(path, None, encoding=encoding, role=role, first_column_text=True, na_values=na_values)
    if len(table.header) < 2:
        raise table.fail("a matrix file needs a first column of row labels and one column per node")
    label_column, value_columns = table.header[0], table.header[1:]
    rows = table.ids(label_column, integer=integer_ids, what="row label").to_pylist()
    cols = [c.strip() for c in value_columns]
    if integer_ids:
        for c, label in enumerate(cols):
            if not INTEGER_ID.match(label):
                raise IngestError(
                    f"{path}, line 1, column {c + 2}: column label {label!r} is not a whole number, "
                    'but the dataset spec says node_ids = "integer"; remove that option to read ids '
                    "as text"
                )
        cols = [str(int(label.split(".")[0])) for label in cols]
    for labels, what in ((rows, "row"), (cols, "column")):
        if len(set(labels)) != len(labels):
            duplicated = sorted({v for v in labels if labels.count(v) > 1})[:5]
            raise table.fail(f"duplicate {what} labels {duplicated}")
    if set(rows) != set(cols):
        extra = sorted(set(rows) ^ set(cols))[:5]
        raise table.fail(f"row and column labels differ (e.g. {extra}); a matrix needs the same nodes on both axes")
    values = np.empty((len(rows), len(cols)), dtype=np.float64)
    for c, name in enumerate(value_columns):
        values[:, c] = table.numbers(name, what="matrix cell")
    lines = list(range(len(rows)))
    if rows != cols:  # rows in the columns' order so that cell (k, k) is the diagonal
        position = {label: k for k, label in enumerate(rows)}
        lines = [position[label] for label in cols]
        values = values[lines]
        rows = cols
    return Matrix(path, table.kind, rows, cols, values, lines)


__all__ = ["IngestError", "Matrix", "Table", "file_kind", "read_matrix", "read_table", "read_table_chunks"]
