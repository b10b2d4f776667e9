"""Asynchronous 1F1B without flushes: PipeDream (weight stashing) and PipeDream-2BW.

Both run one continuous 1F1B stream: ``iterations`` x m microbatches, p-d-1 warm-up forwards on
device d, then one forward and one backward alternately, and a single drain at the end of the
simulated window (there is no flush between iterations; the drain only ends the simulation).
They differ in *when weights change*, which does not alter dependencies and so lives in the
schedule's options (``weight_update``) for ``pipesim.staleness``:

* ``pipedream``: every stage updates its weights after each of its backwards; a forward uses the
  newest version, its backward the same stashed version (stage s keeps p-s versions).
* ``pipedream-2bw``: a stage accumulates the gradients of m microbatches and then updates;
  microbatch k (1-indexed) uses version max(floor((k-1)/m) - 1, 0), so every applied gradient is
  exactly one update old after warm-up and two versions suffice (needs m >= p).
"""

from __future__ import annotations

from pipesim.schedule.action import Action
from pipesim.schedule.generators.onef1b import one_f_one_b_order
from pipesim.schedule.layout import linear_layout
from pipesim.schedule.registry import Generator, Option, RequirementError
from pipesim.schedule.table import Schedule


def _stream(name: str, p: int, m: int, iterations: int, weight_update: str) -> Schedule:
    if iterations < 1:
        raise RequirementError(f"schedule '{name}': iterations={iterations}; simulate at least 1 iteration")
    total = iterations * m
    layout = linear_layout(p, total)
    versions = [p - s for s in range(p)] if weight_update == "pipedream" else [2] * p
    layout.notes.update({"weight_update": weight_update, "iterations": iterations,
                         "microbatches_per_iteration": m, "weight_versions": versions})
    rows = [[Action(d, k, mb) for k, mb in one_f_one_b_order(p, total, d)] for d in range(p)]
    return Schedule.build(name, layout, rows, iterations=iterations, microbatches_per_iteration=m,
                          weight_update=weight_update)


def pipedream(p: int, m: int, iterations: int = 3) -> Schedule:
    return _stream("pipedream", p, m, iterations, "pipedream")


def pipedream_2bw(p: int, m: int, iterations: int = 3) -> Schedule:
    if m < p:
        raise RequirementError(
            f"schedule 'pipedream-2bw': p={p}, m={m}; 2BW needs m >= p microbatches per update so that a "
            f"new weight version exists before the batch that uses it starts (two versions); valid m: {p}, {p + 1}, ..."
        )
    return _stream("pipedream-2bw", p, m, iterations, "2bw")


_ITER = Option("iterations", int, 3, "iterations simulated as one continuous stream of iterations x m "
                                     "microbatches (no flush between iterations)")

GENERATORS = (
    Generator(
        "pipedream",
        pipedream,
        "asynchronous 1F1B with weight stashing, no flush (PipeDream); staleness via pipesim.staleness",
        requirements="p >= 1, m >= 1, iterations >= 1",
        options=(_ITER,),
    ),
    Generator(
        "pipedream-2bw",
        pipedream_2bw,
        "asynchronous 1F1B with double-buffered weights, a new version every m microbatches (PipeDream-2BW)",
        requirements="m >= p, iterations >= 1",
        options=(_ITER,),
    ),
)
