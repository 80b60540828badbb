"""Dyad, star and degree terms. See kernels/dispatch.py for the contract, kernels/registry.py for @kernel.

Every kernel adds the "toggle on" change stat(y + ij) - stat(y - ij) for dyad (i, j), the rest of
y as in `net`, exactly as ergm 4.6 defines the term (src/changestats.c). Degrees in `net` count
(i, j) when it is a tie, so each kernel first takes the degrees *without* it ("d_minus"): the
change of adding the tie to a node of degree d_minus is the same whether or not the tie exists.

Degree of a node, as ergm's DEG(): out- plus in-degree in a directed network, the degree in an
undirected one (where `net.outdeg` already is the degree). Kernels marked "(undirected)" or
"(directed)" below are only defined there in ergm; the term registry (tergm/terms.py) must reject
the other kind of network -- the kernels do not check.

Every kernel and helper is `inline="always"`: numba then compiles them into the
driver's own loop at its IR level. A plain call would go to the separately cached machine code
when the kernels come from numba's disk cache -- an opaque call that unpacks the Network into
dozens of arguments and reference-counts its arrays, measured at ~160 ns per dyad and term against
~1-30 ns inlined.

Parameter layouts (float64 `par`):
    edges, mutual, asymmetric, twopath, isolates: []
    kstar, istar, ostar: [k1, k2, ...], one column per k
    degree, idegree, odegree: [d1, d2, ...], one column per d
    gwdegree, gwidegree, gwodegree: [decay], one column (fixed = TRUE)
"""

import math

import numpy as np
from numba import njit

from dyadflow.kernels.registry import kernel

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


def _nodes_if_zero(n, directed, par, columns):
    """g(empty) of counts over nodes (k-stars, degree d): every node has degree 0, C(0, k) = [k == 0]."""
    return np.array([float(n) if int(v) == 0 else 0.0 for v in par])


def _all_nodes(n, directed, par, columns):
    return np.array([float(n)])


# ---------------------------------------------------------------------------------------------
# Every dyad of one tail at once (the MPLE design's path, the registry's `tail=`): edges and the
# gw-degree terms, whose per-dyad cost is otherwise a libm pow or two. Each weight pow(1 - e^-decay, d)
# is computed once per degree value and run of tails (kept in the pass's memo, kernels/registry.py) and
# reused -- the same numbers as the per-dyad kernels, bit for bit.


@njit(cache=True)
def remembered_pow(table, base, k):
    """pow(base, k) with a float exponent, as _gw_weight and kernels.triadic._path compute it, each
    power computed once and kept in `table` (entries start at -1; base is in [0, 1])."""
    if table[k] < 0.0:
        table[k] = math.pow(base, float(k))
    return table[k]


@njit(cache=True)
def edges_tail(net, i, par, rows, col, memo):
    for r in range(rows.shape[0]):
        rows[r, col] += 1.0
    return True


_GW_TOTAL = 0
_GW_IN = 1
_GW_OUT = 2


@njit(cache=True, inline="always")
def _gw_degree(kind, net, v):
    """The degree a gw-degree term of this kind weighs: DEG(v) (in + out when directed), in or out."""
    if kind == _GW_TOTAL:
        return _degree_minus(net, v, 0)
    return net.indeg[v] if kind == _GW_IN else net.outdeg[v]


@njit(cache=True, inline="always")
def _gw_degree_rows(kind, ties, i, lo, hi, weight, less, rows, r, col):
    """Rows r.. of the heads lo..hi-1 of tail i: a weight at the degree, or at the degree less one
    where the tie is present -- pow(1 - e^-decay, DEG - tie) of the tail's and the head's, added."""
    tail_less, tail_weight = less[i], weight[i]  # held in registers: the stores below may not touch them
    for j in range(lo, hi):
        tie = ties[j]
        if kind == _GW_TOTAL:
            rows[r, col] += (tail_less + less[j]) if tie else (tail_weight + weight[j])
        elif kind == _GW_IN:
            rows[r, col] += less[j] if tie else weight[j]
        else:
            rows[r, col] += tail_less if tie else tail_weight
        r += 1


@njit(cache=True)
def _gw_degree_tail(kind, net, i, par, rows, col, memo):
    """gwdegree (kind _GW_TOTAL), gwidegree (_GW_IN) or gwodegree (_GW_OUT) for every head of tail i.
    At a run's first tail the memo gets the weights by degree (degrees, directed DEG in + out, stay
    below 2n) and from them each node's weight at its degree and at its degree less one, which every
    tail then reads without a pow or a test."""
    n = net.adj.shape[0]
    table = memo[: 2 * n + 2]
    weight = memo[2 * n + 2 : 3 * n + 2]
    less = memo[3 * n + 2 : 4 * n + 2]
    if table[0] < 0.0:
        one_minus_r = 1.0 - math.exp(-par[0])
        top = 0
        for v in range(n):
            top = max(top, _gw_degree(kind, net, v))
        for d in range(top + 1):
            table[d] = _gw_weight(d, one_minus_r)
        for v in range(n):
            d = _gw_degree(kind, net, v)
            weight[v] = table[d]
            less[v] = table[max(d - 1, 0)]  # read only where v has a tie, so a degree of at least 1
    ties = net.adj[i]
    if net.directed:  # heads j != i
        _gw_degree_rows(kind, ties, i, 0, i, weight, less, rows, 0, col)
        _gw_degree_rows(kind, ties, i, i + 1, n, weight, less, rows, i, col)
    else:  # heads j > i
        _gw_degree_rows(kind, ties, i, i + 1, n, weight, less, rows, 0, col)
    return True


@njit(cache=True)
def gwdegree_tail(net, i, par, rows, col, memo):
    return _gw_degree_tail(_GW_TOTAL, net, i, par, rows, col, memo)


@njit(cache=True)
def gwidegree_tail(net, i, par, rows, col, memo):
    return _gw_degree_tail(_GW_IN, net, i, par, rows, col, memo)


@njit(cache=True)
def gwodegree_tail(net, i, par, rows, col, memo):
    return _gw_degree_tail(_GW_OUT, net, i, par, rows, col, memo)


# ---------------------------------------------------------------------------------------------
# kernels


@kernel("edges", tail=edges_tail, reach="none")
@njit(cache=True, inline="always")
def edges(net, i, j, par, out, col):
    out[col] += 1.0


@kernel("mutual", reach="endpoints")
@njit(cache=True, inline="always")
def mutual(net, i, j, par, out, col):
    """(directed) Mutual pairs: i->j completes one iff j->i is present."""
    out[col] += net.adj[j, i]


@kernel("asymmetric", reach="endpoints")
@njit(cache=True, inline="always")
def asymmetric(net, i, j, par, out, col):
    """(directed) Asymmetric pairs, tied one way only (ergm's c_asymmetric without attr): i->j makes
    the pair asymmetric when j->i is absent and ends its asymmetry when j->i is present."""
    out[col] += 1.0 - 2.0 * net.adj[j, i]


@kernel("kstar", empty=_nodes_if_zero, reach="endpoints")
@njit(cache=True, inline="always")
def kstar(net, i, j, par, out, col):
    """(undirected) sum_v C(deg v, k): the new edge completes C(d_minus, k - 1) k-stars at each end."""
    tie = net.adj[i, j]
    di = _degree_minus(net, i, tie)
    dj = _degree_minus(net, j, tie)
    for c in range(par.shape[0]):
        km1 = int(par[c]) - 1
        out[col + c] += choose(di, km1) + choose(dj, km1)


@kernel("istar", empty=_nodes_if_zero, reach="endpoints")
@njit(cache=True, inline="always")
def istar(net, i, j, par, out, col):
    """(directed) sum_v C(indeg v, k): only the head's in-star count changes."""
    dj = net.indeg[j] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += choose(dj, int(par[c]) - 1)


@kernel("ostar", empty=_nodes_if_zero, reach="endpoints")
@njit(cache=True, inline="always")
def ostar(net, i, j, par, out, col):
    """(directed) sum_v C(outdeg v, k): only the tail's out-star count changes."""
    di = net.outdeg[i] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += choose(di, int(par[c]) - 1)


@kernel("twopath", reach="endpoints")
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


@kernel("isolates", empty=_all_nodes, reach="endpoints")
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


@kernel("degree", empty=_nodes_if_zero, reach="endpoints")
@njit(cache=True, inline="always")
def degree(net, i, j, par, out, col):
    """(undirected) Nodes of degree exactly d, one column per d."""
    tie = net.adj[i, j]
    di = _degree_minus(net, i, tie)
    dj = _degree_minus(net, j, tie)
    for c in range(par.shape[0]):
        d = int(par[c])
        out[col + c] += _degree_count_change(di, d) + _degree_count_change(dj, d)


@kernel("idegree", empty=_nodes_if_zero, reach="endpoints")
@njit(cache=True, inline="always")
def idegree(net, i, j, par, out, col):
    """(directed) Nodes of in-degree exactly d."""
    dj = net.indeg[j] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += _degree_count_change(dj, int(par[c]))


@kernel("odegree", empty=_nodes_if_zero, reach="endpoints")
@njit(cache=True, inline="always")
def odegree(net, i, j, par, out, col):
    """(directed) Nodes of out-degree exactly d."""
    di = net.outdeg[i] - net.adj[i, j]
    for c in range(par.shape[0]):
        out[col + c] += _degree_count_change(di, int(par[c]))


@kernel("gwdegree", tail=gwdegree_tail, reach="endpoints")
@njit(cache=True, inline="always")
def gwdegree(net, i, j, par, out, col):
    """(undirected) gwdegree(decay, fixed=TRUE) = e^decay sum_v [1 - (1 - e^-decay)^deg v]."""
    one_minus_r = 1.0 - math.exp(-par[0])
    tie = net.adj[i, j]
    di = _degree_minus(net, i, tie)
    dj = _degree_minus(net, j, tie)
    out[col] += _gw_weight(di, one_minus_r) + _gw_weight(dj, one_minus_r)


@kernel("gwidegree", tail=gwidegree_tail, reach="endpoints")
@njit(cache=True, inline="always")
def gwidegree(net, i, j, par, out, col):
    """(directed) gwidegree(decay, fixed=TRUE): gwdegree over in-degrees; only the head changes."""
    out[col] += _gw_weight(net.indeg[j] - net.adj[i, j], 1.0 - math.exp(-par[0]))


@kernel("gwodegree", tail=gwodegree_tail, reach="endpoints")
@njit(cache=True, inline="always")
def gwodegree(net, i, j, par, out, col):
    """(directed) gwodegree(decay, fixed=TRUE): gwdegree over out-degrees; only the tail changes."""
    out[col] += _gw_weight(net.outdeg[i] - net.adj[i, j], 1.0 - math.exp(-par[0]))
