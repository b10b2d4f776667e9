"""Turning a finished simulation's compact records into its ``Trace``, once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipesim.network import Topology
from pipesim.sim.gradsync import GradientSync
from pipesim.sim.records import TransferLog
from pipesim.timeline import Compiled
from pipesim.timeline.trace_build import compute_spans, memory_samples, trace_meta
from pipesim.trace import Trace


def build_trace(c: Compiled, opts: Any, topology: Topology, placement: Sequence[int],
                start: Sequence[Sequence[float]], end: Sequence[Sequence[float]],
                log: TransferLog | None, sync: GradientSync) -> Trace:
    """Link transfers, collectives, one compute span per action per replica, messages with the
    actions at both ends, and memory samples (static + activations) per device. ``opts`` are
    the run's ``SimOptions``; ``placement`` maps (replica, device) to topology devices."""
    prog = c.program
    p, nmsg = prog.num_devices, len(c.messages)
    names = [topology.devices[t] for t in placement]
    lane_of = {t: i for i, t in enumerate(placement)}
    labels = [str(a) for a in prog.actions]
    meta = trace_meta(c, "sim")
    meta.update({"dp": opts.dp, "policy": opts.policy, "makespan": max(
        max((max(e, default=0.0) for e in end), default=0.0), sync.end)})
    if opts.memory_limit is not None:
        meta["memory_limit"] = opts.memory_limit

    def facts(tag: int, src: int, dst: int) -> tuple[int, int, str, str]:
        if tag < 0:  # a collective's piece: no action at either end
            return lane_of.get(src, -1), lane_of.get(dst, -1), "", ""
        r, k = divmod(tag, nmsg)
        src, dst = c.messages.producer[k], c.messages.consumer[k]
        return r * p + prog.device[src], r * p + prog.device[dst], labels[src], labels[dst]

    trace = Trace(devices=names, meta=meta)
    if log is not None:
        trace.links.extend(log.tracks)
        trace.spans.extend(log.spans())
        trace.messages.extend(log.messages(facts))
    trace.links.extend(sync.tracks)
    trace.spans.extend(sync.spans)
    for r in range(opts.dp):
        trace.spans.extend(compute_spans(c, names[r * p : (r + 1) * p], start[r], end[r]))
    for r in range(opts.dp):
        trace.memory.extend(memory_samples(c, r * p, start[r], end[r]))
    return trace
