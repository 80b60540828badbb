"""flows.fanout.Checkpoints: what a finished item leaves on disk, and a damaged checkpoint (truncated,
altered) discarded with a warning and recomputed instead of failing every rerun."""

from __future__ import annotations

import numpy as np
import pytest

from dyadflow.flows.fanout import Checkpoints, CheckpointWarning

pytestmark = pytest.mark.slow  # the fast lane (pytest -m "not slow") leaves these out

ARRAY = np.arange(40, dtype=np.float64).reshape(8, 5) / 7
ARCHIVE = {"coef": ARRAY, "converged": np.array([True, False, True]), "diverging": np.asarray('[["edges"]]')}


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


@pytest.mark.parametrize("value,suffix", [(ARRAY, ".npy"), (ARCHIVE, ".npz")])
def test_round_trip(tmp_path, value, suffix):
    checkpoints = Checkpoints(tmp_path)
    assert checkpoints.load("k") is None
    checkpoints.save("k", value)
    assert [p.name for p in tmp_path.iterdir()] == [f"k{suffix}"]  # no partial file left behind
    assert _equal(checkpoints.load("k"), value)


@pytest.mark.parametrize("value,suffix", [(ARRAY, ".npy"), (ARCHIVE, ".npz")])
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.95])
def test_truncated_checkpoint_is_discarded_with_a_warning(tmp_path, value, suffix, keep):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save("k", value)
    path = tmp_path / f"k{suffix}"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.warns(CheckpointWarning, match=rf"checkpoint .*k\{suffix} cannot be read .* recomputed"):
        assert checkpoints.load("k") is None
    assert not path.exists()  # removed, so the recomputed result can be saved in its place
    checkpoints.save("k", value)
    assert _equal(checkpoints.load("k"), value)


def test_altered_archive_member_is_caught_by_its_checksum(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save("k", ARCHIVE)
    path = tmp_path / "k.npz"
    data = bytearray(path.read_bytes())
    stored = ARRAY.tobytes()
    at = bytes(data).index(stored[8:16])  # a byte inside the stored coefficients (np.savez does not compress)
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(CheckpointWarning, match="cannot be read"):
        assert checkpoints.load("k") is None


def test_altered_array_header_is_discarded(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save("k", ARRAY)
    path = tmp_path / "k.npy"
    path.write_bytes(b"not a numpy file" + path.read_bytes()[16:])
    with pytest.warns(CheckpointWarning):
        assert checkpoints.load("k") is None


def test_map_on_dask_recomputes_a_truncated_checkpoint(tmp_path, monkeypatch):
    """The item whose checkpoint is damaged is recomputed (and saved again); the others are loaded."""
    from dyadflow.flows.fanout import map_on_dask

    class InProcessClient:
        """Just enough of distributed.Client for map_on_dask's bookkeeping, computing in this process."""

        loop = None

        def scatter(self, values, **_):
            return [_Ready(v) for v in values]

        def map(self, fn, *iterables, key, **_):
            return [_Ready(fn(f.value, item), k) for f, item, k in zip(iterables[0], iterables[1], key)]

        def cancel(self, futures):
            pass

        def nthreads(self):
            return {"in-process": 1}

    calls = []

    def square(x):
        calls.append(x)
        return np.array([x * x], dtype=np.int64)

    checkpoints = Checkpoints(tmp_path)
    for x in (1, 2, 3):
        checkpoints.save(f"key{x}", square(x))
    calls.clear()
    (tmp_path / "key2.npy").write_bytes((tmp_path / "key2.npy").read_bytes()[:20])
    import distributed

    monkeypatch.setattr(distributed, "as_completed", lambda futures, **_: iter(futures))
    with pytest.warns(CheckpointWarning):
        results = map_on_dask(
            InProcessClient(), square, [1, 2, 3], label="t", keys=["key1", "key2", "key3"], checkpoints=checkpoints
        )
    assert calls == [2]
    assert [int(r[0]) for r in results] == [1, 4, 9]
    assert int(checkpoints.load("key2")[0]) == 4


class _Ready:
    def __init__(self, value, key=None):
        self.value, self.key = value, key

    def result(self):
        return self.value

    def release(self):
        pass
