"""The kernel registry: each structural change statistic is registered once, next to its kernel.

    @kernel("gwesp", tail=gwesp_tail, empty=zero)
    @njit(cache=True)
    def gwesp(net, i, j, par, out, col): ...

names the per-dyad kernel (the change statistic ergm defines, added into out[col:]), an optional
per-tail fast path (every dyad of one tail at once, for the MPLE design; returns False when it does
not apply to `par`, and the per-dyad kernel is used), the term's value on the empty network
(g(empty), from which summary statistics add the change statistics of the ties one at a time) and
its reach: which dyads' change statistics a toggled tie a-b can change (`REACHES`; what an
incremental design update after rewiring recomputes, tergm.design.design_with_networks).

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


# A toggled tie a-b changes the change statistic of dyad i-j only if
#   "none": never (the statistic does not read the network, e.g. edges);
#   "endpoints": i or j is a or b (it reads the ties of i and j: degrees, reciprocity);
#   "neighbours": i or j is a, b or a neighbour of a or b, in either direction, before or after
#   the toggle (it reads the ties among i's and j's neighbours: shared partners, triangles).
# tests/test_kernel_reach.py checks every kernel's declaration by brute force.
REACHES = ("none", "endpoints", "neighbours")

# A per-tail pass gets `memo`: float64 scratch of MEMO_NODES * n + 2 entries (n nodes), the term's alone.
# The first 4n + 2 are -1.0 when a design driver starts a run of tails and are kept from one tail of the
# run to the next: they may hold only values that do not depend on the tail (the gw terms'
# pow(1 - e^-decay, k) by k, gwdegree's weight of each node's degree), computed once per run instead
# of once per tail. The last n are working space, their values undefined at every tail.
MEMO_NODES = 5


@dataclass(frozen=True)
class KernelEntry:
    name: str  # the kernel's registry name (the ergm term it computes, e.g. "gwesp")
    change: Callable  # numba kernel (net, i, j, par, out, col)
    tail: Callable | None  # numba per-tail pass (net, i, par, rows, col, memo) -> bool, or None (memo: see above)
    empty: Callable[[int, bool, np.ndarray, int], np.ndarray]  # (n, directed, par, columns) -> g(empty)
    module: str
    attribute: str
    reach: str = "neighbours"  # one of REACHES


_ENTRIES: dict[str, KernelEntry] = {}


def kernel(name: str, *, tail: Callable | None = None, empty: Callable = zero, reach: str = "neighbours"):
    """Register a numba change-statistic kernel under `name` (see the module docstring)."""
    if reach not in REACHES:
        raise ValueError(f"kernel {name!r}: reach must be one of {REACHES}, got {reach!r}")

    def register(dispatcher):
        if name in _ENTRIES:
            raise RuntimeError(f"kernel {name!r} registered twice")
        py_func = getattr(dispatcher, "py_func", dispatcher)
        _ENTRIES[name] = KernelEntry(name, dispatcher, tail, empty, py_func.__module__, py_func.__name__, reach)
        return dispatcher

    return register


def reach(codes_) -> str:
    """The widest reach (REACHES) of these kernel codes' entries ("none" for no codes)."""
    table = entries()
    found = {table[int(number)].reach for number in np.asarray(codes_).tolist()}
    return max(found, key=REACHES.index, default="none")


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


def empty_values(
    codes_: np.ndarray, par_offsets: np.ndarray, params: np.ndarray, col_offsets: np.ndarray, n: int, directed: bool
) -> np.ndarray:
    """g(empty network) of the packed terms (the layout of kernels.dispatch.dyad_change_matrix)."""
    table = entries()
    values = np.zeros(int(col_offsets[-1]))
    for t, number in enumerate(np.asarray(codes_).tolist()):
        par = params[par_offsets[t] : par_offsets[t + 1]]
        columns = int(col_offsets[t + 1] - col_offsets[t])
        value = np.asarray(table[number].empty(n, bool(directed), par, columns), dtype=np.float64)
        if value.shape != (columns,):
            raise AssertionError(
                f"empty value of kernel {table[number].name} has shape {value.shape}, not ({columns},)"
            )
        values[col_offsets[t] : col_offsets[t + 1]] = value
    return values


def dispatch_source() -> str:
    """Source of kernels/_generated.py: `change`, an if/elif chain over every code (what the MCMC
    sampler and summary statistics call per dyad), and per kernel `rows_<code>`, its rows of every
    dyad of one tail (the MPLE design's unit of work, listed in `ROWS`; drivers_source() drives them)."""
    table = entries()
    modules = sorted({entry.module for entry in table})
    lines = [
        '"""GENERATED by dyadflow.kernels.registry.dispatch_source() from the @kernel registrations: do not edit.',
        "",
        "kernels/dispatch.py rewrites this file on import whenever the registry changes.",
        '"""',
        "",
        "from numba import njit",
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
        "# inline=\"always\": compiled into the caller's loop (an MCMC sampler's, summary statistics').",
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
    ]
    for number, entry in enumerate(table):
        lines += [
            "",
            "",
            "@njit(cache=True)",
            f"def rows_{number}(net, i, par, rows, col, memo):",
            f'    """{entry.name}: rows of every dyad with tail i (heads j != i directed, j > i undirected,',
            '    ascending): the kernel\'s per-tail pass where it has one and it applies, else the per-dyad kernel."""',
        ]
        if entry.tail is not None:
            lines += [f"    if _tail_{number}(net, i, par, rows, col, memo):", "        return"]
        lines += [
            "    n = net.adj.shape[0]",
            "    first = 0 if net.directed else i + 1",
            "    k = 0",
            "    for j in range(first, n):",
            "        if j != i:",
            f"            _change_{number}(net, i, j, par, rows[k], col)",
            "            k += 1",
        ]
    lines += [
        "",
        "",
        "# Every dyad of one tail, by code (what a design driver, drivers_source(), calls).",
        "ROWS = (" + "".join(f"rows_{number}, " for number in range(len(table))) + ")",
        "",
    ]
    return "\n".join(lines)


def _code_chain(codes, indent: str, call: str) -> list[str]:
    """Source lines of an if/elif chain on `code` over `codes`, each branch `call` (formatted with the
    code), any other code an error."""
    lines = []
    for k, code in enumerate(codes):
        lines += [f"{indent}{'if' if k == 0 else 'elif'} code == {code}:", f"{indent}    {call.format(code=code)}"]
    unknown = 'raise ValueError("change-statistic code not compiled into these drivers")'
    return lines + ([f"{indent}else:", f"{indent}    {unknown}"] if codes else [f"{indent}{unknown}"])


# Runs of tails per design and numba thread: parallel tasks, each with its own memos (the per-tail
# passes'), filled once per run; any number gives the same rows.
DESIGN_RUNS_PER_THREAD = 4


def drivers_source(codes) -> str:
    """Source of the compiled drivers of one set of kernel codes (kernels/dispatch.py writes it to a
    file of its own and imports it):

    - `design(codes, par_offsets, params, col_offsets, net)`: the MPLE design, parallel over tails,
      each tail's rows filled term by term;
    - `statistics_from_empty(codes, par_offsets, params, col_offsets, net, tails, heads)`: g(y) -
      g(empty) of the ties (summary statistics, a chain's observed statistics);
    - `dyad_rows(codes, par_offsets, params, col_offsets, net, tails, heads)`: `design`'s rows of
      some dyads only (the incremental design update after rewiring).

    Both route codes through an if/elif chain over these codes only, not one over every code: numba
    compiles every callee a function can reach, so a chain over all 25 kernels compiled them all (and
    re-optimised them once per level of the call tree) before the first row of any formula; this
    compiles the formula's kernels only. One parallel pass per network (not one per term) keeps each
    tail's rows in cache while every term fills them."""
    codes = sorted({int(code) for code in codes})
    known = len(entries())
    if any(not 0 <= code < known for code in codes):
        raise ValueError(f"unknown change-statistic code in {codes}")
    lines = [
        f'"""GENERATED by dyadflow.kernels.registry.drivers_source({codes}): do not edit."""',
        "",
        "import numpy as np",
        "from numba import njit, prange",
        "",
        "from dyadflow.kernels._generated import "
        + ", ".join([f"rows_{code}" for code in codes] + [f"_change_{code}" for code in codes]),
        "from dyadflow.kernels.sampler import toggle",
        "",
        "",
        "@njit(cache=True)",
        "def tail_rows(codes, par_offsets, params, col_offsets, net, i, out, memo):",
        '    """Rows of every dyad with tail i: heads j != i (directed) or j > i (undirected), ascending;',
        '    memo[t]: term t\'s memo (kernels.registry: the per-tail passes\' memo), kept across a run of tails."""',
        "    n = net.adj.shape[0]",
        "    if net.directed:",
        "        r = i * (n - 1)",
        "        rows = out[r : r + n - 1]",
        "    else:",
        "        r = i * n - i * (i + 1) // 2",
        "        rows = out[r : r + n - 1 - i]",
        "    # Zeroed here, not by `design` in a pass of its own: the rows come into cache once for every term.",
        "    first_column, end_column = col_offsets[0], col_offsets[col_offsets.shape[0] - 1]",
        "    for r in range(rows.shape[0]):  # the kernels add into their columns",
        "        for c in range(first_column, end_column):",
        "            rows[r, c] = 0.0",
        "    # Terms write disjoint columns, so they fill the rows one term at a time.",
        "    for t in range(codes.shape[0]):",
        "        code = codes[t]",
        "        par = params[par_offsets[t] : par_offsets[t + 1]]",
    ]
    lines += _code_chain(codes, "        ", "rows_{code}(net, i, par, rows, col_offsets[t], memo[t])")
    lines += [
        "",
        "",
        "@njit(parallel=True, cache=True)",
        "def design(codes, par_offsets, params, col_offsets, net, out, threads):",
        '    """Change statistics of the terms for every dyad of `net`, one row per dyad, into the columns',
        "    col_offsets[0]:col_offsets[-1] of `out` (see kernels.dispatch.dyad_change_matrix); `threads`:",
        '    numba\'s thread count (read by the caller: numba.get_num_threads here would stop the disk cache)."""',
        "    n = net.adj.shape[0]",
        "    tasks = n if net.directed else (n + 1) // 2",
        "    # Undirected, tail i has n - 1 - i rows: a task of tails i and n - 1 - i has n - 1, so numba's",
        "    # static split of a few runs of tasks per thread stays balanced.",
        f"    runs = min(tasks, {DESIGN_RUNS_PER_THREAD} * max(threads, 1))",
        "    for run in prange(runs):",
        "        # each run starts the terms' memos afresh (what they hold never depends on the tail, nor a row)",
        f"        memo = np.full((codes.shape[0], {MEMO_NODES} * n + 2), -1.0)",
        "        for task in range(run * tasks // runs, (run + 1) * tasks // runs):",
        "            i = np.int64(task)  # one integer type for every call below: one compilation",
        "            tail_rows(codes, par_offsets, params, col_offsets, net, i, out, memo)",
        "            if not net.directed and n - 1 - i != i:",
        "                tail_rows(codes, par_offsets, params, col_offsets, net, n - 1 - i, out, memo)",
        "    return out",
        "",
        "",
        '@njit(cache=True, inline="always")',
        "def change(code, net, i, j, par, out, col):",
        '    """kernels.dispatch.change for these codes only."""',
    ]
    lines += _code_chain(codes, "    ", "_change_{code}(net, i, j, par, out, col)")
    lines += [
        "",
        "",
        "@njit(cache=True)",
        "def statistics_from_empty(codes, par_offsets, params, col_offsets, net, tails, heads):",
        '    """g(y) - g(empty) of the terms for the ties (tails[k], heads[k]), found as ergm\'s summary does:',
        "    add the ties one at a time to an empty network (`net`, which must be empty and is left holding",
        '    the ties), summing their change statistics."""',
        "    K = col_offsets[-1]",
        "    total = np.zeros(K)",
        "    delta = np.zeros(K)",
        "    for e in range(tails.shape[0]):",
        "        for c in range(K):",
        "            delta[c] = 0.0",
        "        for t in range(codes.shape[0]):",
        "            par = params[par_offsets[t] : par_offsets[t + 1]]",
        "            change(codes[t], net, tails[e], heads[e], par, delta, col_offsets[t])",
        "        for c in range(K):",
        "            total[c] += delta[c]",
        "        toggle(net, tails[e], heads[e])",
        "    return total",
        "",
        "",
        "@njit(cache=True)",
        "def dyad_row(codes, par_offsets, params, col_offsets, net, i, j, row):",
        '    """Every term\'s change statistic of dyad (i, j), added into `row`."""',
        "    for t in range(codes.shape[0]):",
        "        par = params[par_offsets[t] : par_offsets[t + 1]]",
        "        change(codes[t], net, i, j, par, row, col_offsets[t])",
        "",
        "",
        "@njit(parallel=True, cache=True)",
        "def dyad_rows(codes, par_offsets, params, col_offsets, net, tails, heads):",
        '    """Change statistics of the terms for the dyads (tails[r], heads[r]) only, by the per-dyad',
        '    kernels (bit for bit `design`\'s rows: its per-tail passes equal them), one row per dyad."""',
        "    out = np.zeros((tails.shape[0], col_offsets[-1]))",
        "    for r in prange(tails.shape[0]):",
        "        dyad_row(codes, par_offsets, params, col_offsets, net, tails[r], heads[r], out[r])",
        "    return out",
        "",
    ]
    return "\n".join(lines)
