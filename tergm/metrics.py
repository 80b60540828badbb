"""Classification metrics of predicted tie probabilities: ROC and precision-recall curves and their areas.

One entry point, `evaluate_predictions(observed, scores)`, takes ANY scores (MPLE tie probabilities,
the mean tie indicator over simulated networks, a constant for the random-graph baseline), so every
kind of prediction is measured by the same code.

Operating points are the distinct score values, from the highest down (a threshold counts every dyad
with score >= it as predicted tie); tied scores move together, as in scikit-learn and ROCR.

- ROC-AUC: the trapezoid over the ROC operating points, which equals the Mann-Whitney statistic
  with ties counted 1/2 (scikit-learn's `roc_auc_score`).
- PR-AUC (Davis & Goadrich 2006): precision is NOT linear in recall between two operating points; the
  achievable curve between (TP_a, FP_a) and (TP_b, FP_b) passes through TP_a + x, FP_a + x (FP_b - FP_a)
  / (TP_b - TP_a) for every whole x. The area is the trapezoid over those interpolated points. It is a
  mean of precisions, so it never exceeds 1 (btergm's own PR-AUC misaligns the points and can).
- average precision: sum over operating points of (R_k - R_{k-1}) P_k (scikit-learn's step sum).
- trapezoid: the plain trapezoid over the operating points (linear interpolation of precision, which
  over-states the area where precision falls steeply); reported under that name, for comparison.
The PR curve starts at recall 0 with the precision of the first operating point (the limit of the
interpolation from the origin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class MetricsError(ValueError):
    """Observed ties and scores that cannot be evaluated; the message names the problem."""


@dataclass(frozen=True)
class PredictionMetrics:
    roc: pd.DataFrame  # x = false positive rate, y = true positive rate, threshold; (0,0) .. (1,1)
    pr: pd.DataFrame  # x = recall, y = precision (Davis-Goadrich interpolated points), threshold
    roc_auc: float
    pr_auc: float  # Davis-Goadrich
    average_precision: float
    pr_auc_trapezoid: float
    n_positive: int
    n_negative: int

    def areas(self) -> dict[str, float | int]:
        return {
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "average_precision": self.average_precision,
            "pr_auc_trapezoid": self.pr_auc_trapezoid,
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
        }


def operating_points(observed, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(thresholds descending, cumulative true positives, cumulative false positives, P, N)."""
    y, s = _validate(observed, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = np.cumsum(y)[last_of_value].astype(np.int64)
    fp = (last_of_value + 1 - tp).astype(np.int64)
    P = int(y.sum())
    return s[last_of_value], tp, fp, P, len(y) - P


def roc_auc(observed, scores) -> float:
    _, tp, fp, P, N = operating_points(observed, scores)
    return _trapezoid(np.r_[0.0, fp / N], np.r_[0.0, tp / P])


def davis_goadrich_points(tp, fp, n_positive: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interpolated PR curve through operating points (tp, fp) (cumulative counts, in threshold
    order, TP non-decreasing): (recall, precision, index of the operating point each point leads to).

    Between consecutive points with TP_b > TP_a, one point per extra true positive; a point that only
    adds false positives is kept as it is. The first point is recall 0."""
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    if n_positive <= 0:
        raise MetricsError("the PR curve needs at least one observed tie")
    if len(tp) == 0 or np.any(np.diff(tp) < 0) or np.any(np.diff(fp) < 0):
        raise MetricsError("operating points must have non-decreasing true and false positive counts")
    start_tp, start_fp = np.r_[0.0, tp[:-1]], np.r_[0.0, fp[:-1]]
    steps = tp - start_tp
    recall, precision, leads_to = [], [], []
    for k in range(len(tp)):
        a, fa, gain = start_tp[k], start_fp[k], steps[k]
        if gain > 0:
            x = np.arange(1, int(round(gain)) + 1, dtype=np.float64)
            t = a + x
            f = fa + x * (fp[k] - fa) / gain
        else:
            t, f = np.array([tp[k]]), np.array([fp[k]])
        with np.errstate(invalid="ignore", divide="ignore"):
            precision_k = np.where(t + f > 0, t / (t + f), np.nan)
        recall.append(t / n_positive)
        precision.append(precision_k)
        leads_to.append(np.full(len(t), k))
    recalls, precisions, leads = np.concatenate(recall), np.concatenate(precision), np.concatenate(leads_to)
    first = np.flatnonzero(np.isfinite(precisions))
    anchor = precisions[first[0]] if len(first) else 1.0
    precisions = np.where(np.isfinite(precisions), precisions, anchor)  # zero TP and FP: the anchor's precision
    return np.r_[0.0, recalls], np.r_[anchor, precisions], np.r_[0, leads]


def pr_auc_from_points(recall, precision, n_positive: int) -> dict[str, float]:
    """PR-AUCs from a PR curve given as operating points (e.g. R's ROCR output): the counts are
    recovered as TP = recall * P and FP = TP / precision - TP, then measured as `evaluate_predictions`
    does. Points at recall 0 only anchor the curve."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    tp = np.round(recall * n_positive)
    keep = tp > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        fp = np.round(tp[keep] / precision[keep] - tp[keep])
    tp = tp[keep]
    r, p, _ = davis_goadrich_points(tp, fp, n_positive)
    operating_recall, operating_precision = tp / n_positive, tp / (tp + fp)
    step = np.diff(np.r_[0.0, operating_recall])
    return {
        "pr_auc": _trapezoid(r, p),
        "average_precision": float(np.sum(step * operating_precision)),
        "pr_auc_trapezoid": _trapezoid(recall, precision),
    }


def evaluate_predictions(observed, scores) -> PredictionMetrics:
    """ROC and PR curves and areas of `scores` (any real numbers, higher = more likely a tie) against
    `observed` (0/1). Both classes must occur."""
    thresholds, tp, fp, P, N = operating_points(observed, scores)
    fpr, tpr = np.r_[0.0, fp / N], np.r_[0.0, tp / P]
    roc = pd.DataFrame({"x": fpr, "y": tpr, "threshold": np.r_[np.inf, thresholds]})
    recall, precision, leads_to = davis_goadrich_points(tp, fp, P)
    pr = pd.DataFrame({"x": recall, "y": precision, "threshold": thresholds[leads_to]})
    pr.loc[0, "threshold"] = np.inf
    operating_recall, operating_precision = tp / P, tp / (tp + fp)
    step = np.diff(np.r_[0.0, operating_recall])
    return PredictionMetrics(
        roc=roc,
        pr=pr,
        roc_auc=_trapezoid(fpr, tpr),
        pr_auc=_trapezoid(recall, precision),
        average_precision=float(np.sum(step * operating_precision)),
        pr_auc_trapezoid=_trapezoid(np.r_[0.0, operating_recall], np.r_[precision[0], operating_precision]),
        n_positive=P,
        n_negative=N,
    )


def random_baseline(observed) -> PredictionMetrics:
    """The random-graph baseline at the observed density: every dyad scored alike (the expectation of
    a Bernoulli graph's predictions): ROC-AUC 1/2, PR-AUC = the density."""
    y, _ = _validate(observed, np.zeros(len(np.asarray(observed))))
    return evaluate_predictions(y, np.full(len(y), y.mean()))


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def _validate(observed, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(observed)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape:
        raise MetricsError(f"observed and scores must be 1-d of the same length, got {y.shape} and {s.shape}")
    if len(y) and not np.isin(y, (0, 1)).all():
        raise MetricsError("observed must hold 0/1 ties only")
    if not np.isfinite(s).all():
        raise MetricsError(f"{int((~np.isfinite(s)).sum())} scores are not finite")
    y = y.astype(np.int64)
    P = int(y.sum())
    if P == 0 or len(y) == P:
        raise MetricsError(f"ROC and PR curves need both observed ties and non-ties; got {P} ties among {len(y)} dyads")
    return y, s
