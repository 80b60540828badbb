"""Data layer: raw inputs (CSV, Parquet, Stata) -> validated, versioned columnar store -> Panel.

Public API:
    ingest(spec, store_path, progress=None, overwrite=False) -> IngestReport
    open_panel(store_path) -> Panel            (periods loaded lazily from the store)
    read_manifest(store_path) -> dict          (periods, node universe, content hashes)
    export_long(store_path) -> DataFrame       (period, i, j, y, dyadic covariates)
    write_derived / read_derived               (per-period arrays cached next to the data)
    demo.write_demo_dataset(directory, ...)    (a realistic customs-agreement panel + spec)
"""

if __name__ != "dyadflow.storage":  # the folder is installed as dyadflow.storage (pyproject.toml)
    raise ImportError("import dyadflow.storage, not storage: this folder is part of the dyadflow package")

from dyadflow.storage.ingest import IngestWarning
from dyadflow.storage.panel import Panel, PanelError, Period
from dyadflow.storage.readers import IngestError
from dyadflow.storage.spec import DatasetSpec, SpecError, load_spec
from dyadflow.storage.store import (
    IngestReport,
    StoreError,
    export_long,
    ingest,
    open_panel,
    period_nodes,
    read_derived,
    read_manifest,
    write_derived,
)

__all__ = [
    "DatasetSpec",
    "IngestError",
    "IngestWarning",
    "IngestReport",
    "Panel",
    "PanelError",
    "Period",
    "SpecError",
    "StoreError",
    "export_long",
    "ingest",
    "load_spec",
    "open_panel",
    "period_nodes",
    "read_derived",
    "read_manifest",
    "write_derived",
]
