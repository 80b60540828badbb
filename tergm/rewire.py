"""Random rewiring of observed ties for sensitivity analysis (Xu & Frank 2021).

A share of the observed ties is moved to dyads that were not ties, so every period keeps its tie
count while the structure degrades towards randomness. Two modes:

- ``period``: each period independently; in period t, round(share * ties_t) ties (unordered pairs when
  undirected) are removed and as many of that period's non-ties are added, all drawn uniformly.
- ``agreement``: a tie that persists across periods (the same labelled dyad, tied in several periods)
  moves as one unit: round(share * agreements) agreements are drawn and each moves, with all its
  periods, to a random labelled dyad whose two nodes are present and not tied in every one of those
  periods. Each period's tie count is again unchanged.

Everything is a function of the networks and a numpy Generator, so a seed fixes the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dyadflow.kernels.network import dyad_ties, rewired_network

MODES = ("period", "agreement")


class RewireError(ValueError):
    """Rewiring that cannot be done as asked; the message names the share, mode or period."""


def rewire_networks(
    networks: Sequence[np.ndarray],
    share: float,
    rng: np.random.Generator,
    *,
    directed: bool,
    mode: str = "period",
    nodes: Sequence[Sequence[str]] | None = None,
) -> list[np.ndarray]:
    """Networks with `share` of the observed ties (or agreements) rewired to random non-ties.

    networks: per-period 0/1 adjacency matrices (row = sender when directed).
    nodes: per-period node labels (needed in ``agreement`` mode when periods differ in their nodes;
        default: all periods share the labels 0..n-1).
    share = 0 returns copies of the input.
    """
    if not 0.0 <= float(share) <= 1.0:
        raise RewireError(f"rewiring share must be in [0, 1], got {share}")
    if mode not in MODES:
        raise RewireError(f"rewiring mode {mode!r}: expected one of {list(MODES)}")
    networks = [np.asarray(a, dtype=np.uint8) for a in networks]
    if mode == "period":
        return [_rewire_one(a, float(share), rng, directed) for a in networks]
    if nodes is None:
        sizes = {a.shape[0] for a in networks}
        if len(sizes) != 1:
            raise RewireError("agreement rewiring of periods of different sizes needs the node labels of each period")
        nodes = [np.arange(sizes.pop()).astype(str)] * len(networks)
    return _rewire_agreements(networks, float(share), rng, directed, nodes)


def _dyad_mask(n: int, directed: bool) -> np.ndarray:
    """The dyads that count: off-diagonal when directed, the strict upper triangle when not."""
    return ~np.eye(n, dtype=bool) if directed else np.triu(np.ones((n, n), dtype=bool), 1)


def _rewire_one(adj: np.ndarray, share: float, rng: np.random.Generator, directed: bool) -> np.ndarray:
    """One period rewired: round(share * ties) ties drawn (rng.choice of their positions among the
    dyads, _dyad_mask's order) are removed and as many non-ties drawn (rng.choice of their count, by
    rank) are tied; the numbering and the rebuilt network are kernels.network's."""
    n = adj.shape[0]
    ties, dyads = dyad_ties(np.ascontiguousarray(adj), directed)
    non_ties = dyads - len(ties)
    k = int(round(share * len(ties)))
    if k > non_ties:
        raise RewireError(f"cannot rewire {k} ties: only {non_ties} non-ties in a network of {n} nodes")
    removed = rng.choice(ties, size=k, replace=False) if k else ties[:0]
    # The non-ties drawn by rank, as rng.choice of their positions draws them, without the array of
    # positions (a few hundred KB per period: an mmap and page faults on Dask workers).
    added = rng.choice(non_ties, size=k, replace=False) if k else ties[:0]
    return rewired_network(n, directed, ties, removed, added)


def _rewire_agreements(networks, share, rng, directed, nodes) -> list[np.ndarray]:
    labels = list(dict.fromkeys(label for period in nodes for label in map(str, period)))
    position = {label: k for k, label in enumerate(labels)}
    size, periods = len(labels), len(networks)
    # Work on the label universe: tie[t, u, v] and present[t, u] (node u exists in period t).
    tie = np.zeros((periods, size, size), dtype=bool)
    present = np.zeros((periods, size), dtype=bool)
    index = []
    for t, (adj, period_nodes) in enumerate(zip(networks, nodes)):
        idx = np.array([position[str(label)] for label in period_nodes], dtype=np.int64)
        if len(idx) != adj.shape[0]:
            raise RewireError(f"period {t}: {len(idx)} node labels for a network of {adj.shape[0]} nodes")
        tie[t][np.ix_(idx, idx)] = adj.astype(bool)
        present[t, idx] = True
        index.append(idx)
    mask = _dyad_mask(size, directed)
    tied_any = tie.any(axis=0) & mask
    agreements = np.argwhere(tied_any)  # (a, 2) label pairs, row-major: deterministic order
    k = int(round(share * len(agreements)))
    chosen = agreements[np.sort(rng.choice(len(agreements), size=k, replace=False))] if k else agreements[:0]
    # Remove every chosen agreement first so a target may be any dyad that is then a non-tie.
    spans = []
    for u, v in chosen:
        when = tie[:, u, v].copy()
        spans.append(when)
        tie[when, u, v] = False
        if not directed:
            tie[when, v, u] = False
    targets = np.zeros_like(tied_any)  # two agreements never land on the same dyad
    for (u, v), when in zip(chosen, spans):
        alive = present[when].all(axis=0)  # nodes present in every period of the agreement
        free = alive[:, None] & alive[None, :] & mask & ~targets & ~tie[when].any(axis=0)
        # Prefer dyads never tied, so a moved agreement stays one spell; in dense networks fall back
        # to any dyad free in all of the agreement's periods.
        flat = np.flatnonzero(free & ~tied_any)
        if len(flat) == 0:
            flat = np.flatnonzero(free)
        if len(flat) == 0:
            raise RewireError(
                f"agreement ({labels[u]}, {labels[v]}): no dyad is free in all {int(when.sum())} of its periods"
            )
        target = flat[rng.integers(len(flat))]
        a, b = divmod(int(target), size)
        targets[a, b] = True
        tie[when, a, b] = True
        if not directed:
            tie[when, b, a] = True
    return [tie[t][np.ix_(idx, idx)].astype(np.uint8) for t, idx in enumerate(index)]
