"""Dyad, star and degree terms (codes 0-99). See kernels/dispatch.py for the contract."""

from numba import njit

EDGES = 0


@njit(cache=True)
def edges(net, i, j, par, out, col):
    out[col] += 1.0


@njit(cache=True)
def change_degree(code, net, i, j, par, out, col):
    if code == EDGES:
        edges(net, i, j, par, out, col)
