"""Time the report of a demo-scale results directory: 230 nodes, 31 periods, three models with R = 100,
a 9 x 100 sensitivity batch, gof with nsim = 100 on every period and pooled, prediction on a 26k-dyad test
period, profiles and marginal effects (synthetic tables in the results schemas, so the report's own cost is
measured, not the run's). Prints wall and CPU time of write_report_html and the process's peak memory.

    .venv/bin/python benchmarks/bench_report.py [DIRECTORY]
"""

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dyadflow.tergm.metrics import evaluate_predictions, random_baseline
from dyadflow.tergm.sensitivity import aggregate


def write_demo_scale_results(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    terms = [
        "edges",
        "gwesp.fixed.0.5",
        "gwdegree.fixed.0.5",
        "nodecov.polyarchy",
        "absdiff.polyarchy",
        "edgecov.contiguity",
        "edgecov.log_trade",
        "edgecov.mlat",
    ]
    models = {
        "network": terms,
        "logit": [t for t in terms if not t.startswith("gw")],
        "memory": terms + ["memory.stability"],
    }
    periods = [str(y) for y in range(1980, 2011)]
    R = 100
    coef, reps = [], []
    union = list(dict.fromkeys(t for ts in models.values() for t in ts))
    for m, ts in models.items():
        est = rng.normal(0, 1, len(ts))
        sd = rng.uniform(0.05, 0.5, len(ts))
        r = est + sd * rng.standard_normal((R, len(ts)))
        lo, hi = np.percentile(r, [2.5, 97.5], axis=0)
        for k, t in enumerate(ts):
            coef.append([m, t, est[k], lo[k], hi[k], r[:, k].mean(), r[:, k].std(ddof=1), sd[k], 1.0, 0.1])
        f = pd.DataFrame(np.nan, index=range(R), columns=union)
        f[ts] = r
        f.insert(0, "model", m)
        f.insert(1, "replicate", np.arange(1, R + 1))
        f.insert(2, "periods", [" ".join(rng.choice(periods, 31)) for _ in range(R)])
        f.insert(3, "converged", True)
        reps.append(f)
    coef = pd.DataFrame(
        coef, columns=["model", "term", "Estimate", "2.5%", "97.5%", "boot_mean", "boot_sd", "Std.Err", "z", "p"]
    )
    coef.to_parquet(out / "coefficients.parquet", index=False)
    pd.concat(reps).to_parquet(out / "bootstrap_replicates.parquet", index=False)
    n = 230 * 229 // 2
    obs = (rng.random(n) < 0.03).astype(np.int8)
    rocpr, auc = [], []
    for m in models:
        for kind in ("mple", "simulation"):
            s = obs * rng.uniform(0, 1, n) + rng.uniform(0, 1.2, n)
            mt = evaluate_predictions(obs, s)
            rocpr += [
                mt.roc.assign(model=m, kind=kind, period="pooled", curve="roc"),
                mt.pr.assign(model=m, kind=kind, period="pooled", curve="pr"),
            ]
            auc.append({"model": m, "kind": kind, "period": "pooled", **mt.areas()})
    b = random_baseline(obs)
    rocpr += [
        b.roc.assign(model="random", kind="mple", period="pooled", curve="roc"),
        b.pr.assign(model="random", kind="mple", period="pooled", curve="pr"),
    ]
    auc.append({"model": "random", "kind": "mple", "period": "pooled", **b.areas()})
    pd.concat(rocpr)[["model", "kind", "period", "curve", "x", "y", "threshold"]].to_parquet(
        out / "rocpr.parquet", index=False
    )
    pd.DataFrame(auc).to_csv(out / "auc.csv", index=False)
    prof = []
    for m in models:
        for st, vals in (("shared partners", range(8)), ("third-party ties", range(6))):
            for v in vals:
                p = 1 / (1 + np.exp(4 - 0.5 * v))
                prof.append([m, st, float(v), p, p * 0.8, p * 1.2, 100, "bootstrap"])
    pd.DataFrame(
        prof, columns=["model", "statistic", "value", "mean_probability", "lower", "upper", "n_dyads", "interval"]
    ).to_parquet(out / "profiles.parquet", index=False)
    pd.DataFrame(
        [[m, t, 0.01, 0.0, 0.02] for m, ts in models.items() for t in ts[1:]],
        columns=["model", "term", "effect", "lower", "upper"],
    ).to_parquet(out / "marginal_effects.parquet", index=False)
    g, gs = [], []
    for m, ts in list(models.items())[:1]:  # the flows simulate one model ([gof] model)
        for p in periods + ["pooled"]:
            for st, labels in (
                ("degree", [str(v) for v in range(45)]),
                ("esp", [str(v) for v in range(25)]),
                ("dsp", [str(v) for v in range(30)]),
                ("geodesic", [str(v) for v in range(1, 9)] + ["inf"]),
                ("model", ts),
            ):
                sims = rng.poisson(20, (100, len(labels))).astype(float)
                lo, hi = np.quantile(sims, [0.025, 0.975], axis=0)
                for c, lab in enumerate(labels):
                    g.append([m, p, st, lab, 20.0, sims[:, c].mean(), lo[c], hi[c], 0.5])
                gs.append(
                    pd.DataFrame(
                        {
                            "model": m,
                            "period": p,
                            "statistic": st,
                            "value": np.repeat(labels, 100),
                            "draw": np.tile(np.arange(100), len(labels)),
                            "count": sims.T.reshape(-1),
                        }
                    )
                )
    gof = pd.DataFrame(
        g,
        columns=["model", "period", "statistic", "value", "observed", "sim_mean", "sim_lower", "sim_upper", "p_value"],
    )
    gof.to_parquet(out / "gof.parquet", index=False)
    pd.concat(gs).to_parquet(out / "gof_simulated.parquet", index=False)
    base = coef[coef.model == "network"].set_index("term")["Estimate"]
    levels = [0.1 * k for k in range(1, 10)]
    aggregate(
        base, {lv: base.to_numpy() * (1 - lv) + 0.1 * rng.standard_normal((100, len(terms))) for lv in levels}, terms
    ).to_parquet(out / "sensitivity.parquet", index=False)
    run = {
        "spec": {},
        "formula": None,
        "models": {m: " + ".join(ts) for m, ts in models.items()},
        "seeds": {"bootstrap": 12345},
        "bootstrap": {"R": R, "batch_size": 25},
        "data": {"dataset_spec": "data/dataset.toml", "dataset_hash": "x", "period_hashes": {p: "h" for p in periods}},
        "design": {"rows": 1600000, "terms": union, "periods": periods},
        "versions": {},
        "timings_s": {"bootstrap": 1, "sensitivity": 1, "gof": 1},
    }
    (out / "run.json").write_text(json.dumps(run))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="bench-report-"))
    write_demo_scale_results(out)
    from dyadflow.report import write_report_html

    write_report_html(out)  # warm-up: imports, matplotlib's font cache
    for run in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        path = write_report_html(out)
        print(
            f"run {run + 1}: write_report_html {time.perf_counter() - wall:.2f} s wall, "
            f"{time.process_time() - cpu:.2f} s CPU, report.html {path.stat().st_size / 1e6:.2f} MB"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB ({out})")


if __name__ == "__main__":
    main()
