"""Worker plugins every cluster dyadflow starts registers."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin


class NumbaThreadsFromEnvironment(WorkerPlugin):
    """numba reads NUMBA_NUM_THREADS when it is imported, and a spawned worker imports it (with the
    parent's __main__) before the Nanny sets the worker's environment. Without a reload the worker
    runs the parent's thread count, and its first compile after a parallel launch fails ("Cannot set
    NUMBA_NUM_THREADS ... once the threads have been launched")."""

    def setup(self, worker) -> None:
        from numba.core import config
        from numba.np.ufunc import parallel

        config.reload_config()
        if parallel._is_initialized:
            if parallel.NUM_THREADS != config.NUMBA_NUM_THREADS:
                raise RuntimeError(
                    f"numba launched {parallel.NUM_THREADS} threads in this worker before its "
                    f"NUMBA_NUM_THREADS={config.NUMBA_NUM_THREADS} could apply"
                )
            return
        # numba sizes its thread pool from a copy taken at import, which reload_config leaves alone
        parallel.NUM_THREADS = config.NUMBA_NUM_THREADS
