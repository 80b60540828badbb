"""The Dask cluster a run computes on, built from the run spec's `[cluster]` table.

Kinds:
- ``local`` (default): a LocalCluster of process workers sized to the machine (one single-threaded
  worker per core: numba kernels and BLAS run one thread each, so workers never oversubscribe).
- ``address``: an existing scheduler (``tcp://host:8786``); nothing is started or stopped.
- ``slurm`` / ``pbs``: dask-jobqueue (``pip install dyadflow[slurm]``).
- ``kubernetes``: dask-kubernetes (``pip install dyadflow[kubernetes]``).

Every worker gets ``NUMBA_NUM_THREADS`` (and the BLAS thread counts) from the spec, so the result of a
task never depends on how many threads a worker machine has.
"""

from __future__ import annotations

if __name__ != "dyadflow.cluster":  # the folder is installed as dyadflow.cluster (pyproject.toml)
    raise ImportError("import dyadflow.cluster, not cluster: this folder is part of the dyadflow package")


import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

KINDS = ("local", "address", "slurm", "pbs", "kubernetes")


class ClusterSpecError(ValueError):
    """A `[cluster]` table that cannot describe a cluster; the message names the field."""


@dataclass(frozen=True)
class ClusterSpec:
    kind: str = "local"
    workers: int | None = None  # local: default one per core; slurm/pbs/kubernetes: jobs/pods to start
    threads_per_worker: int = 1
    address: str | None = None  # kind = "address"
    memory_limit: str = "auto"
    options: Mapping[str, object] = field(default_factory=dict)  # passed to the jobqueue/kubernetes class

    @classmethod
    def from_mapping(cls, table: Mapping | None, *, address: str | None = None) -> ClusterSpec:
        """Parse a `[cluster]` table; `address` (e.g. the CLI's --cluster) overrides it."""
        table = dict(table or {})
        known = {"kind", "workers", "threads_per_worker", "address", "memory_limit", "options"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ClusterSpecError(f"[cluster]: unknown keys {unknown}; known keys are {sorted(known)}")
        if address:
            table["kind"], table["address"] = "address", address
        kind = str(table.get("kind", "address" if table.get("address") else "local"))
        if kind not in KINDS:
            raise ClusterSpecError(f"[cluster] kind = {kind!r}: expected one of {list(KINDS)}")
        workers = table.get("workers")
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise ClusterSpecError(f"[cluster] workers = {workers!r}: expected a positive integer")
        threads = table.get("threads_per_worker", 1)
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ClusterSpecError(f"[cluster] threads_per_worker = {threads!r}: expected a positive integer")
        if kind == "address" and not table.get("address"):
            raise ClusterSpecError("[cluster] kind = 'address' needs address = 'tcp://host:port'")
        options = table.get("options", {})
        if not isinstance(options, Mapping):
            raise ClusterSpecError("[cluster] options must be a table")
        return cls(
            kind=kind,
            workers=workers,
            threads_per_worker=threads,
            address=table.get("address"),
            memory_limit=str(table.get("memory_limit", "auto")),
            options=dict(options),
        )

    def worker_env(self) -> dict[str, str]:
        """Environment of every worker process: thread counts pinned to threads_per_worker."""
        threads = str(self.threads_per_worker)
        return {
            "NUMBA_NUM_THREADS": threads,
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }


def quiet_dask_logs(level: int = logging.WARNING) -> None:
    """distributed logs every worker start at INFO; a run's output should be its progress, not that."""
    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.worker",
                 "distributed.core", "distributed.http.proxy", "distributed.deploy"):
        logging.getLogger(name).setLevel(level)


def default_local_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def dask_client(spec: ClusterSpec | None = None) -> Iterator:
    """A distributed.Client on the cluster `spec` describes; the cluster is closed on exit (unless it
    was an existing scheduler, which is left running)."""
    from distributed import Client

    spec = spec or ClusterSpec()
    quiet_dask_logs()
    if spec.kind == "address":
        with Client(spec.address, set_as_default=False) as client:
            yield client
        return
    with _start_cluster(spec) as cluster:
        with Client(cluster, set_as_default=False) as client:
            if spec.kind != "local":
                client.wait_for_workers(1)
            yield client


@contextlib.contextmanager
def _start_cluster(spec: ClusterSpec):
    env = spec.worker_env()
    if spec.kind == "local":
        from distributed import LocalCluster

        cluster = LocalCluster(
            n_workers=spec.workers or default_local_workers(),
            threads_per_worker=spec.threads_per_worker,
            processes=True,
            memory_limit=spec.memory_limit,
            dashboard_address=":0",  # a free port: never collides with another cluster on the machine
            env=env,
            silence_logs=logging.WARNING,
            **dict(spec.options),
        )
    elif spec.kind in ("slurm", "pbs"):
        try:
            import dask_jobqueue
        except ImportError as error:
            raise ClusterSpecError(
                f"[cluster] kind = {spec.kind!r} needs dask-jobqueue: pip install 'dyadflow[{spec.kind}]'"
            ) from error
        cls = dask_jobqueue.SLURMCluster if spec.kind == "slurm" else dask_jobqueue.PBSCluster
        options = {"cores": spec.threads_per_worker, "processes": 1, "memory": "4GB", **dict(spec.options)}
        options.setdefault("job_script_prologue", [f"export {k}={v}" for k, v in env.items()])
        cluster = cls(**options)
        cluster.scale(jobs=spec.workers or 1)
    else:  # kubernetes
        try:
            from dask_kubernetes.operator import KubeCluster
        except ImportError as error:
            raise ClusterSpecError(
                "[cluster] kind = 'kubernetes' needs dask-kubernetes: pip install 'dyadflow[kubernetes]'"
            ) from error
        options = {"name": "dyadflow", "n_workers": spec.workers or 1, "env": env, **dict(spec.options)}
        cluster = KubeCluster(**options)
    try:
        yield cluster
    finally:
        cluster.close()
