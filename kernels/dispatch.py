"""Entry points for every structural change statistic, by kernel code: `change(code, ...)` routes a code
to its per-dyad kernel (summary statistics and the MCMC sampler, kernels/sampler.py, call kernels
this way); `dyad_change_matrix` fills the MPLE design with each code's own parallel driver, which
runs the kernel's per-tail pass or its per-dyad kernel. Routing is by integer code, fixed at compile
time, so numba can cache everything (jitted functions passed as arguments defeat numba's cache).

Codes, the `change` chain and the per-code drivers are generated from the kernel registry
(kernels/registry.py) into kernels/_generated.py, rewritten here on import whenever the registry has
changed. Adding a term:
write its kernel with an @kernel registration in a family module, and register the term (arguments,
coefficient names) in tergm/terms.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numba
import numpy as np

from dyadflow.kernels import registry
from dyadflow.kernels.cache import needs_compiling, stamp_with_kernel_sources
from dyadflow.kernels.network import network_state_dispatchers

_GENERATED = Path(__file__).with_name("_generated.py")


def _write_generated_dispatch() -> None:
    """Keep kernels/_generated.py equal to what the registry generates (atomic replace, so several
    processes importing at once never read a half-written file)."""
    source = registry.dispatch_source()
    try:
        if _GENERATED.read_text(encoding="utf-8") == source:
            return
    except FileNotFoundError:
        pass
    try:
        handle, temporary = tempfile.mkstemp(dir=_GENERATED.parent, prefix="._generated.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(source)
        os.replace(temporary, _GENERATED)
    except OSError as error:
        raise ImportError(
            f"{_GENERATED} is out of date with the kernel registry and cannot be rewritten ({error}); "
            "reinstall dyadflow, or import it once from a writable checkout"
        ) from error


_write_generated_dispatch()
_generated = importlib.import_module("dyadflow.kernels._generated")
# change(code, net, i, j, par, out, col): add stat(y with i->j) - stat(y without i->j) of kernel `code`
# (parameters `par`, float64) into out[col:...], the rest of y as in `net`, whether or not i->j is
# present -- ergm's change statistic, for the MPLE design, summary statistics and an MCMC sampler.
change = _generated.change
CODES: dict[str, int] = dict(_generated.CODES)
_ROWS = _generated.ROWS

# Drivers (registry.drivers_source: the MPLE design, summary statistics), one module per set of kernel
# codes, generated into files of their own -- numba caches functions of real files only -- in a cache folder next to this module (ignored
# by git, never part of the kernel sources' stamp or digest), or a temporary folder where that is
# not writable (an installed package).
_DRIVERS_DIR = Path(__file__).with_name("__pycache__") / "drivers"
_drivers_modules: dict[tuple[int, ...], object] = {}


def _write_if_changed(path: Path, source: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == source:
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(source)
    os.replace(temporary, path)  # atomic: processes importing at once never read a half-written file


def _drivers(codes) -> ModuleType:
    """The drivers module of these kernel codes (generated, written and imported on first use)."""
    key = tuple(sorted({int(code) for code in codes}))
    module = _drivers_modules.get(key)
    if module is not None:
        return module
    source = registry.drivers_source(key)
    name = "drivers_" + "_".join(str(code) for code in key) if key else "drivers_none"
    for folder in (_DRIVERS_DIR, Path(tempfile.gettempdir()) / f"dyadflow-drivers-{os.getuid()}"):
        try:
            _write_if_changed(folder / f"{name}.py", source)
            break
        except OSError as error:
            failure = error
    else:
        raise ImportError(f"cannot write the kernel drivers {name}.py ({failure})")
    spec = importlib.util.spec_from_file_location(f"dyadflow.kernels._drivers.{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    # they compile the kernels into themselves
    stamp_with_kernel_sources(
        module.design,
        module.tail_rows,
        module.change,
        module.statistics_from_empty,
        module.dyad_row,
        module.dyad_rows,
    )
    _drivers_modules[key] = module
    return module


def _packed_terms(codes, par_offsets, params, col_offsets) -> tuple[np.ndarray, ...]:
    """The packed terms as the drivers take them, codes checked: one array type for every call
    (C-contiguous, writable), so one compilation per driver."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and not ((codes >= 0) & (codes < len(_ROWS))).all():
        raise ValueError(f"unknown change-statistic code in {codes.tolist()}")
    return (
        np.array(codes, order="C"),
        np.array(par_offsets, dtype=np.int64, order="C"),
        np.array(params, dtype=np.float64, order="C"),
        np.array(col_offsets, dtype=np.int64, order="C"),
    )


def dyad_change_matrix(codes, par_offsets, params, col_offsets, net, out: np.ndarray | None = None) -> np.ndarray:
    """Change statistics of several terms for every dyad of `net`, one row per dyad.

    Rows are in ergm's order: tail-major over i != j (directed) or i < j (undirected).
    Term t has code codes[t], parameters params[par_offsets[t]:par_offsets[t+1]] and writes
    columns col_offsets[t]:col_offsets[t+1]. Runs the design driver of exactly these codes, which
    compiles (once, then numba's disk cache) only their kernels.
    out: a writable C-contiguous float64 (rows, at least col_offsets[-1] columns) array whose columns
    col_offsets[0]:col_offsets[-1] are overwritten, the others left as they are; returned. A design's
    own rows (col_offsets shifted to its change-statistic columns): no temporary matrix, which where
    malloc's thresholds are fixed, as on Dask workers, costs an mmap and its page faults per period.
    Default: a new (rows, col_offsets[-1]) array.
    """
    terms = _packed_terms(codes, par_offsets, params, col_offsets)
    n = net.adj.shape[0]
    rows, columns = n * (n - 1) if net.directed else n * (n - 1) // 2, int(terms[3][-1])
    if out is None:
        out = np.empty((rows, columns))
    elif (
        out.ndim != 2
        or out.shape[0] != rows
        or out.shape[1] < columns
        or out.dtype != np.float64
        or not (out.flags.c_contiguous and out.flags.writeable)
    ):
        raise ValueError(
            f"out must be a writable C-contiguous float64 array of {rows} rows and at least {columns} columns, "
            f"got {out.dtype} {out.shape}"
        )
    return _drivers(terms[0].tolist()).design(*terms, net, out, numba.get_num_threads())


def dyad_rows_change_matrix(codes, par_offsets, params, col_offsets, net, tails, heads) -> np.ndarray:
    """dyad_change_matrix's rows of the dyads (tails[r], heads[r]) only, bit for bit (the per-dyad
    kernels, which the per-tail passes equal)."""
    terms = _packed_terms(codes, par_offsets, params, col_offsets)
    dyads = (np.array(tails, dtype=np.int64, order="C"), np.array(heads, dtype=np.int64, order="C"))
    return _drivers(terms[0].tolist()).dyad_rows(*terms, net, *dyads)


def design_needs_compiling(codes) -> bool:
    """Whether the first design of these kernel codes (dyad_change_matrix and the network state it
    reads) will compile numba code rather than load it from the disk cache: minutes on a first run,
    which a progress display should say."""
    driver = _drivers(np.asarray(codes, dtype=np.int64).tolist()).design
    return needs_compiling(*network_state_dispatchers(), driver)


def statistics_from_empty(codes, par_offsets, params, col_offsets, net, tails, heads) -> np.ndarray:
    """g(y) - g(empty) of the packed terms (dyad_change_matrix's layout) for the ties (tails[k],
    heads[k]), found as ergm's summary does: the ties added one at a time to an empty network `net`
    (a kernels.sampler.sampler_state, left holding the ties), their change statistics summed.
    Compiles (once, then numba's disk cache) only these codes' kernels."""
    terms = _packed_terms(codes, par_offsets, params, col_offsets)
    ties = (np.array(tails, dtype=np.int64, order="C"), np.array(heads, dtype=np.int64, order="C"))
    return _drivers(terms[0].tolist()).statistics_from_empty(*terms, net, *ties)


def statistics_need_compiling(codes) -> bool:
    """Whether statistics_from_empty of these codes will compile rather than load numba's disk cache."""
    return needs_compiling(_drivers(np.asarray(codes, dtype=np.int64).tolist()).statistics_from_empty)


# These compile the kernels of every family into themselves: their disk cache must follow those files.
stamp_with_kernel_sources(change, *_ROWS)


def dyad_index(n: int, directed: bool) -> np.ndarray:
    """(m, 2) tail/head indices of the rows `dyad_change_matrix` returns."""
    tails, heads = np.nonzero(~np.eye(n, dtype=bool)) if directed else np.triu_indices(n, 1)
    return np.column_stack([tails, heads]).astype(np.int64)
