"""Terms against ergm's own C definitions (statnet/ergm src/changestats*.c), beyond the brute-force
common checks of tests/test_term_checks.py:

- gwnsp: ergm's c_dgwnsp computes the change as dsp_gw_calc - esp_gw_calc of the same type, i.e.
  gwnsp = gwdsp - gwesp column by column, for every shared-partner type;
- asymmetric: ergm's c_asymmetric (no attribute) changes by +1 when the toggled tie's state equals the
  reverse tie's, else -1; on the "toggle on" convention of the design: +1 - 2 y_ji. Every tie is in a
  mutual or an asymmetric pair, so g(y) also satisfies edges = asymmetric + 2 mutual.
"""

from __future__ import annotations

import numpy as np
import pytest

from dyadflow.storage.panel import Panel
from dyadflow.tergm.design import build_design, summary_statistics


def _graph(seed: int, n: int, directed: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    adj = (rng.random((n, n)) < 0.35).astype(np.uint8)
    if not directed:
        adj = np.triu(adj, 1)
        adj = adj | adj.T
    np.fill_diagonal(adj, 0)
    return adj


@pytest.mark.parametrize(
    "directed,sp_type", [(False, "OTP"), (True, "OTP"), (True, "ITP"), (True, "RTP"), (True, "OSP"), (True, "ISP")]
)
def test_gwnsp_is_ergms_gwdsp_minus_gwesp(directed, sp_type):
    for seed in range(3):
        adj = _graph(seed, 9, directed)
        terms = [f"{name}(0.6, fixed=TRUE, type='{sp_type}')" for name in ("gwnsp", "gwdsp", "gwesp")]
        design = build_design("y ~ " + " + ".join(terms), Panel.from_arrays([adj], directed=directed), temporal=False)
        nsp, dsp, esp = design.X.T
        np.testing.assert_allclose(nsp, dsp - esp, rtol=1e-12, atol=1e-12)


def test_asymmetric_is_ergms_change_statistic():
    for seed in range(3):
        adj = _graph(seed, 10, True)
        design = build_design("y ~ asymmetric", Panel.from_arrays([adj], directed=True), temporal=False)
        (column,) = design.X.T
        i, j = design.dyads.T
        edgestate, reverse = adj[i, j], adj[j, i]
        ergm_toggle = np.where(edgestate == reverse, 1.0, -1.0)  # c_asymmetric: the change of toggling i->j
        toggled_on = np.where(edgestate == 1, -ergm_toggle, ergm_toggle)  # as a "toggle on" change
        np.testing.assert_array_equal(column, toggled_on)
        summary = summary_statistics("y ~ edges + asymmetric + mutual", adj, directed=True).to_numpy()[0]
        assert summary[0] == summary[1] + 2 * summary[2]


def test_asymmetric_is_directed_only():
    from dyadflow.tergm.terms import TermError

    with pytest.raises(TermError, match="asymmetric"):
        build_design("y ~ asymmetric", Panel.from_arrays([_graph(0, 5, False)], directed=False), temporal=False)
