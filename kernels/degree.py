"""Dyad, star and degree terms (codes 0-99). See kernels/dispatch.py for the contract.

Every kernel adds the "toggle on" change stat(y + ij) - stat(y - ij) for dyad (i, j), the rest of
y as in `net`, exactly as ergm 4.6 defines the term (src/changestats.c). Degrees in `net` count
(i, j) when it is a tie, so each kernel first takes the degrees *without* it ("d_minus"): the
change of adding the tie to a node of degree d_minus is the same whether or not the tie exists.

Degree of a node, as ergm's DEG(): out- plus in-degree in a directed network, the degree in an
undirected one (where `net.outdeg` already is the degree). Kernels marked "(undirected)" or
"(directed)" below are only defined there in ergm; the term registry (tergm/terms.py) must reject
the other kind of network -- the kernels do not check.

Every kernel, helper and `change_degree` is `inline="always"`: numba then compiles them into the
driver's own loop at its IR level. A plain call would go to the separately cached machine code
when the kernels come from numba's disk cache -- an opaque call that unpacks the Network into
dozens of arguments and reference-counts its arrays, measured at ~160 ns per dyad and term against
~1-30 ns inlined.

Parameter layouts (float64 `par`):
    EDGES, MUTUAL, TWOPATH, ISOLATES: []
    KSTAR, ISTAR, OSTAR: [k1, k2, ...], one column per k
    DEGREE, IDEGREE, ODEGREE: [d1, d2, ...], one column per d
    GWDEGREE, GWIDEGREE, GWODEGREE: [decay], one column (fixed = TRUE)
"""

import math

import numpy as np
from numba import njit

EDGES = 0
MUTUAL = 1
KSTAR = 2
ISTAR = 3
OSTAR = 4
TWOPATH = 5
ISOLATES = 6
DEGREE = 7
IDEGREE = 8
ODEGREE = 9
GWDEGREE = 10
GWIDEGREE = 11
GWODEGREE = 12


# ---------------------------------------------------------------------------------------------
# helpers


@njit(cache=True, inline="always")
def _degree_minus(net, v, tie):
    """ergm's DEG(v) with the tie (i, j) removed; `tie` is 1 when (i, j) is present and v is i or j."""
    if net.directed:
        return net.outdeg[v] + net.indeg[v] - tie
    return net.outdeg[v] - tie


@njit(cache=True, inline="always")
def choose(n, r):
    """Binomial coefficient C(n, r) as float64, 0 when r < 0 or n < r (ergm's CHOOSE).

    The running product is C(n - r + t, t) after step t, an integer, so every step is exact
    while the values stay below 2**53.
    """
    if r < 0 or n < r:
        return 0.0
    result = 1.0
    for t in range(1, r + 1):
        result = result * (n - r + t) / t
    return result


@njit(cache=True, inline="always")
def _gw_weight(d, one_minus_r):
    """Change of the geometrically weighted degree count when one node goes from degree d to d + 1:
    (1 - exp(-decay))**d. Computed as ergm 4.6 does, pow(1 - exp(-decay), d), which reproduces its
    numbers bit for bit (later ergm versions use exp(d * log1mexp(decay)), 1-3 ulps apart); decay 0
    gives pow(0, d) = [d == 0]."""
    return math.pow(one_minus_r, float(d))  # a float exponent: libm pow, as in C (not numba's integer power)


# ---------------------------------------------------------------------------------------------
# kernels


@njit(cache=True, inline="always")
def edges(net, i, j, par, out, col):
    out[col] += 1.0


@njit(cache=True, inline="always")
def mutual(net, i, j, par, out, col):
    """(directed) Mutual pairs: i->j completes one iff j->i is present."""
    out[col] += net.adj[j, i]


@njit(cache=True, inline="always")
def kstar(net, i, j, par, out, col):
    """(undirected) sum_v C(deg v, k): the new edge completes C(d_minus, k - 1) k-stars at each end."""
    tie = net.adj[i, j]
    di = _degree_minus(net, i, tie)
    dj = _degree_minus(net, j, tie)
    for c in range(par.shape[0]):
        km1 = int(par[c]) - 1
        out[col + c] += choose(di, km1) + choose(dj, km1)


@njit(cache=True, inline="always")
def istar(net, i, j, par, out, col):
    """(directed) sum_v C(indeg v, k): only the head's in-star count changes."""
    dj = net.indeg[j] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += choose(dj, int(par[c]) - 1)


@njit(cache=True, inline="always")
def ostar(net, i, j, par, out, col):
    """(directed) sum_v C(outdeg v, k): only the tail's out-star count changes."""
    di = net.outdeg[i] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += choose(di, int(par[c]) - 1)


@njit(cache=True, inline="always")
def twopath(net, i, j, par, out, col):
    """Two-paths. Directed (ergm's m2star): paths a->b->c with a != c; i->j is the second leg of
    k->i->j for every k->i except k = j, and the first leg of i->j->l for every j->l except l = i.
    Undirected: kstar(2)."""
    if net.directed:
        back = net.adj[j, i]
        # indeg[i] and outdeg[j] never count the tie i->j itself.
        out[col] += net.indeg[i] + net.outdeg[j] - 2 * back
    else:
        tie = net.adj[i, j]
        out[col] += _degree_minus(net, i, tie) + _degree_minus(net, j, tie)


@njit(cache=True, inline="always")
def isolates(net, i, j, par, out, col):
    """Nodes of degree 0: adding the tie removes i and j from the count when they had no other tie."""
    tie = net.adj[i, j]
    if _degree_minus(net, i, tie) == 0:
        out[col] -= 1.0
    if _degree_minus(net, j, tie) == 0:
        out[col] -= 1.0


@njit(cache=True, inline="always")
def _degree_count_change(d_minus, d):
    # One node moves from degree d_minus to d_minus + 1.
    return (1.0 if d_minus + 1 == d else 0.0) - (1.0 if d_minus == d else 0.0)


@njit(cache=True, inline="always")
def degree(net, i, j, par, out, col):
    """(undirected) Nodes of degree exactly d, one column per d."""
    tie = net.adj[i, j]
    di = _degree_minus(net, i, tie)
    dj = _degree_minus(net, j, tie)
    for c in range(par.shape[0]):
        d = int(par[c])
        out[col + c] += _degree_count_change(di, d) + _degree_count_change(dj, d)


@njit(cache=True, inline="always")
def idegree(net, i, j, par, out, col):
    """(directed) Nodes of in-degree exactly d."""
    dj = net.indeg[j] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += _degree_count_change(dj, int(par[c]))


@njit(cache=True, inline="always")
def odegree(net, i, j, par, out, col):
    """(directed) Nodes of out-degree exactly d."""
    di = net.outdeg[i] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += _degree_count_change(di, int(par[c]))


@njit(cache=True, inline="always")
def gwdegree(net, i, j, par, out, col):
    """(undirected) gwdegree(decay, fixed=TRUE) = e^decay sum_v [1 - (1 - e^-decay)^deg v]."""
    one_minus_r = 1.0 - math.exp(-par[0])
    tie = net.adj[i, j]
    di = _degree_minus(net, i, tie)
    dj = _degree_minus(net, j, tie)
    out[col] += _gw_weight(di, one_minus_r) + _gw_weight(dj, one_minus_r)


@njit(cache=True, inline="always")
def gwidegree(net, i, j, par, out, col):
    """(directed) gwidegree(decay, fixed=TRUE): gwdegree over in-degrees; only the head changes."""
    out[col] += _gw_weight(net.indeg[j] - net.adj[i, j], 1.0 - math.exp(-par[0]))


@njit(cache=True, inline="always")
def gwodegree(net, i, j, par, out, col):
    """(directed) gwodegree(decay, fixed=TRUE): gwdegree over out-degrees; only the tail changes."""
    out[col] += _gw_weight(net.outdeg[i] - net.adj[i, j], 1.0 - math.exp(-par[0]))


@njit(cache=True, inline="always")
def change_degree(code, net, i, j, par, out, col):
    if code == EDGES:
        edges(net, i, j, par, out, col)
    elif code == MUTUAL:
        mutual(net, i, j, par, out, col)
    elif code == KSTAR:
        kstar(net, i, j, par, out, col)
    elif code == ISTAR:
        istar(net, i, j, par, out, col)
    elif code == OSTAR:
        ostar(net, i, j, par, out, col)
    elif code == TWOPATH:
        twopath(net, i, j, par, out, col)
    elif code == ISOLATES:
        isolates(net, i, j, par, out, col)
    elif code == DEGREE:
        degree(net, i, j, par, out, col)
    elif code == IDEGREE:
        idegree(net, i, j, par, out, col)
    elif code == ODEGREE:
        odegree(net, i, j, par, out, col)
    elif code == GWDEGREE:
        gwdegree(net, i, j, par, out, col)
    elif code == GWIDEGREE:
        gwidegree(net, i, j, par, out, col)
    elif code == GWODEGREE:
        gwodegree(net, i, j, par, out, col)
    else:
        raise ValueError("unknown degree-family change-statistic code")


# ---------------------------------------------------------------------------------------------
# Every dyad of one tail at once (the MPLE design's path, kernels.dispatch._tail_rows): edges and the
# gw-degree terms, whose per-dyad cost is otherwise a libm pow or two. Each weight pow(1 - e^-decay, d)
# is computed once per degree value and reused -- the same numbers as the per-dyad kernels, bit for bit.


@njit(cache=True)
def remembered_pow(table, base, k):
    """pow(base, k) with a float exponent, as _gw_weight and kernels.triadic._path compute it, each
    power computed once and kept in `table` (entries start at -1; base is in [0, 1])."""
    if table[k] < 0.0:
        table[k] = math.pow(base, float(k))
    return table[k]


@njit(cache=True)
def degree_tail_rows(code, net, i, par, rows, col):
    """Rows of every dyad with tail i (heads j != i when directed, j > i undirected, ascending), for
    the codes with a per-tail pass; returns False (nothing written) for the others."""
    if code != EDGES and code != GWDEGREE and code != GWIDEGREE and code != GWODEGREE:
        return False
    n = net.adj.shape[0]
    first = 0 if net.directed else i + 1
    if code == EDGES:
        for r in range(rows.shape[0]):
            rows[r, col] += 1.0
        return True
    one_minus_r = 1.0 - math.exp(-par[0])
    table = np.full(2 * n + 1, -1.0)  # degrees (directed DEG: in + out) stay below 2n
    r = 0
    for j in range(first, n):
        if j == i:
            continue
        tie = net.adj[i, j]
        if code == GWDEGREE:
            rows[r, col] += remembered_pow(table, one_minus_r, _degree_minus(net, i, tie)) + remembered_pow(
                table, one_minus_r, _degree_minus(net, j, tie))
        elif code == GWIDEGREE:
            rows[r, col] += remembered_pow(table, one_minus_r, net.indeg[j] - tie)
        else:
            rows[r, col] += remembered_pow(table, one_minus_r, net.outdeg[i] - tie)
        r += 1
    return True
