"""Keep numba's on-disk cache of functions that call kernels honest.

numba stamps a cached function with the modification time and size of its own source file only.
`kernels.dispatch.change` compiles the kernels of kernels/degree.py and kernels/triadic.py into
itself, so after an edit to a kernel module its cached machine code would still run the old kernel
-- silently wrong numbers. `stamp_with_kernel_sources` makes the stamp cover every module in
kernels/, so editing any of them recompiles the functions that inline them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

KERNEL_DIR = Path(__file__).parent


def kernel_sources_stamp() -> tuple:
    """(name, mtime_ns, size) of every kernel module: changes whenever any of them is edited."""
    stamp = []
    for path in sorted(KERNEL_DIR.glob("*.py")):
        stat = path.stat()
        stamp.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(stamp)


def kernel_sources_digest() -> str:
    """A content hash of every kernel module: what cached change statistics depend on (unlike
    `kernel_sources_stamp`, it survives a checkout or copy that only touches modification times)."""
    digest = hashlib.sha256()
    for path in sorted(KERNEL_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def stamp_with_kernel_sources(*dispatchers) -> None:
    """Make each `@njit(cache=True)` dispatcher's disk cache stale when any kernel module changes.

    Uses numba's cache-file internals (numba 0.60-0.68: dispatcher._cache._cache_file._source_stamp,
    compared against the stamp stored in the index file on load and written on save). Where they are
    missing (another numba), the dispatcher keeps numba's own per-file stamp.
    """
    stamp = kernel_sources_stamp()
    for dispatcher in dispatchers:
        cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
        if cache_file is not None and hasattr(cache_file, "_source_stamp"):
            cache_file._source_stamp = (cache_file._source_stamp, stamp)


def needs_compiling(*dispatchers) -> bool:
    """Whether calling these `@njit(cache=True)` dispatchers will compile (a first run, or the first
    after an edit to a kernel or a numba upgrade), rather than load numba's disk cache: True when one
    has no compiled overload in this process and no cache entry that is valid for the current sources.

    Reads numba's cache index (numba 0.60-0.68: dispatcher._cache._cache_file._load_index(), which
    returns {} for a missing or stale index). Where those internals are missing it answers True for
    a dispatcher not yet compiled in this process, so a first run is never reported as cached.
    """
    for dispatcher in dispatchers:
        if dispatcher.signatures:
            continue
        cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
        load_index = getattr(cache_file, "_load_index", None)
        if load_index is None:
            return True
        try:
            if not load_index():
                return True
        except (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError):
            return True  # an unreadable index: numba will compile
    return False
