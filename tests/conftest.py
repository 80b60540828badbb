"""Shared test fixtures. Reference data from R (copied from ../shared/reference, large CSVs gzipped)
lives in tests/data/reference/<folder>/; `reference_path` finds a file whether or not it was gzipped."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "data" / "reference"


def reference_path(relative: str) -> Path:
    """Path of a reference file, e.g. "results/knecht_model2a_coef.csv" (finds .csv.gz too)."""
    path = REFERENCE / relative
    if path.exists():
        return path
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gz
    raise FileNotFoundError(f"reference file {relative} is not in {REFERENCE}")


@pytest.fixture
def reference():
    return reference_path
