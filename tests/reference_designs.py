"""Designs and btergm results of the Knecht reference models, read from tests/data/reference.

designs/<model>_design_dyads.csv(.gz): one row per dyad of every period btergm used; "time" is the
1-based period, the columns after "weight" are the change statistics (ergm's names)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from conftest import reference_path

from dyadflow.tergm.design import Design

KNECHT_MODELS = [
    "knecht_model2a",
    "knecht_model2b_doc",
    "knecht_model2b_brief",
    "knecht_gw_directed",
    "knecht_gw_directed_primary",
    "knecht_gw_undirected_sym",
    "knecht_gw_undirected_sym_primary",
    "knecht_model2e_oos_fit",
]


def knecht_design(model: str) -> Design:
    frame = pd.read_csv(reference_path(f"designs/{model}_design_dyads.csv"))
    names = list(frame.columns[list(frame.columns).index("weight") + 1 :])
    if not (frame["weight"] == 1).all():
        raise ValueError(f"{model}: the dyad design should have weight 1 on every row")
    time = frame["time"].to_numpy()
    if np.any(np.diff(time) < 0):
        raise ValueError(f"{model}: rows are not sorted by period")
    periods = np.unique(time)
    offsets = np.searchsorted(time, np.append(periods, periods[-1] + 1)).astype(np.int64)
    nodes, dyads = [], []
    for t in range(len(periods)):
        block = frame.iloc[offsets[t] : offsets[t + 1]]
        labels = np.unique(np.concatenate([block["tail_label"].astype(str), block["head_label"].astype(str)]))
        position = {label: k for k, label in enumerate(labels)}
        nodes.append(labels)
        dyads.append(
            np.column_stack(
                [block["tail_label"].astype(str).map(position), block["head_label"].astype(str).map(position)]
            )
        )
    return Design(
        names=names,
        X=np.ascontiguousarray(frame[names].to_numpy(dtype=np.float64)),
        y=frame["response"].to_numpy(dtype=np.float64),
        offsets=offsets,
        periods=[str(p) for p in periods],
        dyads=np.vstack(dyads).astype(np.int64),
        nodes=nodes,
        directed=bool(json.loads(reference_path(f"results/{model}.json").read_text())["directed"]),
    )


def knecht_results(model: str) -> dict:
    return json.loads(reference_path(f"results/{model}.json").read_text())


def knecht_coef_table(model: str) -> pd.DataFrame:
    return pd.read_csv(reference_path(f"results/{model}_coef.csv")).set_index("term")


def knecht_replicates(model: str) -> np.ndarray:
    return pd.read_csv(reference_path(f"results/{model}_boot_t.csv")).drop(columns="replicate").to_numpy()


def knecht_resamples(model: str) -> np.ndarray:
    """btergm's period draws, converted from its 1-based indices to 0-based."""
    return pd.read_csv(reference_path(f"results/{model}_boot_indices.csv")).drop(columns="replicate").to_numpy() - 1
