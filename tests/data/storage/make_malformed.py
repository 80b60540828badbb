"""Regenerates tests/data/storage/malformed/: one folder per rule, each a small dataset whose spec
(dataset.toml) ingests cleanly except for exactly one defect. `expected.txt` holds a regular
expression the error message must match (the file, the row or cell, the column, the problem).

Run from the repository root: .venv/bin/python tests/data/storage/make_malformed.py
"""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent / "malformed"

SPEC = """name = "tiny"
directed = {directed}
periods = {{ first = 2000, last = 2001 }}

[nodes]
path = "nodes.csv"
period = "year"
node = "node"
attributes = ["score"]

[network]
name = "net"
{network}

[[dyad_covariates]]
format = "long"
path = "{cov_path}"
period = "year"
i = "i"
j = "j"
values = ["dist"]
"""
EDGES = 'format = "edges"\npath = "{path}"\nperiod = "year"\ni = "i"\nj = "j"'
NODES = "year,node,score\n2000,A,1.5\n2000,B,2\n2000,C,0.5\n2000,D,1\n2000,E,3\n2001,A,1.5\n2001,B,2\n2001,C,0.5\n2001,D,1\n"
EDGE_ROWS = "year,i,j\n2000,A,B\n2000,B,C\n2001,A,C\n2001,C,D\n"
COV_ROWS = "year,i,j,dist\n2000,A,B,1.5\n2000,C,E,2\n2001,A,C,2.25\n"


def case(
    name: str,
    expected: str,
    *,
    directed="false",
    network=None,
    edges=EDGE_ROWS,
    nodes=NODES,
    cov=COV_ROWS,
    cov_path="cov.csv",
    extra: dict | None = None,
):
    folder = HERE / name
    folder.mkdir(parents=True)
    network = network or EDGES.format(path="edges.csv")
    (folder / "dataset.toml").write_text(SPEC.format(directed=directed, network=network, cov_path=cov_path))
    for file, content in (("nodes.csv", nodes), ("edges.csv", edges), ("cov.csv", cov), *(extra or {}).items()):
        if content is None:
            continue
        path = folder / file
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    (folder / "expected.txt").write_text(expected + "\n")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def main():
    shutil.rmtree(HERE, ignore_errors=True)
    case(
        "unknown_node",
        r"edges\.csv, row 3 \(line 4\), column 'j': unknown node id 'ZZ'",
        edges=EDGE_ROWS.replace("2001,A,C", "2001,A,ZZ"),
    )
    case(
        "self_loop",
        r"edges\.csv, row 2 \(line 3\), column 'j': self-loop: node 'B'",
        edges=EDGE_ROWS.replace("2000,B,C", "2000,B,B"),
    )
    case(
        "duplicate_dyad",
        r"edges\.csv, row 5 \(line 6\), column 'i': duplicate dyad: 'A'-'B' is listed twice "
        r"for period 2000 \(first in row 1\)",
        edges=EDGE_ROWS + "2000,A,B\n",
    )
    case(
        "asymmetric_undirected",
        r"dyads\.csv, row 1 \(line 2\), column 'y': asymmetric tie in undirected data: 'A'-'B' is 1 here but 0 in row 2",
        network='format = "dyad_years"\npath = "dyads.csv"\nperiod = "year"\ni = "i"\nj = "j"\ny = "y"\ncovariates = []',
        edges=None,
        extra={"dyads.csv": "year,i,j,y\n2000,A,B,1\n2000,B,A,0\n"},
    )
    case(
        "period_out_of_range",
        r"edges\.csv, row 4 \(line 5\), column 'year': period 2003 is outside the "
        r"dataset's periods 2000\.\.2001",
        edges=EDGE_ROWS.replace("2001,C,D", "2003,C,D"),
    )
    case(
        "non_numeric_covariate",
        r"cov\.csv, row 2 \(line 3\), column 'dist': covariate 'dist' 'far' is not a number",
        cov=COV_ROWS.replace("2000,C,E,2", "2000,C,E,far"),
    )
    case(
        "covariate_absent_node",
        r"cov\.csv, row 3 \(line 4\), column 'i': node 'E' is absent in period 2001",
        cov=COV_ROWS.replace("2001,A,C,2.25", "2001,E,C,2.25"),
    )
    case(
        "tie_absent_node",
        r"edges\.csv, row 4 \(line 5\), column 'i': node 'E' is absent in period 2001",
        edges=EDGE_ROWS.replace("2001,C,D", "2001,E,D"),
    )
    case(
        "missing_attribute",
        r"nodes\.csv, row 3 \(line 4\), column 'score': missing value; .*drop-dyad.*fill-mode",
        nodes=NODES.replace("2000,C,0.5", "2000,C,NA"),
    )
    case(
        "missing_covariate",
        r"cov\.csv, row 1 \(line 2\), column 'dist': missing value",
        cov=COV_ROWS.replace("2000,A,B,1.5", "2000,A,B,"),
    )
    case(
        "truncated_csv",
        r"edges\.csv, line 6: a row has the wrong number of fields \(2 fields where the header has 3\).*truncated",
        edges=EDGE_ROWS + "2001,B",
    )
    case(
        "truncated_parquet",
        r"edges\.parquet: cannot read the network file as Parquet.*truncated",
        network=EDGES.format(path="edges.parquet"),
        extra={"edges.parquet": parquet_bytes(pd.read_csv(io.StringIO(EDGE_ROWS)))[:300]},
    )
    case(
        "truncated_gzip",
        r"edges\.csv\.gz: cannot read the network file",
        network=EDGES.format(path="edges.csv.gz"),
        extra={"edges.csv.gz": gzip.compress((EDGE_ROWS * 200).encode())[:-40]},
    )
    case(
        "wrong_encoding",
        r"nodes\.csv, line 3: byte 0xf4 is not valid utf-8.*encoding",
        nodes=None,
        extra={"nodes.csv": NODES.replace("2000,B,2", "2000,Côte,2").encode("latin-1")},
    )
    case("empty_file", r"edges\.csv: the network file is empty", edges="")
    case("header_only_nodes", r"nodes\.csv: the nodes file has no rows", nodes="year,node,score\n")
    case(
        "missing_column",
        r"cov\.csv: the dyadic covariate file has no column 'dist'; its columns are",
        cov=COV_ROWS.replace("dist", "distance"),
    )
    frame = pd.DataFrame({"year": [2000, 2001], "i": ["A", "A"], "j": ["B", "C"], "dist": [1, 2]})
    buffer = io.BytesIO()
    frame.to_stata(buffer, write_index=False, value_labels={"dist": {1: "near", 2: "far"}}, version=118)
    case(
        "stata_labelled",
        r"cov\.dta, column 'dist': the covariate 'dist' column carries Stata value labels",
        cov=None,
        cov_path="cov.dta",
        extra={"cov.dta": buffer.getvalue()},
    )
    case(
        "asymmetric_matrix",
        r"net_2000\.csv, row 'A' \(line 2\), column 'B': asymmetric tie in undirected data",
        edges=None,
        network='format = "matrices"\npath = "net_{period}.csv"',
        extra={
            "net_2000.csv": "node,A,B,C,D,E\nA,0,0,0,0,0\nB,1,0,0,0,0\nC,0,0,0,0,0\nD,0,0,0,0,0\nE,0,0,0,0,0\n",
            "net_2001.csv": "node,A,B,C,D\nA,0,0,0,0\nB,0,0,0,0\nC,0,0,0,0\nD,0,0,0,0\n",
        },
    )
    case(
        "agreement_ends_before_start",
        r"agreements\.csv, row 2 \(line 3\), column 'end': the tie ends before it starts",
        edges=None,
        network='format = "agreements"\npath = "agreements.csv"\ni = "i"\nj = "j"\nstart = "start"\nend = "end"',
        extra={"agreements.csv": "i,j,start,end\nA,B,2000,\nB,C,2001,2000\n"},
    )
    case(
        "bad_spec",
        r"dataset spec .*dataset\.toml, key 'network\.format': must be one of",
        network='format = "edgelist"\npath = "edges.csv"',
    )


if __name__ == "__main__":
    main()
