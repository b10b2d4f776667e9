"""Work budgets: how much one run may do, estimated from its inputs before it starts.

A scenario with ``microbatches: 1e9``, a CSV naming microbatch 10⁹ or 1-byte chunks on a
gigabyte message is valid on its face but would run for days or exhaust memory. Such runs are
refused up front, in one line that gives the estimate and the knob that raises the limit:
``--max-events N`` / ``--max-memory SIZE`` on the command line, ``limits.max_events`` /
``limits.max_memory`` in a scenario (and so in a sweep's base or grid).

The estimate counts *events*: one per compute action and one per message transfer per link it
crosses (per chunk when messages are cut into store-and-forward chunks). Memory is estimated
as events x ``BYTES_PER_EVENT``, the simulator's measured cost per event with every record
kept (``benchmarks/bench_scaling.py`` measures it). The defaults allow a run of about ten
minutes on one core; they are budgets, not limits of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipesim.units import format_size

DEFAULT_MAX_EVENTS = 10_000_000
DEFAULT_MAX_MEMORY = 16 * 2**30  # bytes
# Measured: ~3.3 KB per compute action with its message and default outputs, i.e. ~1.7 KB per event.
BYTES_PER_EVENT = 1_700
# Devices one topology may have: far above any pipeline-parallel job (the largest published
# trainings use tens of thousands of GPUs), low enough that building the graph stays instant.
MAX_DEVICES = 65_536
# Runs one sweep may expand to (sweep file key ``max_runs``).
DEFAULT_MAX_RUNS = 100_000
# Sanity bound on a model's shape numbers (layers, hidden, heads, sequence, vocabulary,
# microbatch size): 2^24 is hundreds of times the largest value any trained model uses for
# each, and keeps FLOP and byte counts far from overflow.
MAX_SHAPE = 2**24


class BudgetError(ValueError):
    """A run whose estimated work is over its budget; the message names the knob."""


@dataclass(frozen=True)
class Budget:
    max_events: float = DEFAULT_MAX_EVENTS
    max_memory: float = DEFAULT_MAX_MEMORY

    def check(self, events: float, what: str) -> None:
        """Refuse ``events`` (an estimate, or a lower bound) when it, or the memory it implies,
        is over budget. ``what`` says what was estimated, e.g. ``"1f1b with p=8, m=10⁹"``."""
        if events > self.max_events:
            raise BudgetError(f"{what}: about {events:,.0f} events, over the budget of {self.max_events:,.0f}; "
                              "raise it with --max-events N (limits.max_events in a scenario) if you mean it")
        memory = events * BYTES_PER_EVENT
        if memory > self.max_memory:
            raise BudgetError(f"{what}: about {format_size(memory)} of memory for {events:,.0f} events, over the budget "
                              f"of {format_size(self.max_memory)}; raise it with --max-memory SIZE (limits.max_memory in "
                              "a scenario) if the machine has it")


def chunks_per_message(nbytes: float, chunk_bytes: float | None) -> float:
    """Transfers one message becomes on each link: one whole message, or one per chunk."""
    if chunk_bytes is None or chunk_bytes <= 0 or chunk_bytes == float("inf") or nbytes <= chunk_bytes:
        return 1.0
    return -(-nbytes // chunk_bytes)
