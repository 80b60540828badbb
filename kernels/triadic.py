"""Triangle and shared-partner terms (codes 100-199). See kernels/dispatch.py for the contract."""

from numba import njit

TRIANGLE = 100


@njit(cache=True)
def triangle(net, i, j, par, out, col):
    # Undirected: every shared partner of i and j closes one triangle with the new edge.
    out[col] += net.paths[i, j]


@njit(cache=True)
def change_triadic(code, net, i, j, par, out, col):
    if code == TRIANGLE:
        triangle(net, i, j, par, out, col)
