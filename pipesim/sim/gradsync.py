"""Gradient synchronisation inside a simulation: REDUCE_GRAD rendezvous and data-parallel
all-reduces, both as ring all-reduces on the same links as the pipeline's messages.

Two modes (``network.grad_sync``):

* ``overlap`` (default, as Megatron-LM and PyTorch DDP do): an all-reduce starts as soon as
  every copy of the gradients is ready and runs on the links while the devices keep computing;
  a device passes its REDUCE_GRAD at once (it takes no device time). The iteration ends when
  the last all-reduce lands (the optimizer step needs every gradient).
* ``blocking``: a device waits at its REDUCE_GRAD until the part's all-reduce has completed,
  and after its last weight-gradient action of a stage until that stage's data-parallel
  all-reduce has completed.

The table level models both modes the same way (``pipesim.timeline.gradsync``), so table ==
simulation on a free network holds in either.
"""

from __future__ import annotations

from array import array
from collections.abc import Generator
from typing import Any, Protocol

import numpy as np
import simpy

from pipesim.schedule.columns import CODE_B, CODE_REDUCE, CODE_W
from pipesim.sim.collectives import ring_allreduce
from pipesim.sim.network import Network
from pipesim.timeline import Compiled
from pipesim.trace import Span

GRAD_SYNC_MODES = ("overlap", "blocking")


class Host(Protocol):
    """What gradient synchronisation reads from the simulation that owns it."""

    compiled: Compiled
    env: simpy.Environment
    network: Network
    placement: tuple[int, ...]
    start: list[array[float]]  # replica -> action id -> start time

    @property
    def dp(self) -> int: ...


class GradientSync:
    """The collective state of one simulation: which copies of a model part have reached their
    REDUCE_GRAD, which data-parallel replicas have finished a stage's gradients, and the spans
    and end time of the collectives run so far."""

    def __init__(self, sim: Host, mode: str = "overlap") -> None:
        if mode not in GRAD_SYNC_MODES:
            raise ValueError(f"network.grad_sync: {mode!r} is not one of: {', '.join(GRAD_SYNC_MODES)}")
        self.sim = sim
        self.blocking = mode == "blocking"
        prog = sim.compiled.program
        layout = sim.compiled.schedule.layout
        # Replica groups for REDUCE_GRAD: model part -> participating action ids.
        self.reduce_groups: dict[int, list[int]] = {}
        # Read from the program's integer columns: the ``Action`` objects of a long schedule
        # made from columns are never built on a metrics-only run.
        c = prog.columns
        for g in np.flatnonzero(c.kind == CODE_REDUCE).tolist():
            self.reduce_groups.setdefault(layout.stage_part[int(c.stage[g])], []).append(g)
        self.reduce_ids = frozenset(g for group in self.reduce_groups.values() for g in group)
        # Data parallelism: each stage's gradients are all-reduced across replicas as soon as
        # the stage's last weight-gradient producer has run in every replica. Parts come in
        # action order, so the last write per stage is its latest action, and the dict keeps
        # stages in the order of their first B or W (the order their all-reduces start in).
        last: dict[int, int] = {}
        grads = np.flatnonzero((c.part_kind == CODE_B) | (c.part_kind == CODE_W))
        for s, g in zip(c.part_stage[grads].tolist(), c.part_gid[grads].tolist(), strict=True):
            last[s] = g
        self.wgrad_stage: dict[int, list[int]] = {}
        for s, g in last.items():
            self.wgrad_stage.setdefault(g, []).append(s)
        self.barriers: dict[int, tuple[list[int], simpy.Event]] = {}
        self.dp_arrivals: dict[int, int] = {}
        self.dp_done: dict[int, simpy.Event] = {}  # stage -> its all-reduce has landed
        self.end = 0.0
        self.spans: list[Span] = []
        self.tracks: list[str] = []

    def reduce(self, r: int, g: int) -> Generator[simpy.Event, Any, None]:
        """A REDUCE_GRAD: when every copy of the model part has arrived -- both pipeline
        replicas (Chimera, DualPipe) in every data-parallel replica -- ring all-reduce the
        part's gradients over all of them at once. Blocking: the device is held until the
        all-reduce completes; overlap: it goes on at once (see the module doc).

        One ring over all 2*dp copies moves 2(n-1)/n of the gradient per GPU; a replica ring
        followed by a separate dp ring would move more and sum the wrong things.
        """
        sim = self.sim
        prog, dp = sim.compiled.program, sim.dp
        stage = int(prog.columns.stage[g])
        part = sim.compiled.schedule.layout.stage_part[stage]
        members = sorted(self.reduce_groups[part])
        if part not in self.barriers:
            self.barriers[part] = ([], sim.env.event())
        arrivals, event = self.barriers[part]
        arrivals.append(g)
        if not self.blocking:
            sim.start[r][g] = sim.env.now
        if len(arrivals) == len(members) * dp:
            p = prog.num_devices
            # Ring order: a copy's dp replicas side by side, then the next copy's. Data-parallel
            # replicas of one stage usually share a node, so the ring leaves a node only when it
            # moves to the other pipeline copy (as topology-aware rings such as NCCL's do).
            devices = [sim.placement[rr * p + prog.device[m]] for m in members for rr in range(dp)]
            t0 = sim.env.now
            if self.blocking:
                for rr in range(dp):
                    for m in members:
                        sim.start[rr][m] = t0
            nbytes = sim.compiled.costs.param_bytes[stage]
            done = ring_allreduce(sim.network, devices, nbytes, label=f"reduce part {part}")
            # An explicit reduce time (the table level's) adds to the transfer: the longest of
            # the copies', whichever arrived last (pipesim.timeline.gradsync does the same).
            extra = max(sim.compiled.durations[m] for m in members)
            if extra > 0:
                done = sim.env.process(_after(sim.env, done, extra))
            if not self.blocking:
                self._track(done, f"reduce:part{part}", t0, stage, nbytes, f"all-reduce part {part}")
            done.callbacks.append(event.trigger)
        if self.blocking:
            yield event

    def _track(self, done: simpy.Event, track: str, t0: float, stage: int, nbytes: float, label: str) -> None:
        """Draw an overlapped all-reduce on its own lane, and let it end the iteration."""
        if track not in self.tracks:
            self.tracks.append(track)
        env = self.sim.env

        def finished(_e: simpy.Event) -> None:
            self.spans.append(Span(track, "allreduce", t0, env.now, stage, -1, nbytes, label=label))
            self.end = max(self.end, env.now)

        done.callbacks.append(finished)

    def stage_done(self, stage: int) -> simpy.Event | None:
        """One replica finished ``stage``'s gradients; when all have, all-reduce them. Returns
        the event of that all-reduce's completion for a blocking device to wait on (None when
        the part is synchronised at its REDUCE_GRAD instead, across all its copies)."""
        sim = self.sim
        layout = sim.compiled.schedule.layout
        if layout.stage_part[stage] in self.reduce_groups:
            return None
        landed = self.dp_done.get(stage)
        if landed is None:
            self.dp_done[stage] = landed = sim.env.event()
        count = self.dp_arrivals.get(stage, 0) + 1
        self.dp_arrivals[stage] = count
        if count < sim.dp:
            return landed
        p = sim.compiled.num_devices
        d = layout.stage_device[stage]
        devices = [sim.placement[r * p + d] for r in range(sim.dp)]
        nbytes = sim.compiled.costs.param_bytes[stage]
        done = ring_allreduce(sim.network, devices, nbytes, label=f"dp stage {stage}")
        self._track(done, f"dp:stage{stage}", sim.env.now, stage, nbytes, f"dp all-reduce stage {stage}")
        done.callbacks.append(landed.trigger)
        return landed


def _after(env: simpy.Environment, event: simpy.Event, delay: float) -> Generator[simpy.Event, Any, None]:
    yield event
    yield env.timeout(delay)
