"""Fanning work out to Dask as plain tasks, with every finished item checkpointed to disk.

Prefect orchestrates stages; the hundreds of refits inside a stage are plain distributed futures (a
Prefect task per refit would cost ~100 ms of bookkeeping each). Each item has a content key (the hash
of everything its result depends on), so:

- results never depend on the number of workers or the order they finish in (they are placed by index);
- a worker that dies mid-item has its items re-run elsewhere (distributed reschedules them; `retries`
  covers an exception raised by a dying worker's task);
- a re-run after a crash loads finished items from the checkpoint directory instead of recomputing.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


class CheckpointWarning(UserWarning):
    """A checkpoint could not be read (truncated or damaged) and is being recomputed."""


def content_key(*parts) -> str:
    """A stable hash of nested tuples/lists of arrays, numbers and strings (never of object identity)."""
    digest = hashlib.sha256()

    def feed(obj):
        if isinstance(obj, np.ndarray):
            digest.update(f"nd{obj.dtype.str}{obj.shape}".encode())
            digest.update(np.ascontiguousarray(obj).tobytes())
        elif isinstance(obj, (list, tuple)):
            digest.update(f"seq{len(obj)}(".encode())
            for item in obj:
                feed(item)
            digest.update(b")")
        elif isinstance(obj, dict):
            feed(sorted(obj.items()))
        elif isinstance(obj, (str, int, float, bool, np.integer, np.floating)) or obj is None:
            digest.update(f"{type(obj).__name__}:{obj!r};".encode())
        else:
            raise TypeError(f"cannot build a content key from a {type(obj).__name__}")

    feed(parts)
    return digest.hexdigest()[:24]


class Checkpoints:
    """Finished results, one file per key under a directory: an array as .npy, a dict of arrays as
    .npz (never pickle). Writes are atomic, so a crash never leaves a half-written checkpoint; one
    damaged afterwards (a truncated copy, a full disk, a bad block) is discarded with a
    CheckpointWarning and its item recomputed, instead of failing every rerun."""

    def __init__(self, directory: str | Path | None):
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def load(self, key: str) -> np.ndarray | dict[str, np.ndarray] | None:
        if self.directory is None:
            return None
        array, archive = self.directory / f"{key}.npy", self.directory / f"{key}.npz"
        path = array if array.exists() else archive if archive.exists() else None
        if path is None:
            return None
        try:
            if path is array:
                return np.load(array, allow_pickle=False)
            with np.load(archive, allow_pickle=False) as content:
                # reading every member checks each one's CRC-32, so damage inside the archive is caught here
                return {name: content[name] for name in content.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
            warnings.warn(
                f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); "
                "discarding it, the item will be recomputed",
                CheckpointWarning,
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            return None

    def fetch(self, key: str, compute: Callable[[], object], encode: Callable, decode: Callable):
        """decode(the checkpoint under key) if there is one, else compute(), saved as encode(result)."""
        saved = self.load(key)
        if saved is not None:
            return decode(saved)
        result = compute()
        self.save(key, encode(result))
        return result

    def save(self, key: str, value: np.ndarray | dict[str, np.ndarray]) -> None:
        if self.directory is None:
            return
        if isinstance(value, dict):
            arrays = {name: np.asarray(v) for name, v in value.items()}
            suffix, write = ".npz", lambda handle: np.savez(handle, **arrays)
        else:
            arrays = {"value": np.asarray(value)}
            suffix, write = ".npy", lambda handle: np.save(handle, arrays["value"], allow_pickle=False)
        if any(array.dtype == object for array in arrays.values()):
            raise TypeError("checkpointed results must be numeric or string arrays")
        path = self.directory / f"{key}{suffix}"
        partial = self.directory / f".{key}{suffix}.partial"
        with open(partial, "wb") as handle:
            write(handle)
        partial.replace(path)


# A task costs the scheduler and the client a few ms of CPU (measured ~4 ms each with 2 workers on 2
# cores, where it is taken from the workers), so many short items go several to a task: in guided
# chunks, a quarter of each thread's share of what is left and at most MAX_ITEMS_PER_TASK, which shrink
# to single items at the end so that no worker waits on another's long last chunk. (900 sensitivity
# refits: 891 tasks -> ~130.) Results never depend on it: each item is computed alone, placed by index.
MAX_ITEMS_PER_TASK = 8


def task_chunks(count: int, threads: int) -> list[range]:
    """Consecutive ranges covering range(count), one per task, for `threads` worker threads."""
    chunks, start = [], 0
    while start < count:
        size = max(1, min(MAX_ITEMS_PER_TASK, (count - start) // (4 * max(1, threads))))
        chunks.append(range(start, start + size))
        start += size
    return chunks


def _call_each(fn, items):
    return [fn(item) for item in items]


def map_on_dask(
    client,
    fn: Callable,
    items: Sequence,
    *,
    label: str,
    keys: Sequence[str] | None = None,
    checkpoints: Checkpoints | None = None,
    progress: Callable[[int], None] | None = None,
    retries: int = 3,
    encode: Callable | None = None,
    decode: Callable | None = None,
) -> list:
    """[fn(item) for item in items], computed as Dask tasks, in item order.

    fn is shipped to the workers once (it usually holds a large design); items go one or a few to a
    task (task_chunks).
    keys: the content key of each item (default: content_key(item)); with checkpoints, finished
    items are loaded, not recomputed, and new results are saved as they arrive.
    progress(n) is called with the number of items just finished (cached ones included).
    encode(result) -> array or dict of arrays / decode(that) -> result: how results that are not
    arrays are checkpointed (default: results are arrays).
    """
    from distributed import as_completed

    items = list(items)
    keys = list(keys) if keys is not None else [content_key(label, item) for item in items]
    if len(keys) != len(items):
        raise ValueError(f"{len(keys)} keys for {len(items)} items")
    checkpoints = checkpoints or Checkpoints(None)
    results: list = [None] * len(items)
    todo = []
    for k, key in enumerate(keys):
        cached = checkpoints.load(key)
        if cached is None:
            todo.append(k)
        else:
            results[k] = decode(cached) if decode else cached
    if progress and len(todo) < len(items):
        progress(len(items) - len(todo))
    if not todo:
        return results
    [fn_future] = client.scatter([fn], broadcast=True, hash=False)
    chunks = [[todo[i] for i in chunk] for chunk in task_chunks(len(todo), sum(client.nthreads().values()))]
    futures = client.map(
        _call_each,
        [fn_future] * len(chunks),
        [[items[k] for k in chunk] for chunk in chunks],
        key=[f"{label}-{keys[chunk[0]]}-{len(chunk)}" for chunk in chunks],
        retries=retries,
        pure=False,
    )
    index = {future.key: chunk for future, chunk in zip(futures, chunks)}
    try:
        for future in as_completed(futures, loop=client.loop):
            chunk = index[future.key]
            for k, value in zip(chunk, future.result(), strict=True):
                results[k] = value
                checkpoints.save(keys[k], encode(value) if encode else value)
            if progress:
                progress(len(chunk))
    finally:
        client.cancel(futures)
        fn_future.release()
    return results


def batch_mapper(
    client, *, label: str, key_parts=(), checkpoints: Checkpoints | None = None, progress=None, encode=None, decode=None
):
    """A `map_batches(fn, batches) -> list` for tergm.btergm / fit_design, keyed by (key_parts, batch)."""

    def map_batches(fn, batches):
        batches = list(batches)
        keys = [content_key(label, key_parts, batch) for batch in batches]
        return map_on_dask(
            client,
            fn,
            batches,
            label=label,
            keys=keys,
            checkpoints=checkpoints,
            progress=progress,
            encode=encode,
            decode=decode,
        )

    return map_batches
