"""The kernel registry: each structural change statistic is registered once, next to its kernel.

    @kernel("gwesp", tail=gwesp_tail, empty=zero)
    @njit(cache=True)
    def gwesp(net, i, j, par, out, col): ...

names the per-dyad kernel (the change statistic ergm defines, added into out[col:]), an optional
per-tail fast path (every dyad of one tail at once, for the MPLE design; returns False when it does
not apply to `par`, and the per-dyad kernel is used) and the term's value on the empty network
(g(empty), from which summary statistics add the change statistics of the ties one at a time).

numba can only cache functions whose callees are fixed at compile time (jitted functions passed as
arguments defeat its disk cache), so dispatching needs an integer code per kernel: an if/elif chain
over the codes for per-dyad calls (the sampler's), and per code its own MPLE design driver, so that a
design compiles the kernels of its formula only. Both are generated from this registry: codes are the
kernels' positions in name order, and `dispatch_source()` writes them as Python source, which
kernels/dispatch.py keeps in kernels/_generated.py (rewritten on import whenever the registry
changes) and imports from there -- a real file, so numba's disk cache works as for hand-written code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# The modules whose @kernel registrations make up the registry, imported before codes are assigned.
KERNEL_MODULES = ("dyadflow.kernels.degree", "dyadflow.kernels.triadic")


def zero(n: int, directed: bool, par: np.ndarray, columns: int) -> np.ndarray:
    """g(empty network) = 0 in every column (most terms)."""
    return np.zeros(columns)


@dataclass(frozen=True)
class KernelEntry:
    name: str  # the kernel's registry name (the ergm term it computes, e.g. "gwesp")
    change: Callable  # numba kernel (net, i, j, par, out, col)
    tail: Callable | None  # numba per-tail pass (net, i, par, rows, col) -> bool, or None
    empty: Callable[[int, bool, np.ndarray, int], np.ndarray]  # (n, directed, par, columns) -> g(empty)
    module: str
    attribute: str


_ENTRIES: dict[str, KernelEntry] = {}


def kernel(name: str, *, tail: Callable | None = None, empty: Callable = zero):
    """Register a numba change-statistic kernel under `name` (see the module docstring)."""

    def register(dispatcher):
        if name in _ENTRIES:
            raise RuntimeError(f"kernel {name!r} registered twice")
        py_func = getattr(dispatcher, "py_func", dispatcher)
        _ENTRIES[name] = KernelEntry(name, dispatcher, tail, empty, py_func.__module__, py_func.__name__)
        return dispatcher

    return register


def entries() -> list[KernelEntry]:
    """Every registered kernel, in code order (by name)."""
    import importlib

    for module in KERNEL_MODULES:
        importlib.import_module(module)
    return [_ENTRIES[name] for name in sorted(_ENTRIES)]


def codes() -> dict[str, int]:
    """Kernel name -> its integer code (what kernels.dispatch.change takes)."""
    return {entry.name: code for code, entry in enumerate(entries())}


def code(name: str) -> int:
    known = codes()
    if name not in known:
        raise KeyError(f"no change-statistic kernel is registered as {name!r}; registered: {', '.join(known)}")
    return known[name]


def code_of(change: Callable) -> int:
    """The code of a registered kernel function."""
    for number, entry in enumerate(entries()):
        if entry.change is change:
            return number
    raise KeyError(f"{getattr(change, '__name__', change)!r} is not a registered change-statistic kernel")


def empty_values(codes_: np.ndarray, par_offsets: np.ndarray, params: np.ndarray, col_offsets: np.ndarray,
                 n: int, directed: bool) -> np.ndarray:
    """g(empty network) of the packed terms (the layout of kernels.dispatch.dyad_change_matrix)."""
    table = entries()
    values = np.zeros(int(col_offsets[-1]))
    for t, number in enumerate(np.asarray(codes_).tolist()):
        par = params[par_offsets[t] : par_offsets[t + 1]]
        columns = int(col_offsets[t + 1] - col_offsets[t])
        value = np.asarray(table[number].empty(n, bool(directed), par, columns), dtype=np.float64)
        if value.shape != (columns,):
            raise AssertionError(f"empty value of kernel {table[number].name} has shape {value.shape}, not ({columns},)")
        values[col_offsets[t] : col_offsets[t + 1]] = value
    return values


def dispatch_source() -> str:
    """Source of kernels/_generated.py: `change`, an if/elif chain over every code (what the MCMC
    sampler and summary statistics call per dyad), and per kernel its own MPLE design driver
    `columns_<code>` (every dyad of a network, parallel over tails), listed in `COLUMNS`.

    One driver per kernel, not one chain over all codes: numba compiles every callee a function
    can reach, so a chain compiled all 24 kernels (and re-optimised all of them once per level of
    the call tree) before the first design row of any formula; a driver compiles its own kernel
    alone, the first time a formula uses it, and each is cached on its own."""
    table = entries()
    modules = sorted({entry.module for entry in table})
    lines = [
        '"""GENERATED by dyadflow.kernels.registry.dispatch_source() from the @kernel registrations: do not edit.',
        "",
        "kernels/dispatch.py rewrites this file on import whenever the registry changes.",
        '"""',
        "",
        "import numpy as np",
        "from numba import njit, prange",
        "",
    ]
    alias = {module: f"_m{k}" for k, module in enumerate(modules)}
    lines += [f"import {module} as {alias[module]}" for module in modules]
    lines.append("")
    for number, entry in enumerate(table):
        lines.append(f"_change_{number} = {alias[entry.module]}.{entry.attribute}  # {entry.name}")
        if entry.tail is not None:
            tail = getattr(entry.tail, "py_func", entry.tail)
            lines.append(f"_tail_{number} = {alias[tail.__module__]}.{tail.__name__}")
    lines.append("")
    lines.append("CODES = {" + ", ".join(f"{entry.name!r}: {number}" for number, entry in enumerate(table)) + "}")
    lines += [
        "",
        "",
        '# inline="always": compiled into the caller\'s loop (an MCMC sampler\'s, summary statistics\').',
        '@njit(cache=True, inline="always")',
        "def change(code, net, i, j, par, out, col):",
        '    """Add stat(y with i->j) - stat(y without i->j) of kernel `code` (parameters `par`) into out[col:...]."""',
    ]
    for number in range(len(table)):
        keyword = "if" if number == 0 else "elif"
        lines += [f"    {keyword} code == {number}:", f"        _change_{number}(net, i, j, par, out, col)"]
    lines += [
        "    else:",
        '        raise ValueError("unknown change-statistic code")',
        "",
        "",
        "@njit(cache=True)",
        "def tail_slice(out, n, directed, i):",
        '    """The rows of tail i in a design of every dyad (ergm\'s order: tail-major over heads j != i',
        '    directed, j > i undirected)."""',
        "    if directed:",
        "        return out[i * (n - 1) : (i + 1) * (n - 1)]",
        "    first = i * n - i * (i + 1) // 2",
        "    return out[first : first + n - 1 - i]",
    ]
    for number, entry in enumerate(table):
        lines += [
            "",
            "",
            "@njit(cache=True)",
            f"def rows_{number}(net, i, par, rows, col):",
            f'    """{entry.name}: rows of every dyad with tail i (heads j != i directed, j > i undirected,',
            "    ascending): the kernel's per-tail pass where it has one and it applies, else the per-dyad kernel.\"\"\"",
        ]
        if entry.tail is not None:
            lines += [f"    if _tail_{number}(net, i, par, rows, col):", "        return"]
        lines += [
            "    n = net.adj.shape[0]",
            "    first = 0 if net.directed else i + 1",
            "    k = 0",
            "    for j in range(first, n):",
            "        if j != i:",
            f"            _change_{number}(net, i, j, par, rows[k], col)",
            "            k += 1",
            "",
            "",
            "@njit(parallel=True, cache=True)",
            f"def columns_{number}(net, par, out, col):",
            f'    """{entry.name}: add its change statistics of every dyad of `net` into out[:, col:...]."""',
            "    n = net.adj.shape[0]",
            "    if net.directed:",
            "        for task in prange(n):",
            "            i = np.int64(task)  # one integer type for every call below: one compilation",
            f"            rows_{number}(net, i, par, tail_slice(out, n, net.directed, i), col)",
            "    else:",
            "        # Tail i has n - 1 - i rows: pairing tails i and n - 1 - i gives every parallel task n - 1",
            "        # rows, so numba's static split of the tasks over threads stays balanced.",
            "        for task in prange((n + 1) // 2):",
            "            i = np.int64(task)",
            f"            rows_{number}(net, i, par, tail_slice(out, n, net.directed, i), col)",
            "            if n - 1 - i != i:",
            f"                rows_{number}(net, n - 1 - i, par, tail_slice(out, n, net.directed, n - 1 - i), col)",
        ]
    lines += [
        "",
        "",
        "# The design driver of each code, by code.",
        "COLUMNS = (" + "".join(f"columns_{number}, " for number in range(len(table))) + ")",
        "ROWS = (" + "".join(f"rows_{number}, " for number in range(len(table))) + ")",
        "",
    ]
    return "\n".join(lines)
