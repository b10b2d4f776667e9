"""Executors: run plain tasks in this process, in a local process pool, or on Dask.

Workers receive plain data (the base scenario mapping and the override strings), never built
objects, so the same task runs in-process, in a process pool, or on a Dask cluster, and what
comes back is plain data too (the runner's metrics).

A task is a mapping::

    {"base": {...scenario...}, "overrides": ["parallel.microbatches=16", ...], "level": "sim",
     "base_dir": "folder for the scenario's relative paths" or None, "run_id": "any label"}

and its result ``{"run_id", "status": "ok" | "error", "error": one line, "metrics": {...}}``.
Any failure of a run becomes ``status: error`` with a one-line message, so one bad point never
stops the others. ``run_sweep`` drives these executors and records each result in results.csv.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from pipesim.scenario.schema import suggest
from pipesim.sweep.spec import SweepError

EXECUTORS = ("process", "dask", "serial")
STATUS_OK, STATUS_ERROR = "ok", "error"
DASK_INSTALL = "pip install -e '.[dask]' (or pip install 'dask[distributed]')"

Task = Mapping[str, Any]
K = TypeVar("K")
Stream = Generator[tuple[K, dict[str, Any]], None, None]


# --------------------------------------------------------------------------------------------
# The worker (plain data in, plain data out)


def run_point(task: Task) -> dict[str, Any]:
    """Run one task: load the scenario with its overrides, build it, run it at its level."""
    from pipesim.runner import run_built
    from pipesim.scenario import build, load_scenario

    out: dict[str, Any] = {"run_id": task.get("run_id", "")}
    try:
        scenario = load_scenario(task["base"], list(task["overrides"]), base_dir=task.get("base_dir"))
        built = build(scenario)
        outcome = run_built(built, task["level"])
        out.update(status=STATUS_OK, error="", metrics=outcome.metrics)
    except Exception as exc:
        out.update(status=STATUS_ERROR, error=one_line(exc), metrics={})
    return out


def one_line(exc: BaseException) -> str:
    """The first line of an error; the type is named when it is not a user-facing error (a bug)."""
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    first = next((line.strip() for line in str(message).splitlines() if line.strip()), "")
    if isinstance(exc, ValueError | KeyError | OSError) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _lost(task: Task, exc: BaseException) -> dict[str, Any]:
    return {"run_id": task.get("run_id", ""), "status": STATUS_ERROR, "metrics": {},
            "error": f"the worker running this point failed: {one_line(exc)}"}


# --------------------------------------------------------------------------------------------
# Progress


class Progress:
    """A rich progress bar on stderr, only when asked for and stderr is a terminal."""

    def __init__(self, enabled: bool, total: int, title: str) -> None:
        self.enabled = enabled and total > 0 and sys.stderr.isatty()
        self.total, self.title, self.errors = total, title, 0
        self._bar: Any = None
        self._task: Any = None

    def start(self) -> None:
        if not self.enabled or self._bar is not None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        self._bar.start()
        self._task = self._bar.add_task(self.title, total=self.total)

    def advance(self, ok: bool) -> None:
        self.errors += not ok
        if self._bar is not None:
            label = self.title + (f" [red]({self.errors} failed)[/red]" if self.errors else "")
            self._bar.update(self._task, advance=1, description=label)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# --------------------------------------------------------------------------------------------
# Executors: each yields (key, result) as runs finish; keys let callers match results to tasks.


def check_executor(executor: str, jobs: int | None, address: str | None) -> None:
    if executor not in EXECUTORS:
        hint = suggest(str(executor), EXECUTORS)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise SweepError(f"--executor: {executor!r} is not an executor{extra}; valid: {', '.join(EXECUTORS)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise SweepError(f"--jobs: {jobs!r} is not a whole number >= 1")
    if address is not None and executor != "dask":
        raise SweepError(f"--address {address}: a scheduler address is for --executor dask, not {executor}")


def stream(tasks: Sequence[tuple[K, Task]], executor: str, jobs: int | None, address: str | None,
           bar: Progress) -> Stream[K]:
    """Results of ``tasks`` in completion order (in task order for the serial executor).
    ``process`` with ``jobs=1`` or a single task runs here: a pool would only add start-up."""
    if executor == "dask":
        return _dask(tasks, jobs, address, bar)
    if executor == "serial" or jobs == 1 or len(tasks) <= 1:
        return _serial(tasks, bar)
    return _process_pool(tasks, min(jobs or os.cpu_count() or 1, len(tasks)), bar)


def _serial(tasks: Sequence[tuple[K, Task]], bar: Progress) -> Stream[K]:
    bar.start()
    for key, task in tasks:
        yield key, run_point(task)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent should react (it cancels the
    # pool and keeps the finished rows). Workers that also raised would print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _process_pool(tasks: Sequence[tuple[K, Task]], jobs: int, bar: Progress) -> Stream[K]:
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)
    try:
        futures = {pool.submit(run_point, task): (key, task) for key, task in tasks}
        # The bar's refresh thread starts only now: the workers were forked during submit, and
        # forking a process that runs other threads can deadlock the child.
        bar.start()
        for fut in as_completed(futures):
            key, task = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # the worker process died (killed, out of memory, ...)
                result = _lost(task, exc)
            yield key, result
    except BaseException:
        # Runs already executing would otherwise finish first and keep the interrupt waiting,
        # so the workers are stopped (taken before shutdown, which forgets them).
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True)


def _dask(tasks: Sequence[tuple[K, Task]], jobs: int | None, address: str | None, bar: Progress) -> Stream[K]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_as_completed
    except ImportError:
        raise SweepError(f"--executor dask needs dask.distributed, which is not installed; install it with "
                         f"{DASK_INSTALL}") from None
    with contextlib.ExitStack() as stack:
        if address is None:
            # No scheduler given: a throwaway cluster of single-threaded worker processes on this
            # machine (the simulations are pure Python, threads would contend for the GIL).
            cluster = stack.enter_context(LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                                                       processes=True, dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address, timeout="20s"))
            except (OSError, TimeoutError, ValueError) as exc:
                raise SweepError(f"--address {address}: cannot reach a Dask scheduler there ({one_line(exc)}); "
                                 "start one with `dask scheduler` (and `dask worker ADDR`), or omit --address "
                                 "to start a local cluster for this run") from None
        futures = client.map(run_point, [task for _, task in tasks], pure=False)
        by_key = {fut.key: item for fut, item in zip(futures, tasks, strict=True)}
        bar.start()
        try:
            for fut in dask_as_completed(futures):
                key, task = by_key[fut.key]
                try:
                    result = fut.result()
                except Exception as exc:  # the task was lost with its worker
                    result = _lost(task, exc)
                yield key, result
        finally:
            client.cancel(futures)
