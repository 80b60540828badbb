"""Triangle and shared-partner terms. See kernels/dispatch.py for the contract, kernels/registry.py for @kernel.

Every kernel adds stat(y + ij) - stat(y - ij) for one dyad, with the rest of y as in `net`, whether
or not (i, j) is currently a tie. Definitions follow ergm 4.6 (src/changestats.c,
src/changestats_dgw_sp.c, R/InitErgmTerm.dgw_sp.R):

* Shared partners of the ordered pair (i, j), by type: OTP k with i->k->j; ITP k with j->k->i;
  RTP k with i<->k<->j; OSP k with i->k, j->k; ISP k with k->i, k->j. Undirected networks always
  use plain shared partners (ergm's UTP) and ignore the type.
* esp(d) counts edges with exactly d shared partners, dsp(d) dyads (ordered pairs when directed),
  nsp(d) = dsp(d) - esp(d).
* gwesp(decay, fixed=TRUE) = e^decay * sum over edges of 1 - (1 - e^-decay)^SP (no cutoff when the
  decay is fixed); gwdsp likewise over dyads; gwnsp = gwdsp - gwesp.
* triangle: undirected triangles; on a directed network ttriple + ctriple.
  transitiveties / cyclicalties: edges with at least one OTP / ITP shared partner.

Shared-partner counts come from the precomputed path-count matrices in `Network` (paths = OTP,
out_shared = OSP, in_shared = ISP; undirected: paths), which already include the focal tie when it
is present -- exactly ergm's shared-partner cache, so the arithmetic below is ergm's. RTP counts are
not precomputed and are counted on the fly (they only matter where h->t exists). Each dyad costs
O(n): one pass over the nodes per affected-edge family, stopped early once the known number of
affected edges (a path count or a degree) has been seen; the edgewise kernels walk the neighbour lists
of `Network` instead (O(degree) per dyad, in the same ascending order). Partners are visited in ergm's order
(ascending node id; for undirected neighbour lists first the higher ids, then the lower ones) so
that gw sums are added in the same order as in R.

The per-dyad kernels are what an MCMC sampler calls. The MPLE design takes every dyad of a tail at
once (`gwesp_tail`, `esp_tail`): gwesp and esp then run one pass over the neighbour lists per tail
(`_esp_tail`), which visits the same partners in the same order and so gives the same numbers bit
for bit (tests/test_kernels_triadic.py checks this against the per-dyad kernels). Both read the
affected edges of each shared-partner type from one description, `_esp_layout`; undirected gwesp,
the study's term, has its own pass over the same pairs in the same order (`_gwesp_tail_undirected`).
"""

import math

import numpy as np
from numba import njit

from dyadflow.kernels.degree import remembered_pow
from dyadflow.kernels.registry import kernel

# Shared-partner type codes used in the parameter vectors (gw*: par[1]; esp/dsp/nsp: par[0]).
SP_OTP = 0
SP_ITP = 1
SP_RTP = 2
SP_OSP = 3
SP_ISP = 4
SP_TYPES = {"OTP": SP_OTP, "ITP": SP_ITP, "RTP": SP_RTP, "OSP": SP_OSP, "ISP": SP_ISP}
_SP_UNDIRECTED = -1  # ergm's UTP; chosen automatically for undirected networks

# How the shared-partner enumerators report each affected edge/dyad.
_MODE_GW = 0  # return the geometrically weighted sum
_MODE_COUNT = 1  # add +-1 into the columns of the requested counts d (esp/dsp/nsp)


def sp_type_code(type_name: str) -> int:
    """Code of an ergm shared-partner type name ("OTP", "ITP", "RTP", "OSP", "ISP"; any case)."""
    try:
        return SP_TYPES[str(type_name).upper()]
    except KeyError:
        raise ValueError(f"unknown shared-partner type {type_name!r}; valid types are {', '.join(SP_TYPES)}") from None


@njit(cache=True)
def _sp_type(net, code):
    if not net.directed:
        return _SP_UNDIRECTED
    return int(code)


@njit(cache=True)
def _path(mode, count, mult, edgestate, r, ds, out, col, sign):
    """One affected edge or dyad other than (t, h): `count` = its shared partners now (including
    the one the focal tie provides when present); adding (t, h) moves it up by one. Returns the gw
    contribution (ergm: pow(1 - e^-a, count - edgestate), doubled for symmetric dsp types)."""
    without = count - edgestate  # its count with the focal tie absent
    if mode == _MODE_GW:
        return mult * math.pow(r, float(without))
    for j in range(ds.shape[0]):
        d = int(ds[j])
        out[col + j] += sign * mult * (int(without + 1 == d) - int(without == d))
    return 0.0


@njit(cache=True)
def _focus(mode, count, alpha, r, ds, out, col, sign):
    """The focal edge (t, h) itself, with `count` shared partners, appears."""
    if mode == _MODE_GW:
        if count == 0:  # e^a * (1 - r^0) is exactly 0 (and so is the large-decay limit): skip exp/pow
            return 0.0
        if alpha < 100.0:  # ergm's large-decay limit switch
            return math.exp(alpha) * (1.0 - math.pow(r, float(count)))
        return float(count)
    for j in range(ds.shape[0]):
        out[col + j] += sign * int(count == int(ds[j]))
    return 0.0


@njit(cache=True)
def _rtp_count(adj, a, b):
    """Reciprocated two-paths a<->k<->b."""
    count = 0
    for k in range(adj.shape[0]):
        count += adj[a, k] & adj[k, a] & adj[k, b] & adj[b, k]
    return count


@njit(cache=True)
def _esp_terms(net, t, h, sptype, mode, alpha, r, ds, out, col, sign):
    """Edgewise shared partners: visit every edge whose SP count adding (t, h) changes, then (t, h)
    itself. Returns the gw change (mode _MODE_GW) or adds `sign` times the count changes into
    out[col:] (mode _MODE_COUNT; sign -1 lets nsp = dsp - esp share the code). The affected edges
    of each type are described once, by _esp_layout, for this kernel and the per-tail pass."""
    if sptype == SP_RTP:
        return _esp_rtp(net, t, h, mode, alpha, r, ds, out, col, sign)
    adj = net.adj
    e = int(adj[t, h])
    acc = 0.0
    focus, transpose, parts = _esp_layout(net, sptype)
    for part in parts:
        acc = _esp_dyad_part(adj, t, h, e, *part, mode, r, ds, out, col, sign, acc)
    count = focus[h, t] if transpose else focus[t, h]
    return acc + _focus(mode, count, alpha, r, ds, out, col, sign)


@njit(cache=True)
def _esp_rtp(net, t, h, mode, alpha, r, ds, out, col, sign):
    """_esp_terms for reciprocated two-paths (counted on the fly; only a reciprocated t<->h can
    create or destroy them)."""
    adj = net.adj
    n = adj.shape[0]
    e = int(adj[t, h])
    acc = 0.0
    focus = _rtp_count(adj, t, h)
    if adj[h, t]:
        for k in range(n):  # edges k->t with h<->k
            if k != h and adj[k, t] and adj[h, k] and adj[k, h]:
                acc += _path(mode, _rtp_count(adj, k, t), 1, e, r, ds, out, col, sign)
        for k in range(n):  # edges t->k with h<->k
            if k != h and adj[t, k] and adj[h, k] and adj[k, h]:
                acc += _path(mode, _rtp_count(adj, t, k), 1, e, r, ds, out, col, sign)
        for k in range(n):  # edges k->h with t<->k
            if k != t and adj[k, h] and adj[t, k] and adj[k, t]:
                acc += _path(mode, _rtp_count(adj, k, h), 1, e, r, ds, out, col, sign)
        for k in range(n):  # edges h->k with t<->k
            if k != t and adj[h, k] and adj[t, k] and adj[k, t]:
                acc += _path(mode, _rtp_count(adj, h, k), 1, e, r, ds, out, col, sign)
    acc += _focus(mode, focus, alpha, r, ds, out, col, sign)
    return acc


@njit(cache=True)
def _dsp_terms(net, t, h, sptype, mode, alpha, r, ds, out, col, sign):
    """Dyadwise shared partners: visit every dyad whose SP count the toggle of (t, h) changes
    ((t, h)'s own count never does). Symmetric types count both orders of a dyad (weight 2)."""
    adj = net.adj
    n = adj.shape[0]
    e = int(adj[t, h])
    acc = 0.0
    if sptype == _SP_UNDIRECTED:
        paths = net.paths
        remaining = net.outdeg[h] - e  # dyads {t,u}, u a neighbour of h
        for step in range(n - 1):
            if remaining == 0:
                break
            u = h + 1 + step
            if u >= n:
                u -= n
            if u != t and adj[h, u]:
                acc += _path(mode, paths[t, u], 1, e, r, ds, out, col, sign)
                remaining -= 1
        remaining = net.outdeg[t] - e  # dyads {u,h}, u a neighbour of t
        for step in range(n - 1):
            if remaining == 0:
                break
            u = t + 1 + step
            if u >= n:
                u -= n
            if u != h and adj[t, u]:
                acc += _path(mode, paths[u, h], 1, e, r, ds, out, col, sign)
                remaining -= 1
    elif sptype == SP_OTP or sptype == SP_ITP:  # noqa: SIM109  (numba compiles the comparisons directly)
        # Over all ordered dyads the ITP counts are the OTP counts transposed, so both types
        # change the same way (as in ergm, which shares the code).
        paths = net.paths
        ht = int(adj[h, t])
        remaining = net.outdeg[h] - ht  # dyads (t,k), h->k: partner h via t->h->k
        for k in range(n):
            if remaining == 0:
                break
            if k != t and adj[h, k]:
                acc += _path(mode, paths[t, k], 1, e, r, ds, out, col, sign)
                remaining -= 1
        remaining = net.indeg[t] - ht  # dyads (k,h), k->t: partner t via k->t->h
        for k in range(n):
            if remaining == 0:
                break
            if k != h and adj[k, t]:
                acc += _path(mode, paths[k, h], 1, e, r, ds, out, col, sign)
                remaining -= 1
    elif sptype == SP_OSP:
        out_shared = net.out_shared
        remaining = net.indeg[h] - e  # dyads (t,k) and (k,t), k->h: partner h
        for k in range(n):
            if remaining == 0:
                break
            if k != t and adj[k, h]:
                acc += _path(mode, out_shared[t, k], 2, e, r, ds, out, col, sign)
                remaining -= 1
    elif sptype == SP_ISP:
        in_shared = net.in_shared
        remaining = net.outdeg[t] - e  # dyads (k,h) and (h,k), t->k: partner t
        for k in range(n):
            if remaining == 0:
                break
            if k != h and adj[t, k]:
                acc += _path(mode, in_shared[k, h], 2, e, r, ds, out, col, sign)
                remaining -= 1
    else:  # SP_RTP
        if adj[h, t]:
            for k in range(n):  # dyads (k,h) and (h,k), t<->k: partner t
                if k != h and adj[t, k] and adj[k, t]:
                    acc += _path(mode, _rtp_count(adj, k, h), 2, e, r, ds, out, col, sign)
            for k in range(n):  # dyads (k,t) and (t,k), h<->k: partner h
                if k != t and adj[h, k] and adj[k, h]:
                    acc += _path(mode, _rtp_count(adj, k, t), 2, e, r, ds, out, col, sign)
    return acc


@njit(cache=True)
def triangle(net, i, j, par, out, col):
    if net.directed:
        # Every third node k closes one triangle per tie between i and k times tie between j and k
        # (ergm: transitive + cyclic triples).
        change = net.paths[i, j] + net.paths[j, i] + net.out_shared[i, j] + net.in_shared[i, j]
    else:
        change = net.paths[i, j]
    out[col] += change


@njit(cache=True)
def ttriple(net, i, j, par, out, col):
    # i->j as the i->j, j->k or i->k leg of a transitive triple.
    out[col] += net.out_shared[i, j] + net.in_shared[i, j] + net.paths[i, j]


@njit(cache=True)
def ctriple(net, i, j, par, out, col):
    out[col] += net.paths[j, i]


@njit(cache=True)
def transitiveties(net, i, j, par, out, col):
    """Edges with at least one OTP shared partner: i->j itself, plus edges i->k (h->k) and k->j
    (k->i) for which j, resp. i, is the only such partner."""
    adj = net.adj
    paths = net.paths
    n = adj.shape[0]
    e = int(adj[i, j])
    change = 1 if paths[i, j] > 0 else 0
    remaining = net.out_shared[i, j]
    for k in range(n):
        if remaining == 0:
            break
        if adj[j, k] and adj[i, k]:
            change += int(paths[i, k] - e == 0)
            remaining -= 1
    remaining = net.in_shared[i, j]
    for k in range(n):
        if remaining == 0:
            break
        if adj[k, j] and adj[k, i]:
            change += int(paths[k, j] - e == 0)
            remaining -= 1
    out[col] += change


@njit(cache=True)
def cyclicalties(net, i, j, par, out, col):
    """Edges with at least one ITP shared partner: i->j itself, plus edges k->i and j->k (for
    j->k->i) for which j, resp. i, is the only such partner."""
    adj = net.adj
    paths = net.paths
    n = adj.shape[0]
    e = int(adj[i, j])
    change = 1 if paths[j, i] > 0 else 0
    remaining = paths[j, i]
    for k in range(n):
        if remaining == 0:
            break
        if adj[j, k] and adj[k, i]:
            change += int(paths[i, k] - e == 0) + int(paths[k, j] - e == 0)
            remaining -= 1
    out[col] += change


@njit(cache=True)
def gwesp(net, i, j, par, out, col):
    alpha = par[0]
    r = 1.0 - math.exp(-alpha)
    ds = par[2:2]  # no counts requested
    acc = _esp_terms(net, i, j, _sp_type(net, par[1]), _MODE_GW, alpha, r, ds, out, col, 1)
    out[col] += acc


@njit(cache=True)
def gwdsp(net, i, j, par, out, col):
    alpha = par[0]
    r = 1.0 - math.exp(-alpha)
    ds = par[2:2]
    acc = _dsp_terms(net, i, j, _sp_type(net, par[1]), _MODE_GW, alpha, r, ds, out, col, 1)
    out[col] += acc


@njit(cache=True)
def gwnsp(net, i, j, par, out, col):
    alpha = par[0]
    r = 1.0 - math.exp(-alpha)
    ds = par[2:2]
    sptype = _sp_type(net, par[1])
    acc = _dsp_terms(net, i, j, sptype, _MODE_GW, alpha, r, ds, out, col, 1) - _esp_terms(
        net, i, j, sptype, _MODE_GW, alpha, r, ds, out, col, 1
    )
    out[col] += acc


@njit(cache=True)
def esp(net, i, j, par, out, col):
    _esp_terms(net, i, j, _sp_type(net, par[0]), _MODE_COUNT, 0.0, 0.0, par[1:], out, col, 1)


@njit(cache=True)
def dsp(net, i, j, par, out, col):
    _dsp_terms(net, i, j, _sp_type(net, par[0]), _MODE_COUNT, 0.0, 0.0, par[1:], out, col, 1)


@njit(cache=True)
def nsp(net, i, j, par, out, col):
    sptype = _sp_type(net, par[0])
    _esp_terms(net, i, j, sptype, _MODE_COUNT, 0.0, 0.0, par[1:], out, col, -1)
    _dsp_terms(net, i, j, sptype, _MODE_COUNT, 0.0, 0.0, par[1:], out, col, 1)


# ---------------------------------------------------------------------------------------------
# Edgewise shared partners of every dyad of one tail at once (the MPLE design's path).
#
# _esp_terms visits, for one dyad (t, h), the edges k whose shared-partner count the dyad changes:
# k runs over the intersection of a neighbour list of t and one of h, ascending. Turned around --
# k over t's list, then every h whose list holds k -- one pass per tail finds the same (h, k) pairs
# in O(sum of the visited degrees) instead of one call chain per dyad, and each h still receives
# its k in ascending order. Accumulating per h in that order, parts in the same sequence and the
# focal edge last, gives _esp_terms' sums bit for bit.

# Where an affected edge's count is read: counts[t, k], counts[k, t], counts[k, h], counts[h, k].
_AT_TK = 0
_AT_KT = 1
_AT_KH = 2
_AT_HK = 3
_AT_NONE = -1
# Which k of an undirected pass (ergm visits t's neighbours above h first, then those below h).
_K_ANY = 0
_K_ABOVE_H = 1
_K_BELOW_H = 2


@njit(cache=True)
def _count_at(counts, at, t, k, h):
    if at == _AT_TK:
        return counts[t, k]
    if at == _AT_KT:
        return counts[k, t]
    if at == _AT_KH:
        return counts[k, h]
    return counts[h, k]


@njit(cache=True)
def _tail_row(t, h, first):
    """Row of head h among tail t's rows (heads from `first`, skipping t itself)."""
    return h - first - (1 if first <= t < h else 0)


@njit(cache=True)
def _esp_tail_part(
    adj,
    t,
    first,
    t_ptr,
    t_nbr,
    k_ptr,
    k_nbr,
    counts,
    at_first,
    at_second,
    which,
    mode,
    r,
    powers,
    ds,
    acc,
    rows,
    col,
    sign,
):
    """One family of affected edges for every head h >= first of tail t: k over t's list t_nbr,
    h over k's list k_nbr; each (h, k) adds the path term of counts[at_first] and, when at_second is
    set (undirected: two edges per partner), right after it that of counts[at_second]."""
    for slot in range(t_ptr[t], t_ptr[t + 1]):
        k = t_nbr[slot]
        for h_slot in range(k_ptr[k], k_ptr[k + 1]):
            h = k_nbr[h_slot]
            if h < first or h == t:
                continue
            if (which == _K_ABOVE_H and not k > h) or (which == _K_BELOW_H and not k < h):
                continue
            e = int(adj[t, h])
            for at in (at_first, at_second):
                if at == _AT_NONE:
                    continue
                without = _count_at(counts, at, t, k, h) - e
                if mode == _MODE_GW:
                    acc[h] += remembered_pow(powers, r, without)
                else:
                    row = _tail_row(t, h, first)
                    for c in range(ds.shape[0]):
                        d = int(ds[c])
                        rows[row, col + c] += sign * (int(without + 1 == d) - int(without == d))


@njit(cache=True)
def _esp_layout(net, sptype):
    """How shared-partner type `sptype` (not RTP) changes when (t, h) is toggled:
    (focus counts, focus read at [h, t] instead of [t, h], two parts). A part is the affected edges
    of one family: k runs over t's list (t_ptr, t_nbr), ascending, restricted to the k whose list
    (k_ptr, k_nbr) holds h -- that is h->k when `h_to_k`, else k->h; each k adds the path term of
    counts[at_first] and, for undirected networks (two edges per partner), right after it that of
    counts[at_second]; `which` keeps only the k above or below h (ergm's undirected visiting order:
    t's neighbours above h first, then those below)."""
    op, on, ip, inn = net.out_ptr, net.out_nbr, net.in_ptr, net.in_nbr
    if sptype == _SP_UNDIRECTED:
        paths = net.paths
        return (
            paths,
            False,
            (
                (op, on, op, on, False, paths, _AT_TK, _AT_KH, _K_ABOVE_H),
                (op, on, op, on, False, paths, _AT_TK, _AT_KH, _K_BELOW_H),
            ),
        )
    if sptype == SP_OTP:  # edges t->k with h->k, then k->h with k->t
        paths = net.paths
        return (
            paths,
            False,
            (
                (op, on, ip, inn, True, paths, _AT_TK, _AT_NONE, _K_ANY),
                (ip, inn, op, on, False, paths, _AT_KH, _AT_NONE, _K_ANY),
            ),
        )
    if sptype == SP_ITP:  # edges h->k with k->t, then k->t with h->k
        paths = net.paths
        return (
            paths,
            True,
            (
                (ip, inn, ip, inn, True, paths, _AT_KH, _AT_NONE, _K_ANY),
                (ip, inn, ip, inn, True, paths, _AT_TK, _AT_NONE, _K_ANY),
            ),
        )
    if sptype == SP_OSP:  # edges t->k with k->h, then k->t with k->h
        shared = net.out_shared
        return (
            shared,
            False,
            (
                (op, on, op, on, False, shared, _AT_TK, _AT_NONE, _K_ANY),
                (ip, inn, op, on, False, shared, _AT_KT, _AT_NONE, _K_ANY),
            ),
        )
    shared = net.in_shared  # SP_ISP: edges k->h with t->k, then h->k with t->k
    return (
        shared,
        False,
        (
            (op, on, op, on, False, shared, _AT_KH, _AT_NONE, _K_ANY),
            (op, on, ip, inn, True, shared, _AT_HK, _AT_NONE, _K_ANY),
        ),
    )


@njit(cache=True)
def _esp_dyad_part(
    adj,
    t,
    h,
    e,
    t_ptr,
    t_nbr,
    k_ptr,
    k_nbr,
    h_to_k,
    counts,
    at_first,
    at_second,
    which,
    mode,
    r,
    ds,
    out,
    col,
    sign,
    acc,
):
    """One part of _esp_layout for the dyad (t, h): returns `acc` plus its gw terms, in order."""
    for slot in range(t_ptr[t], t_ptr[t + 1]):
        k = t_nbr[slot]
        if not (adj[h, k] if h_to_k else adj[k, h]):
            continue
        if (which == _K_ABOVE_H and not k > h) or (which == _K_BELOW_H and not k < h):
            continue
        for at in (at_first, at_second):
            if at != _AT_NONE:
                acc += _path(mode, _count_at(counts, at, t, k, h), 1, e, r, ds, out, col, sign)
    return acc


@njit(cache=True)
def _first_above(nbr, lo, hi, value):
    """First slot of the ascending nbr[lo:hi] holding a node above `value` (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if nbr[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _gwesp_tail_undirected(net, t, alpha, r, rows, col, powers, acc):
    """_esp_tail for undirected gwesp (the study's term): _esp_tail_part's two undirected parts over
    the same (h, k) pairs in the same order (k over t's list ascending; first the k above h, then those
    below), found directly -- k's sorted list cut by bisection to the h above t (and below k, or above
    it) -- instead of walking k's whole list: a quarter of the pairs; then the focal edge. Every count
    is at most the largest degree, so the powers up to it are remembered at a run's first tail and
    then read without a test (e^a (1 - r^0) is 0, as _focus has it). Bit for bit _esp_tail's general path, 2x faster."""
    adj, paths, ptr, nbr = net.adj, net.paths, net.out_ptr, net.out_nbr
    n = adj.shape[0]
    if powers[0] < 0.0:  # a run's first tail (this pass alone fills its memo)
        top = 0
        for v in range(n):
            top = max(top, ptr[v + 1] - ptr[v])
        for count in range(top + 1):
            remembered_pow(powers, r, count)
    for h in range(t + 1, n):
        acc[h] = 0.0
    for slot in range(ptr[t], ptr[t + 1]):  # t < h < k
        k = nbr[slot]
        tk = paths[t, k]
        for h_slot in range(_first_above(nbr, ptr[k], ptr[k + 1], t), ptr[k + 1]):
            h = nbr[h_slot]
            if h >= k:
                break
            e = adj[t, h]
            acc[h] += powers[tk - e]
            acc[h] += powers[paths[k, h] - e]
    for slot in range(ptr[t], ptr[t + 1]):  # h > t, h > k
        k = nbr[slot]
        tk = paths[t, k]
        for h_slot in range(_first_above(nbr, ptr[k], ptr[k + 1], max(t, k)), ptr[k + 1]):
            h = nbr[h_slot]
            e = adj[t, h]
            acc[h] += powers[tk - e]
            acc[h] += powers[paths[k, h] - e]
    if alpha < 100.0:  # _focus's value, as it computes it
        scale = math.exp(alpha)
        for h in range(t + 1, n):
            rows[h - t - 1, col] += acc[h] + scale * (1.0 - powers[paths[t, h]])
    else:  # ergm's large-decay limit
        for h in range(t + 1, n):
            rows[h - t - 1, col] += acc[h] + float(paths[t, h])


@njit(cache=True)
def _esp_tail(net, t, sptype, mode, alpha, r, ds, rows, col, sign, memo):
    """_esp_terms for every dyad of tail t (rows as in gwesp_tail), any type but RTP: each part
    of _esp_layout once for all heads (k over t's list, then every h in k's list). memo (the pass's,
    kernels/registry.py) holds pow(r, count) by count, and the sums per head in its working space."""
    adj = net.adj
    n = adj.shape[0]
    first = 0 if net.directed else t + 1
    powers = memo[: 2 * n + 2]
    acc = memo[-n:]  # the working space
    if sptype == _SP_UNDIRECTED and mode == _MODE_GW:
        _gwesp_tail_undirected(net, t, alpha, r, rows, col, powers, acc)
        return
    acc[:] = 0.0
    focus, transpose, parts = _esp_layout(net, sptype)
    for part in parts:
        t_ptr, t_nbr, k_ptr, k_nbr, _, counts, at_first, at_second, which = part
        _esp_tail_part(
            adj,
            t,
            first,
            t_ptr,
            t_nbr,
            k_ptr,
            k_nbr,
            counts,
            at_first,
            at_second,
            which,
            mode,
            r,
            powers,
            ds,
            acc,
            rows,
            col,
            sign,
        )
    if mode == _MODE_GW:
        # _focus's value, as it computes it, with the power remembered
        scale = math.exp(alpha)
        for h in range(first, n):
            if h == t:
                continue
            count = focus[h, t] if transpose else focus[t, h]
            if count == 0:
                focal = 0.0
            elif alpha < 100.0:
                focal = scale * (1.0 - remembered_pow(powers, r, count))
            else:
                focal = float(count)
            rows[_tail_row(t, h, first), col] += acc[h] + focal
    else:
        for h in range(first, n):
            if h != t:
                count = focus[h, t] if transpose else focus[t, h]
                _focus(mode, count, alpha, r, ds, rows[_tail_row(t, h, first)], col, sign)


@njit(cache=True)
def gwesp_tail(net, i, par, rows, col, memo):
    """gwesp for every dyad with tail i (rows as kernels.dispatch passes them: heads j != i when
    directed, j > i undirected); False for RTP, which takes the per-dyad kernel."""
    sptype = _sp_type(net, par[1])
    if sptype == SP_RTP:
        return False
    alpha = par[0]
    _esp_tail(net, i, sptype, _MODE_GW, alpha, 1.0 - math.exp(-alpha), par[2:2], rows, col, 1, memo)
    return True


@njit(cache=True)
def esp_tail(net, i, par, rows, col, memo):
    """esp for every dyad with tail i, as gwesp_tail."""
    sptype = _sp_type(net, par[0])
    if sptype == SP_RTP:
        return False
    _esp_tail(net, i, sptype, _MODE_COUNT, 0.0, 0.0, par[1:], rows, col, 1, memo)
    return True


def _all_dyads_if_zero(n, directed, par, columns):
    """dsp(d)/nsp(d) on the empty network: every dyad (ordered pair when directed) has 0 shared partners."""
    dyads = n * (n - 1) if directed else n * (n - 1) // 2
    return np.array([float(dyads) if int(d) == 0 else 0.0 for d in par[1:]])


# Registrations (the per-tail passes are defined after the kernels they stand in for).
kernel("triangle")(triangle)
kernel("ttriple")(ttriple)
kernel("ctriple")(ctriple)
kernel("transitiveties")(transitiveties)
kernel("cyclicalties")(cyclicalties)
kernel("gwesp", tail=gwesp_tail)(gwesp)
kernel("gwdsp")(gwdsp)
kernel("gwnsp")(gwnsp)
kernel("esp", tail=esp_tail)(esp)
kernel("dsp", empty=_all_dyads_if_zero)(dsp)
kernel("nsp", empty=_all_dyads_if_zero)(nsp)
