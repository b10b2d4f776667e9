"""Executors: run plain tasks in this process, in a local process pool, or on Dask.

Workers receive plain data (the base scenario mapping and the override strings), never built
objects, so the same task runs in-process, in a process pool, or on a Dask cluster, and what
comes back is plain data too (the runner's metrics). A trace never leaves its worker: numbers
that need it are reduced there by a ``measure`` function (see ``run_tasks``).

A task is a mapping::

    {"base": {...scenario...}, "overrides": ["parallel.microbatches=16", ...], "level": "sim",
     "base_dir": "folder for the scenario's relative paths" or None, "run_id": "any label"}

and its result ``{"run_id", "status": "ok" | "error", "error": one line, "metrics": {...}}``
(plus ``"measured"`` when a ``measure`` function was given). Any failure of a run becomes
``status: error`` with a one-line message, so one bad point never stops the others.

``run_tasks`` is the public entry for scripts (the studies under ``scenarios/studies/``);
``run_sweep`` drives the same executors and records each result in results.csv.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from pipesim.scenario.schema import suggest
from pipesim.sweep.columns import LEVELS
from pipesim.sweep.spec import SweepError

EXECUTORS = ("process", "dask", "serial")
STATUS_OK, STATUS_ERROR = "ok", "error"
DASK_INSTALL = "pip install -e '.[dask]' (or pip install 'dask[distributed]')"
ORPHAN_POLL_S = 0.2  # how often a pool worker checks that its parent is still alive

Task = Mapping[str, Any]
# measure(built, outcome) -> plain data, called in the worker after a successful run. It must be
# a module-level function: process pools and Dask send it to the workers by name.
Measure = Callable[[Any, Any], Any]
K = TypeVar("K")
Stream = Generator[tuple[K, dict[str, Any]], None, None]


def make_task(base: Mapping[str, Any], overrides: Sequence[str] = (), level: str = "sim", *,
              base_dir: str | None = None, run_id: str = "") -> dict[str, Any]:
    """A task as the workers take it (checked here, in the caller, rather than in every worker)."""
    if level not in LEVELS:
        raise SweepError(f"level: {level!r} is not a level; choose {' or '.join(LEVELS)}")
    if isinstance(overrides, str):
        raise SweepError(f"overrides: {overrides!r} is one string; give a list of 'key.path=value' strings")
    return {"run_id": run_id, "base": dict(base), "base_dir": base_dir, "overrides": list(overrides),
            "level": level}


# --------------------------------------------------------------------------------------------
# The worker (plain data in, plain data out)


def run_point(task: Task, measure: Measure | None = None) -> dict[str, Any]:
    """Run one task: load the scenario with its overrides, build it, run it at its level."""
    from pipesim.runner import run_built
    from pipesim.scenario import build, load_scenario

    out: dict[str, Any] = {"run_id": task.get("run_id", "")}
    try:
        scenario = load_scenario(task["base"], list(task["overrides"]), base_dir=task.get("base_dir"))
        built = build(scenario)
        # Rows hold metrics only; a measure may read the trace, so only it keeps the records.
        outcome = run_built(built, task["level"], trace=measure is not None)
        out.update(status=STATUS_OK, error="", metrics=outcome.metrics)
        if measure is not None:
            out["measured"] = measure(built, outcome)
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

        self._bar = RichProgress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True, markup=False, highlight=False))
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
           bar: Progress, measure: Measure | None = None) -> Stream[K]:
    """Results of ``tasks`` in completion order (in task order for the serial executor).
    ``process`` with ``jobs=1`` or a single task runs here: a pool would only add start-up."""
    if executor == "dask":
        return _dask(tasks, jobs, address, bar, measure)
    if executor == "serial" or jobs == 1 or len(tasks) <= 1:
        return _serial(tasks, bar, measure)
    return _process_pool(tasks, min(jobs or os.cpu_count() or 1, len(tasks)), bar, measure)


def _serial(tasks: Sequence[tuple[K, Task]], bar: Progress, measure: Measure | None) -> Stream[K]:
    bar.start()
    for key, task in tasks:
        yield key, run_point(task, measure)


def _worker_init(parent: int) -> None:
    """Set up a pool worker. Ctrl-C reaches the whole process group; only the parent should
    react (it cancels the pool and keeps the finished rows), so workers ignore it. And a worker
    must never outlive its parent: if the parent is killed outright (SIGKILL, out of memory), no
    code of its runs to stop the pool, so each worker watches for being orphaned and exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True, name="orphan-watch").start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_S)
    os._exit(1)  # no cleanup to do: results live in the parent


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now. Runs already executing would otherwise finish first and keep an
    interrupt waiting, so the workers are terminated (taken before shutdown, which forgets them)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in workers:
        proc.terminate()


def _process_pool(tasks: Sequence[tuple[K, Task]], jobs: int, bar: Progress, measure: Measure | None) -> Stream[K]:
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(run_point, task, measure): (key, task) for key, task in tasks}
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
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True)


def _dask_client(stack: contextlib.ExitStack[Any], jobs: int | None, address: str | None) -> Any:
    """A Dask client entered on ``stack``: the scheduler at ``address``, or a throwaway local
    cluster of single-threaded worker processes (the work is pure Python; threads would
    contend for the GIL)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SweepError(f"--executor dask needs dask.distributed, which is not installed; install it with "
                         f"{DASK_INSTALL}") from None
    if address is None:
        cluster = stack.enter_context(LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                                                   processes=True, dashboard_address=None))
        return stack.enter_context(Client(cluster))
    try:
        return stack.enter_context(Client(address, timeout="20s"))
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError(f"--address {address}: cannot reach a Dask scheduler there ({one_line(exc)}); "
                         "start one with `dask scheduler` (and `dask worker ADDR`), or omit --address "
                         "to start a local cluster for this run") from None


def _dask(tasks: Sequence[tuple[K, Task]], jobs: int | None, address: str | None, bar: Progress,
          measure: Measure | None) -> Stream[K]:
    with contextlib.ExitStack() as stack:
        client = _dask_client(stack, jobs, address)
        from dask.distributed import as_completed as dask_as_completed
        futures = client.map(run_point, [task for _, task in tasks], measure=measure, pure=False)
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


# --------------------------------------------------------------------------------------------
# The public entry for scripts


def run_tasks(
    tasks: Sequence[Task],
    *,
    jobs: int | None = None,
    executor: str = "process",
    address: str | None = None,
    progress: bool = True,
    label: str = "runs",
    measure: Measure | None = None,
) -> list[dict[str, Any]]:
    """Run every task (see ``make_task``) and return their results in task order.

    ``executor`` and ``jobs`` as for ``run_sweep``: ``process`` (a pool of ``jobs`` workers,
    default one per CPU; ``jobs=1`` runs here), ``serial``, or ``dask``. ``progress`` shows the
    sweep's progress line, titled ``label``, when stderr is a terminal. ``measure(built,
    outcome)``, a module-level function, runs in the worker after each successful run; what it
    returns (plain data) is the result's ``"measured"``.
    """
    check_executor(executor, jobs, address)
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    bar = Progress(progress, len(tasks), label)
    runs = stream(list(enumerate(tasks)), executor, jobs, address, bar, measure)
    try:
        with contextlib.closing(runs):
            for i, result in runs:
                results[i] = result
                bar.advance(result["status"] == STATUS_OK)
    finally:
        bar.stop()
    done = [r for r in results if r is not None]
    if len(done) != len(tasks):  # pragma: no cover - every executor yields one result per task
        raise RuntimeError(f"{len(tasks) - len(done)} of {len(tasks)} tasks returned no result")
    return done


def map_items(fn: Callable[[Any], Any], items: Sequence[Any], *, jobs: int | None = None, progress: bool = True,
              label: str = "runs", executor: str = "process", address: str | None = None,
              on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(item) for item in items]`` on the sweep's executors and progress line, for
    scripts whose work is not a scenario run (the convergence study trains models, the search
    searches orders). ``fn`` must be a module-level function and items plain data; results
    come back in item order. ``executor`` as for ``run_tasks`` (``process``, ``serial`` or
    ``dask``); ``jobs=1`` (or a single item) runs here. ``on_result(index, result)`` is called
    in this process as each result arrives (completion order), e.g. to show a best-so-far."""
    check_executor(executor, jobs, address)
    bar = Progress(progress, len(items), label)
    results: list[Any] = [None] * len(items)
    if executor == "dask":
        for i, result in _dask_map(fn, items, jobs, address, bar):
            results[i] = result
            bar.advance(True)
            if on_result is not None:
                on_result(i, result)
        bar.stop()
        return results
    if executor == "serial" or jobs == 1 or len(items) <= 1:
        bar.start()
        for i, item in enumerate(items):
            results[i] = fn(item)
            bar.advance(True)
            if on_result is not None:
                on_result(i, results[i])
        bar.stop()
        return results
    workers = min(jobs or os.cpu_count() or 1, len(items))
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        bar.start()
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            bar.advance(True)
            if on_result is not None:
                on_result(i, results[i])
    except BaseException:
        _stop(pool)
        raise
    finally:
        bar.stop()
        pool.shutdown(wait=True)
    return results


def _dask_map(fn: Callable[[Any], Any], items: Sequence[Any], jobs: int | None, address: str | None,
              bar: Progress) -> Generator[tuple[int, Any], None, None]:
    """``(index, fn(item))`` on Dask (a local cluster, or the scheduler at ``address``), in
    completion order; a failure in ``fn`` is raised here, as the pool would."""
    from dask.distributed import as_completed as dask_as_completed

    with contextlib.ExitStack() as stack:
        client = _dask_client(stack, jobs, address)
        futures = client.map(fn, list(items), pure=False)
        index = {fut.key: i for i, fut in enumerate(futures)}
        bar.start()
        try:
            for fut in dask_as_completed(futures):
                yield index[fut.key], fut.result()
        finally:
            client.cancel(futures)
