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


class ClusterStartError(RuntimeError):
    """The cluster a `[cluster]` table describes did not start, or its scheduler did not answer; the
    message says which cluster and the first cause (e.g. why a worker failed)."""


def _root_cause(error: BaseException) -> str:
    """The innermost explicit cause's message: "Nanny failed to start" says less than why it did."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or (error.__context__ if not error.__suppress_context__ else None)
    messages = [" ".join(str(e).split()) or type(e).__name__ for e in seen]
    return messages[0] if len(messages) == 1 else f"{messages[0]} ({type(seen[-1]).__name__}: {messages[-1]})"


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
        from dyadflow.storage.validation import check_keys

        known = ("kind", "workers", "threads_per_worker", "address", "memory_limit", "options")
        check_keys(table, known, "[cluster]", ClusterSpecError)
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
        memory_limit = table.get("memory_limit")
        if memory_limit and (not isinstance(memory_limit, (str, int)) or isinstance(memory_limit, bool)):
            raise ClusterSpecError(f"[cluster] memory_limit = {memory_limit!r}: expected a size such as '4GB'")
        check_options(kind, options)
        return cls(
            kind=kind,
            workers=workers,
            threads_per_worker=threads,
            address=table.get("address"),
            memory_limit=str(table.get("memory_limit", "auto")),
            options=dict(options),
        )

    def worker_env(self) -> dict[str, str]:
        """Environment of every worker process: thread counts pinned to threads_per_worker, and Dask's
        statistical profiler off (it samples the task thread's stack 100 times a second, under the
        GIL, and sees only the Python frame that called a numba kernel: measured 3 % of a refit)."""
        threads = str(self.threads_per_worker)
        return {
            "NUMBA_NUM_THREADS": threads,
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
        }


def _named_parameters(*callables) -> set[str] | None:
    """Every named parameter of the callables' __init__ along their class hierarchies."""
    import inspect

    names: set[str] = set()
    for cls in callables:
        for klass in getattr(cls, "__mro__", (cls,)):
            if klass is object or "__init__" not in vars(klass):
                continue
            for parameter in inspect.signature(klass.__init__).parameters.values():
                if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                    names.add(parameter.name)
    names.discard("self")
    return names


def _option_names(kind: str) -> set[str] | None:
    """The keyword arguments the cluster class of `kind` accepts (its own and those it passes on to
    the jobs/workers it starts), or None when the class is not installed (refused later, clearly)."""
    try:
        if kind == "local":
            from distributed import LocalCluster, Nanny, Worker

            return _named_parameters(LocalCluster, Nanny, Worker)
        if kind in ("slurm", "pbs"):
            from dask_jobqueue.core import Job, JobQueueCluster

            if kind == "slurm":
                from dask_jobqueue.slurm import SLURMJob as job
            else:
                from dask_jobqueue.pbs import PBSJob as job
            return _named_parameters(JobQueueCluster, job, Job)
        if kind == "kubernetes":
            import inspect

            from dask_kubernetes.operator import KubeCluster

            parameters = inspect.signature(KubeCluster.__init__).parameters.values()
            if any(p.kind == p.VAR_KEYWORD for p in parameters):
                return None  # passes further options on to a base class we cannot enumerate
            return _named_parameters(KubeCluster)
    except ImportError:
        return None
    return set()


def check_options(kind: str, options: Mapping) -> None:
    """Refuse `[cluster] options` the cluster class does not take, before anything is started (an
    unknown LocalCluster option otherwise surfaces as "Nanny failed to start")."""
    if not options:
        return
    from dyadflow.storage.validation import unknown_key_message

    if kind == "address":
        raise ClusterSpecError("[cluster] options: an existing scheduler (kind = 'address') takes no options")
    accepted = _option_names(kind)
    if accepted is None:
        return
    managed = {"local": {"n_workers", "threads_per_worker", "processes", "env", "silence_logs", "memory_limit"}}.get(
        kind, set()
    )
    for key in options:
        if key in managed:
            raise ClusterSpecError(
                f"[cluster] options: {key!r} is set by dyadflow from the [cluster] table "
                "(workers, threads_per_worker); set it there"
            )
        if key not in accepted:
            raise ClusterSpecError(unknown_key_message(str(key), accepted, f"[cluster.options] (kind = {kind!r})"))


class OneLineFormatter(logging.Formatter):
    """distributed's log lines without their tracebacks (the `dyadflow` command's console, unless
    --verbose): a worker that cannot start is reported once, as a ClusterStartError naming the cause."""

    def formatException(self, ei) -> str:
        return ""

    def formatStack(self, stack_info) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None
        return super().format(record).rstrip()


def one_line_dask_logs() -> None:
    """distributed logs without tracebacks in this process and in every worker process started from
    it: dask reads DASK_LOGGING (a Python literal) when distributed is imported, so call this before."""
    os.environ["DASK_LOGGING"] = repr(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "one_line": {
                    "class": f"{__name__}.OneLineFormatter",
                    "format": "%(asctime)s - %(name)s - %(levelname)s - %(message)s",
                }
            },
            "handlers": {
                "console": {"class": "logging.StreamHandler", "formatter": "one_line", "stream": "ext://sys.stderr"}
            },
            "loggers": {"distributed": {"level": "WARNING", "handlers": ["console"], "propagate": False}},
        }
    )


def quiet_dask_logs(level: int = logging.WARNING) -> None:
    """distributed logs every worker start at INFO; a run's output should be its progress, not that."""
    for name in (
        "distributed",
        "distributed.scheduler",
        "distributed.nanny",
        "distributed.worker",
        "distributed.core",
        "distributed.http.proxy",
        "distributed.deploy",
    ):
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
        try:
            client = Client(spec.address, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterStartError(
                f"[cluster] the Dask scheduler at {spec.address} did not answer: {_root_cause(error)}"
            ) from error
        with client:
            yield client
        return
    with _start_cluster(spec) as cluster, Client(cluster, set_as_default=False) as client:
        from dyadflow.cluster.plugins import NumbaThreadsFromEnvironment

        client.register_plugin(NumbaThreadsFromEnvironment(), name="dyadflow-numba-threads")
        if spec.kind != "local":
            client.wait_for_workers(1)
        yield client


# A local cluster shares its cores with the scheduler and nannies: Dask's default polling (each
# process's memory every 100 ms, system metrics every 500 ms, an event-loop tick every 20 ms) costs an
# idle worker ~5 % of a core, taken from the tasks. Polled once a second or two (memory limits are still
# enforced, within a second): measured 2-3 % off the 900-refit sensitivity batch on 2 workers.
LOCAL_MONITOR_INTERVALS = {
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "1s",
}


@contextlib.contextmanager
def _start_cluster(spec: ClusterSpec):
    env = spec.worker_env()
    if spec.kind == "local":
        import dask
        from distributed import LocalCluster

        workers = spec.workers or default_local_workers()
        try:
            # a local cluster's nannies hand their own Dask configuration to the workers they start,
            # over the environment's: the profiler setting of worker_env() must be in it too
            with dask.config.set({"distributed.worker.profile.enabled": False, **LOCAL_MONITOR_INTERVALS}):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=spec.threads_per_worker,
                    processes=True,
                    memory_limit=spec.memory_limit,
                    env=env,
                    silence_logs=logging.WARNING,
                    # a free port by default: never collides with another cluster on the machine
                    **{"dashboard_address": ":0", **dict(spec.options)},
                )
        except Exception as error:
            raise ClusterStartError(
                f"[cluster] the local Dask cluster ({workers} worker process(es)) did not start: {_root_cause(error)}"
            ) from error
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
        try:
            cluster = cls(**options)
        except Exception as error:
            raise ClusterStartError(f"[cluster] the {spec.kind} cluster did not start: {_root_cause(error)}") from error
        cluster.scale(jobs=spec.workers or 1)
    else:  # kubernetes
        try:
            from dask_kubernetes.operator import KubeCluster
        except ImportError as error:
            raise ClusterSpecError(
                "[cluster] kind = 'kubernetes' needs dask-kubernetes: pip install 'dyadflow[kubernetes]'"
            ) from error
        options = {"name": "dyadflow", "n_workers": spec.workers or 1, "env": env, **dict(spec.options)}
        try:
            cluster = KubeCluster(**options)
        except Exception as error:
            raise ClusterStartError(f"[cluster] the kubernetes cluster did not start: {_root_cause(error)}") from error
    try:
        yield cluster
    finally:
        cluster.close()
