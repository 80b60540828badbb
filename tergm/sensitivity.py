"""Aggregating a rewiring sensitivity batch: how far each estimate moves as ties are rewired.

For every rewiring level the refits' estimates are summarised per coefficient against the baseline
(the fit on the observed networks): mean, standard deviation, 2.5 / 97.5 % quantiles, the mean's
departure from the baseline, and the share of refits whose estimate keeps the baseline's sign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

COLUMNS = [
    "level", "term", "baseline", "mean", "sd", "q025", "q975", "mean_minus_baseline", "sign_kept", "refits", "failed",
]


def simulation_seeds(seed: int, levels: Sequence[float], simulations: int) -> np.ndarray:
    """(len(levels), simulations) uint64 seeds, one per refit, from one master seed.

    Each seed depends only on (seed, level index, simulation index), never on how refits are split
    among workers, so a batch gives the same numbers on any cluster.
    """
    root = np.random.SeedSequence(int(seed))
    out = np.empty((len(levels), simulations), dtype=np.uint64)
    for i in range(len(levels)):
        for s in range(simulations):
            child = np.random.SeedSequence(root.entropy, spawn_key=(i, s))
            out[i, s] = child.generate_state(1, dtype=np.uint64)[0]
    return out


def aggregate(
    baseline: Mapping[str, float] | pd.Series,
    estimates: Mapping[float, np.ndarray],
    names: Sequence[str],
) -> pd.DataFrame:
    """One row per (level, term).

    baseline: term -> estimate on the observed networks.
    estimates: level -> (simulations, p) array of refit estimates (NaN rows = refits that failed,
        e.g. a separated design; they are counted in `failed` and left out of the summaries).
    """
    baseline = pd.Series(baseline, dtype=float)
    missing = [name for name in names if name not in baseline.index]
    if missing:
        raise ValueError(f"baseline lacks the terms {missing}")
    rows = []
    for level in sorted(estimates):
        values = np.asarray(estimates[level], dtype=float)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(f"level {level}: expected a (simulations, {len(names)}) array, got {values.shape}")
        ok = np.isfinite(values).all(axis=1)
        kept = values[ok]
        for k, name in enumerate(names):
            column = kept[:, k]
            base = float(baseline[name])
            if len(column):
                mean = float(column.mean())
                sd = float(column.std(ddof=1)) if len(column) > 1 else float("nan")
                q025, q975 = (float(q) for q in np.quantile(column, [0.025, 0.975]))
                sign = float(np.mean(np.sign(column) == np.sign(base)))
            else:
                mean = sd = q025 = q975 = sign = float("nan")
            rows.append([float(level), name, base, mean, sd, q025, q975, mean - base, sign, int(ok.sum()), int((~ok).sum())])
    return pd.DataFrame(rows, columns=COLUMNS)
