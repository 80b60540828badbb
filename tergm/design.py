"""The MPLE design: one row per dyad of every period in the likelihood, one column per coefficient.

Contract between the design builder (formula + terms -> Design) and the estimators (Design -> Fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Design:
    names: list[str]  # coefficient names, formula order, ergm's spelling (e.g. "gwesp.fixed.0.5")
    X: np.ndarray  # (N, p) float64 change statistics, periods stacked in order
    y: np.ndarray  # (N,) float64 observed tie (0/1)
    offsets: np.ndarray  # (T+1,) int64: rows of period t are offsets[t]:offsets[t+1]
    periods: list[str]  # names of the T periods in the likelihood (the first `lag` dropped)
    dyads: np.ndarray  # (N, 2) int64 tail/head index of each row within its period's node list
    nodes: list[np.ndarray]  # per period in the likelihood, the node labels (str)
    directed: bool

    @property
    def n_periods(self) -> int:
        return len(self.periods)

    def period_rows(self, t: int) -> slice:
        return slice(int(self.offsets[t]), int(self.offsets[t + 1]))
