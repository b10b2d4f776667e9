"""Gradient synchronisation inside a simulation: REDUCE_GRAD rendezvous and data-parallel
all-reduces, both as ring all-reduces on the same links as the pipeline's messages."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol

import simpy

from pipesim.schedule.action import Kind
from pipesim.sim.collectives import ring_allreduce
from pipesim.sim.network import Network
from pipesim.timeline import Compiled
from pipesim.trace import Span


class Host(Protocol):
    """What gradient synchronisation reads from the simulation that owns it."""

    compiled: Compiled
    env: simpy.Environment
    network: Network
    placement: tuple[int, ...]
    start: list[list[float]]

    @property
    def dp(self) -> int: ...


class GradientSync:
    """The collective state of one simulation: which copies of a model part have reached their
    REDUCE_GRAD, which data-parallel replicas have finished a stage's gradients, and the spans
    and end time of the collectives run so far."""

    def __init__(self, sim: Host) -> None:
        self.sim = sim
        prog = sim.compiled.program
        layout = sim.compiled.schedule.layout
        # Replica groups for REDUCE_GRAD: model part -> participating action ids.
        self.reduce_groups: dict[int, list[int]] = {}
        for g, a in enumerate(prog.actions):
            if a.kind is Kind.REDUCE_GRAD:
                self.reduce_groups.setdefault(layout.stage_part[a.stage], []).append(g)
        self.reduce_ids = frozenset(g for group in self.reduce_groups.values() for g in group)
        # Data parallelism: each stage's gradients are all-reduced across replicas as soon as
        # the stage's last weight-gradient producer has run in every replica.
        last: dict[int, int] = {}
        for g, a in enumerate(prog.actions):
            for part in (a.sub or (a,)):
                if part.kind in (Kind.B, Kind.W):
                    last[part.stage] = max(last.get(part.stage, -1), g)
        self.wgrad_stage: dict[int, list[int]] = {}
        for s, g in last.items():
            self.wgrad_stage.setdefault(g, []).append(s)
        self.barriers: dict[int, tuple[list[int], simpy.Event]] = {}
        self.dp_arrivals: dict[int, int] = {}
        self.end = 0.0
        self.spans: list[Span] = []
        self.tracks: list[str] = []

    def reduce(self, r: int, g: int) -> Generator[simpy.Event, Any, None]:
        """A REDUCE_GRAD: wait until every copy of the model part has arrived -- both pipeline
        replicas (Chimera, DualPipe) in every data-parallel replica -- then ring all-reduce the
        part's gradients over all of them at once; the device is held until it completes.

        One ring over all 2*dp copies moves 2(n-1)/n of the gradient per GPU; a replica ring
        followed by a separate dp ring would move more and sum the wrong things.
        """
        sim = self.sim
        prog, dp = sim.compiled.program, sim.dp
        stage = prog.actions[g].stage
        part = sim.compiled.schedule.layout.stage_part[stage]
        members = sorted(self.reduce_groups[part])
        if part not in self.barriers:
            self.barriers[part] = ([], sim.env.event())
        arrivals, event = self.barriers[part]
        arrivals.append(g)
        if len(arrivals) == len(members) * dp:
            p = prog.num_devices
            # Ring order: a copy's dp replicas side by side, then the next copy's. Data-parallel
            # replicas of one stage usually share a node, so the ring leaves a node only when it
            # moves to the other pipeline copy (as topology-aware rings such as NCCL's do).
            devices = [sim.placement[rr * p + prog.device[m]] for m in members for rr in range(dp)]
            t0 = sim.env.now
            for rr in range(dp):
                for m in members:
                    sim.start[rr][m] = t0
            done = ring_allreduce(sim.network, devices, sim.compiled.costs.param_bytes[stage],
                                  label=f"reduce part {part}")
            extra = sim.compiled.durations[g]
            if extra > 0:  # an explicit reduce time (e.g. the table level's) adds to the transfer
                done = sim.env.process(_after(sim.env, done, extra))
            done.callbacks.append(event.trigger)
        yield event

    def stage_done(self, stage: int) -> None:
        """One replica finished ``stage``'s gradients; when all have, all-reduce them (async).
        Parts with REDUCE_GRAD actions are synchronised there, across all their copies."""
        sim = self.sim
        layout = sim.compiled.schedule.layout
        if layout.stage_part[stage] in self.reduce_groups:
            return
        count = self.dp_arrivals.get(stage, 0) + 1
        self.dp_arrivals[stage] = count
        if count < sim.dp:
            return
        p = sim.compiled.num_devices
        d = layout.stage_device[stage]
        devices = [sim.placement[r * p + d] for r in range(sim.dp)]
        t0 = sim.env.now
        nbytes = sim.compiled.costs.param_bytes[stage]
        done = ring_allreduce(sim.network, devices, nbytes, label=f"dp stage {stage}")
        track = f"dp:stage{stage}"
        if track not in self.tracks:
            self.tracks.append(track)

        def finished(_e: simpy.Event) -> None:
            self.spans.append(Span(track, "allreduce", t0, sim.env.now, stage, -1, nbytes,
                                   label=f"dp all-reduce stage {stage}"))
            self.end = max(self.end, sim.env.now)

        done.callbacks.append(finished)


def _after(env: simpy.Environment, event: simpy.Event, delay: float) -> Generator[simpy.Event, Any, None]:
    yield event
    yield env.timeout(delay)
