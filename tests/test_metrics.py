"""ROC / PR metrics (tergm.metrics) against independent computations: Mann-Whitney and scikit-learn for
ROC-AUC, a brute-force Davis-Goadrich construction for PR-AUC, and R's Knecht operating points."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import reference_path
from scipy.stats import mannwhitneyu
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from dyadflow.tergm.metrics import (
    MetricsError,
    davis_goadrich_points,
    evaluate_predictions,
    pr_auc_from_points,
    random_baseline,
)


def _cases():
    rng = np.random.default_rng(7)
    cases = []
    for n, levels in [(12, 3), (30, 5), (40, 40), (200, 8), (9, 1000)]:
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = rng.integers(0, levels, n) / levels  # few levels: many tied scores
        cases.append((y, s))
    return cases


@pytest.mark.parametrize("y, s", _cases())
def test_roc_auc_is_mann_whitney_and_scikit_learn(y, s):
    m = evaluate_predictions(y, s)
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic  # ties count 1/2
    np.testing.assert_allclose(m.roc_auc, u / (m.n_positive * m.n_negative), rtol=1e-12)
    np.testing.assert_allclose(m.roc_auc, roc_auc_score(y, s), rtol=1e-12)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(m.roc[["x", "y"]].to_numpy(), np.column_stack([fpr, tpr]), atol=1e-15)
    np.testing.assert_allclose(m.average_precision, average_precision_score(y, s), rtol=1e-12)


def _brute_force_dg(y, s):
    """Davis-Goadrich by hand: at each distinct threshold count TP/FP by comparison, then between
    neighbours walk one true positive at a time, FP rising by the local skew; trapezoid in recall."""
    P = int(y.sum())
    points = [(0, 0)]
    for t in sorted(set(s.tolist()), reverse=True):
        points.append((int(((s >= t) & (y == 1)).sum()), int(((s >= t) & (y == 0)).sum())))
    curve = []
    for (ta, fa), (tb, fb) in zip(points, points[1:]):
        if tb == ta:
            curve.append((tb / P, tb / (tb + fb) if tb + fb else None))
            continue
        for x in range(1, tb - ta + 1):
            fp = fa + x * (fb - fa) / (tb - ta)
            curve.append(((ta + x) / P, (ta + x) / (ta + x + fp)))
    first = next(p for _, p in curve if p is not None)
    curve = [(0.0, first)] + [(r, first if p is None else p) for r, p in curve]
    return sum((r2 - r1) * (p1 + p2) / 2 for (r1, p1), (r2, p2) in zip(curve, curve[1:]))


@pytest.mark.parametrize("y, s", _cases())
def test_pr_auc_is_brute_force_davis_goadrich(y, s):
    m = evaluate_predictions(y, s)
    np.testing.assert_allclose(m.pr_auc, _brute_force_dg(y, s), rtol=1e-12)
    assert 0 <= m.pr_auc <= 1 and (m.pr.y <= 1).all() and (np.diff(m.pr.x) >= 0).all()


def test_pr_auc_never_exceeds_one_on_all_small_rankings():
    # every labelling of 6 dyads with 3 score levels: areas stay within [0, 1]
    for labels in itertools.product((0, 1), repeat=6):
        y = np.array(labels)
        if 0 < y.sum() < 6:
            for s in ([0.1, 0.1, 0.5, 0.5, 0.9, 0.9], [0.9, 0.5, 0.1, 0.1, 0.5, 0.9]):
                m = evaluate_predictions(y, np.array(s))
                assert 0 <= m.pr_auc <= 1 + 1e-15 and 0 <= m.pr_auc_trapezoid <= 1 + 1e-15
                np.testing.assert_allclose(m.pr_auc, _brute_force_dg(y, np.array(s)), rtol=1e-12)


def test_perfect_and_constant_scores():
    y = np.array([0, 0, 1, 1, 0, 1])
    perfect = evaluate_predictions(y, y * 1.0)
    assert perfect.roc_auc == 1 and perfect.pr_auc == 1 and perfect.average_precision == 1
    base = random_baseline(y)
    assert base.roc_auc == 0.5
    np.testing.assert_allclose([base.pr_auc, base.average_precision, base.pr_auc_trapezoid], 0.5)


def test_knecht_operating_points_give_the_corrected_pr_auc():
    """R's own PR curve for wave 4 (119 observed ties): the corrected Davis-Goadrich area and the
    trapezoid from knecht_rocpr_recheck.json, never btergm's 0.729201."""
    curve = pd.read_csv(reference_path("results/knecht_model2e_gof_pr_curve.csv"))
    recheck = json.loads(reference_path("results/knecht_rocpr_recheck.json").read_text())["knecht_model2e"]
    areas = pr_auc_from_points(curve["recall"], curve["precision"], recheck["n_pos"])
    np.testing.assert_allclose(areas["pr_auc"], recheck["pr_auc_dg_corrected"], rtol=1e-12)
    np.testing.assert_allclose(areas["pr_auc_trapezoid"], recheck["pr_auc_trapezoid"], rtol=1e-12)
    assert round(areas["pr_auc"], 6) == 0.728470 and round(areas["pr_auc_trapezoid"], 6) == 0.728600
    assert abs(areas["pr_auc"] - recheck["btergm_auc_pr"]) > 5e-4
    assert recheck["btergm_auc_pr"] == pytest.approx(0.729201, abs=1e-6)


def test_davis_goadrich_points_interpolate_whole_true_positives():
    r, p, _ = davis_goadrich_points([2, 4], [0, 4], 4)
    # from (2 TP, 0 FP) to (4, 4): TP 3 with FP 2, then TP 4 with FP 4
    np.testing.assert_allclose(r, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(p, [1, 1, 1, 3 / 5, 4 / 8])


@pytest.mark.parametrize(
    "y, s, match",
    [
        ([0, 0, 0], [0.1, 0.2, 0.3], "both observed ties and non-ties"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "0/1"),
        ([0, 1], [0.1, np.nan], "not finite"),
        ([0, 1], [0.1], "same length"),
    ],
)
def test_bad_input_is_named(y, s, match):
    with pytest.raises(MetricsError, match=match):
        evaluate_predictions(np.array(y), np.array(s))
