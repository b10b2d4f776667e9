"""Turning a finished simulation's compact records into its ``Trace``, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipesim.timeline.trace_build import compute_spans, memory_samples, trace_meta
from pipesim.trace import Trace

if TYPE_CHECKING:
    from pipesim.sim.engine import Simulation


def build_trace(sim: Simulation) -> Trace:
    """Link transfers, collectives, one compute span per action per replica, messages with the
    actions at both ends, and memory samples (static + activations) per device."""
    c, opts = sim.compiled, sim.options
    prog = c.program
    p, nmsg = prog.num_devices, len(c.messages)
    names = [sim.topology.devices[t] for t in sim.placement]
    lane_of = {t: i for i, t in enumerate(sim.placement)}
    labels = [str(a) for a in prog.actions]
    meta = trace_meta(c, "sim")
    meta.update({"dp": opts.dp, "policy": opts.policy, "makespan": max(
        max((max(e, default=0.0) for e in sim.end), default=0.0), sim.sync.end)})
    if opts.memory_limit is not None:
        meta["memory_limit"] = opts.memory_limit

    def facts(tag: int, src: int, dst: int) -> tuple[int, int, str, str]:
        if tag < 0:  # a collective's piece: no action at either end
            return lane_of.get(src, -1), lane_of.get(dst, -1), "", ""
        r, k = divmod(tag, nmsg)
        m = c.messages[k]
        return r * p + prog.device[m.producer], r * p + prog.device[m.consumer], labels[m.producer], labels[m.consumer]

    trace = Trace(devices=names, meta=meta)
    if sim.log is not None:
        trace.links.extend(sim.log.tracks)
        trace.spans.extend(sim.log.spans())
        trace.messages.extend(sim.log.messages(facts))
    trace.links.extend(sim.sync.tracks)
    trace.spans.extend(sim.sync.spans)
    for r in range(opts.dp):
        trace.spans.extend(compute_spans(c, names[r * p : (r + 1) * p], sim.start[r], sim.end[r]))
    for r in range(opts.dp):
        trace.memory.extend(memory_samples(c, r * p, sim.start[r], sim.end[r]))
    return trace
