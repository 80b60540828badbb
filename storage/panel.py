"""The in-memory panel that every estimator reads: a sequence of periods, each a binary network over
the nodes present in that period, with its node attributes and dyadic covariates aligned to them.

A panel is built from arrays (`Panel.from_arrays`) or opened from a store (`storage.open_panel`);
either way periods are materialised on demand through one loader, so a Dask worker touches only
the periods it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numba import njit


class PanelError(ValueError):
    """Input that cannot form a valid panel; the message names the period and the problem."""


@dataclass(frozen=True)
class Period:
    """One period of the panel; every array is aligned with `nodes`."""

    name: str
    nodes: np.ndarray  # (n,) str labels, in matrix order
    network: np.ndarray  # (n, n) uint8 in {0, 1}, zero diagonal, symmetric when undirected
    node_attributes: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> (n,)
    dyad_covariates: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> (n, n) float64
    # (n, n) bool: False = dyad excluded from the likelihood (missing data under missing = "drop-dyad");
    # None = every dyad observed.
    observed: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.nodes)


class Panel:
    """A sequence of periods with one directedness, loaded lazily by index."""

    def __init__(self, *, directed: bool, period_names: Sequence[str], load: Callable[[int], Period]):
        self.directed = bool(directed)
        self.period_names = [str(p) for p in period_names]
        self._load = lru_cache(maxsize=None)(load)

    def __len__(self) -> int:
        return len(self.period_names)

    def __getitem__(self, t: int) -> Period:
        if not -len(self) <= t < len(self):
            raise IndexError(f"period index {t} out of range for a panel of {len(self)} periods")
        return self._load(t % len(self))

    def __iter__(self):
        return (self[t] for t in range(len(self)))

    def __repr__(self) -> str:
        kind = "directed" if self.directed else "undirected"
        span = f"{self.period_names[0]}..{self.period_names[-1]}" if len(self) else "empty"
        return f"<Panel {kind}, {len(self)} periods ({span})>"

    def select(self, indices: Sequence[int]) -> Panel:
        """The panel restricted to the given period indices, in the given order."""
        indices = [int(t) % len(self) for t in indices]
        return Panel(
            directed=self.directed,
            period_names=[self.period_names[t] for t in indices],
            load=lambda k: self[indices[k]],
        )

    def with_networks(self, networks: Sequence[np.ndarray]) -> Panel:
        """The same nodes and covariates with other networks (rewiring, simulation)."""
        if len(networks) != len(self):
            raise PanelError(f"got {len(networks)} networks for a panel of {len(self)} periods")

        def load(t: int) -> Period:
            period = self[t]
            network = _validated_network(networks[t], period.name, self.directed, period.n)
            return Period(
                period.name, period.nodes, network, period.node_attributes, period.dyad_covariates, period.observed
            )

        return Panel(directed=self.directed, period_names=self.period_names, load=load)

    @classmethod
    def from_arrays(
        cls,
        networks: Sequence[np.ndarray],
        *,
        directed: bool,
        nodes: Sequence[Sequence] | None = None,
        period_names: Sequence | None = None,
        node_attributes: Mapping[str, np.ndarray | Sequence[np.ndarray]] | None = None,
        dyad_covariates: Mapping[str, np.ndarray | Sequence[np.ndarray]] | None = None,
        universe: Sequence | None = None,
    ) -> Panel:
        """Build a panel from per-period adjacency matrices.

        networks: one square 0/1 matrix per period (row = sender when directed).
        nodes: the node labels of each period, in matrix order; default 0..n-1 (all periods the same size).
        universe: every node label of the panel, the index of *static* covariates; default: the labels
            of all periods in order of first appearance.
        node_attributes: name -> a 1-D array over the universe (static) or one 1-D array per period.
        dyad_covariates: name -> a 2-D array over the universe (static) or one 2-D array per period.
        Static covariates are aligned to each period by node label, as btergm does.
        """
        networks = list(networks)
        if not networks:
            raise PanelError("a panel needs at least one period")
        names = [str(p) for p in (period_names if period_names is not None else range(1, len(networks) + 1))]
        if len(names) != len(networks):
            raise PanelError(f"got {len(names)} period names for {len(networks)} networks")
        if len(set(names)) != len(names):
            raise PanelError(f"period names must be unique, got {names}")
        if nodes is None:
            sizes = {np.shape(a)[0] if np.ndim(a) == 2 else -1 for a in networks}
            if len(sizes) != 1:
                raise PanelError("periods differ in size: pass `nodes` (the labels of each period)")
            nodes = [np.arange(sizes.pop()).astype(str)] * len(networks)
        if len(nodes) != len(networks):
            raise PanelError(f"got {len(nodes)} node lists for {len(networks)} periods")
        period_nodes = [np.asarray([str(v) for v in labels], dtype=str) for labels in nodes]
        for name, labels in zip(names, period_nodes):
            if len(set(labels.tolist())) != len(labels):
                raise PanelError(f"period {name}: duplicate node labels")
        if universe is None:
            universe = list(dict.fromkeys(label for labels in period_nodes for label in labels.tolist()))
        universe = np.asarray([str(v) for v in universe], dtype=str)
        position = {label: k for k, label in enumerate(universe.tolist())}
        for name, labels in zip(names, period_nodes):
            unknown = [label for label in labels.tolist() if label not in position]
            if unknown:
                raise PanelError(f"period {name}: nodes {unknown[:5]} are not in the universe")

        periods = []
        for t, (name, labels, network) in enumerate(zip(names, period_nodes, networks)):
            index = np.array([position[label] for label in labels], dtype=np.int64)
            network = _validated_network(network, name, directed, len(labels))
            attributes = {
                key: _aligned(value, t, index, name, key, len(universe), len(networks), ndim=1)
                for key, value in (node_attributes or {}).items()
            }
            covariates = {
                key: _aligned(value, t, index, name, key, len(universe), len(networks), ndim=2).astype(np.float64)
                for key, value in (dyad_covariates or {}).items()
            }
            periods.append(Period(name, labels, network, attributes, covariates))
        return cls(directed=directed, period_names=names, load=periods.__getitem__)


def is_binary(array: np.ndarray) -> bool:
    """Whether every entry is 0 or 1; a uint8 array by its maximum (one pass, no temporaries)."""
    return bool(array.max(initial=0) <= 1) if array.dtype == np.uint8 else bool(((array == 0) | (array == 1)).all())


def is_valid_network(adj: np.ndarray, directed: bool) -> bool:
    """Whether a square matrix is certainly a network: binary, zero diagonal, symmetric when
    undirected. A writable C-contiguous uint8 matrix (what the kernels and rewiring make) is checked
    in one compiled pass -- numpy's three checks cost ~100 us per 200-node period, more than the pass
    -- anything else is left to the callers' checks, which also say what is wrong (False)."""
    if adj.dtype != np.uint8 or adj.ndim != 2 or not adj.flags.c_contiguous or not adj.flags.writeable:
        return False
    return adj.shape[0] == adj.shape[1] and valid_network_kernel(adj, bool(directed))


@njit(cache=True)
def valid_network_kernel(adj, directed):
    n = adj.shape[0]
    for i in range(n):
        if adj[i, i]:
            return False
        for j in range(n):
            value = adj[i, j]
            if value > 1 or (not directed and value != adj[j, i]):
                return False
    return True


def _validated_network(network, period: str, directed: bool, n: int) -> np.ndarray:
    array = np.asarray(network)
    if array.shape == (n, n) and is_valid_network(array, directed):
        return array
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise PanelError(f"period {period}: the network must be a square matrix, got shape {array.shape}")
    if array.shape[0] != n:
        raise PanelError(f"period {period}: the network has {array.shape[0]} rows for {n} nodes")
    if array.dtype.kind not in "biuf":
        raise PanelError(f"period {period}: the network must be numeric 0/1, got dtype {array.dtype}")
    if not is_binary(array):
        bad = np.argwhere(~np.isin(array, (0, 1)))[0]
        raise PanelError(
            f"period {period}: the network must be binary (0/1); cell {tuple(bad.tolist())} is {array[tuple(bad)]}"
        )
    if np.diagonal(array).any():
        node = int(np.flatnonzero(np.diagonal(array))[0])
        raise PanelError(f"period {period}: self-loop at node index {node}; the diagonal must be 0")
    if not directed and not np.array_equal(array, array.T):
        i, j = np.argwhere(array != array.T)[0]
        raise PanelError(
            f"period {period}: the network is declared undirected but is not symmetric "
            f"(cell ({i}, {j}) is {array[i, j]}, cell ({j}, {i}) is {array[j, i]})"
        )
    return np.ascontiguousarray(array, dtype=np.uint8)


def _aligned(value, t: int, index: np.ndarray, period: str, key: str, n_universe: int, n_periods: int, ndim: int):
    """A covariate for period t, aligned to that period's nodes: static (over the universe) or per period."""
    kind = "node attribute" if ndim == 1 else "dyadic covariate"
    if isinstance(value, np.ndarray) and value.ndim == ndim and value.dtype != object:
        if any(size != n_universe for size in value.shape):
            raise PanelError(
                f"{kind} {key!r}: a static covariate must have shape {(n_universe,) * ndim} "
                f"(the node universe), got {value.shape}"
            )
        return value[np.ix_(index, index)] if ndim == 2 else value[index]
    if len(value) != n_periods:
        raise PanelError(
            f"{kind} {key!r}: expected one array per period ({n_periods}) or one static array, got {len(value)}"
        )
    array = np.asarray(value[t])
    expected = (len(index),) * ndim
    if array.shape != expected:
        raise PanelError(f"period {period}: {kind} {key!r} has shape {array.shape}, expected {expected}")
    return array
