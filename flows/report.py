"""The results directory of a run:

    coefficients.parquet / .csv        estimate, bootstrap mean and percentile CI per term (tergm's Fit)
    bootstrap_replicates.parquet/.csv  one row per replicate: the periods it drew and its estimates
    sensitivity.parquet / .csv         per rewiring level and term: baseline, mean, spread (if run)
    sensitivity_estimates.parquet      every refit's estimates, long form (if run)
    summary.txt                        btergm-style summary (+ the sensitivity table)
    run.json                           spec, seeds, data hashes, package versions, per-stage timings
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGES = ("dyadflow", "numpy", "numba", "scipy", "pandas", "pyarrow", "zarr", "dask", "distributed", "prefect")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_report(spec, outcome, design, *, seeds: dict, period_hashes: dict[str, str]) -> Path:
    out = Path(outcome.output)
    out.mkdir(parents=True, exist_ok=True)
    names = list(outcome.names)
    fit = outcome.fit
    summary_parts = [fit.summary()]
    _write_table(fit.to_frame().reset_index(), out / "coefficients")
    if fit.R:
        replicates = pd.DataFrame(fit.replicates, columns=names)
        replicates.insert(0, "replicate", np.arange(1, fit.R + 1))
        replicates.insert(1, "periods", [" ".join(design.periods[t] for t in row) for row in fit.resamples])
        replicates.insert(2, "converged", fit.replicate_converged)
        _write_table(replicates, out / "bootstrap_replicates")
    if outcome.sensitivity is not None:
        _write_table(outcome.sensitivity, out / "sensitivity")
        levels, sims, p = outcome.sensitivity_estimates.shape
        long = pd.DataFrame(
            {
                "level": np.repeat(np.asarray(spec.sensitivity.levels, dtype=float), sims * p),
                "simulation": np.tile(np.repeat(np.arange(sims), p), levels),
                "term": np.tile(np.asarray(names, dtype=object), levels * sims),
                "estimate": outcome.sensitivity_estimates.reshape(-1),
            }
        )
        long.to_parquet(out / "sensitivity_estimates.parquet", index=False)
        view = outcome.sensitivity[["level", "term", "baseline", "mean", "sd", "q025", "q975", "sign_kept"]]
        summary_parts.append(
            f"Sensitivity: {spec.sensitivity.simulations} refits per level, {spec.sensitivity.mode} rewiring\n"
            + view.to_string(index=False, float_format=lambda v: f"{v:.4f}")
        )
    (out / "summary.txt").write_text("\n\n".join(summary_parts) + "\n")
    record = {
        "spec": json.loads(json.dumps(spec.source, default=str)),
        "formula": spec.formula,
        "seeds": seeds,
        "bootstrap": {"R": spec.R, "batch_size": spec.batch_size},
        "data": {
            "dataset_spec": str(spec.dataset),
            "store": str(spec.store),
            "dataset_hash": outcome.data_hash,
            "period_hashes": dict(period_hashes),
        },
        "design": {"rows": int(design.X.shape[0]), "terms": names, "periods": list(design.periods)},
        "cluster": {"kind": spec.cluster.kind, "workers": spec.cluster.workers, "address": spec.cluster.address},
        "versions": package_versions(),
        "timings_s": dict(outcome.timings),
    }
    (out / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return out


def _write_table(frame: pd.DataFrame, stem: Path) -> None:
    frame.to_parquet(stem.with_suffix(".parquet"), index=False)
    frame.to_csv(stem.with_suffix(".csv"), index=False)
