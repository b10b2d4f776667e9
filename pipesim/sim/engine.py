"""The simulation level: one SimPy process per GPU, driven by the schedule's action lists.

``Simulation`` holds all state (no module globals), so a sweep can run many in one process.
Devices never compute transfer times: an action's outputs are handed to the ``Network``, whose
links own bandwidth, latency and queues. The same ``Program`` the table level walks drives the
devices, which is what makes "table == simulation on a free network" an exact identity.

Equal-time ordering: SimPy resolves simultaneous events in scheduling order; devices are
started in index order (replica-major), and every device's actions are issued in list order,
so the same input always yields the same trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import simpy

from pipesim.costs import Costs
from pipesim.gcpause import gc_paused
from pipesim.ideal import (
    SPAN_KIND,
    ReduceTime,
    action_durations,
    activation_steps,
    check_costs,
    static_memory,
)
from pipesim.network.topology import Topology
from pipesim.schedule.action import Kind
from pipesim.schedule.deps import DEP_ACT, DEP_GRAD, Program
from pipesim.schedule.table import Schedule
from pipesim.schedule.validate import DeadlockError, ScheduleError, validate
from pipesim.sim.collectives import ring_allreduce
from pipesim.sim.network import Network
from pipesim.trace import MemorySample, Span, Trace


@dataclass(frozen=True)
class SimOptions:
    """How the runtime behaves. Defaults model a modern overlapping runtime (async sends)."""

    policy: str = "fair"  # link queue policy: "fair" (shared bandwidth) or "fifo"
    chunk_bytes: float | None = -1.0  # message chunking; -1 = the network's default, None/0 = off
    overhead: float = 0.0  # per-message software overhead at the sender (s)
    blocking_send: bool = False  # True: a device waits until its sends have arrived
    dp: int = 1  # data-parallel copies of the pipeline, on disjoint devices
    placement: tuple[int, ...] | None = None  # (replica, device) -> topology device, replica-major
    memory_limit: float | None = None  # bytes per device; exceeding it is flagged, not fatal
    validate: bool = True  # validate the schedule before simulating (off only for engine tests)
    record_links: bool = True


@dataclass
class SimResult:
    simulation: Simulation
    start: list[list[float]]  # replica -> gid -> start time
    end: list[list[float]]
    waiting_for_data: list[float]  # per topology device used: seconds idle because a message was late
    idle_by_schedule: list[float]  # per device: seconds idle because the producer had not finished
    collective_end: float

    @property
    def program(self) -> Program:
        return self.simulation.program

    @property
    def schedule(self) -> Schedule:
        return self.simulation.schedule

    @property
    def trace(self) -> Trace:
        return self.simulation.trace

    @cached_property
    def compute_end(self) -> float:
        return max((max(e, default=0.0) for e in self.end), default=0.0)

    @property
    def makespan(self) -> float:
        return max(self.compute_end, self.collective_end)

    def metrics(self) -> dict[str, Any]:
        from pipesim.metrics import sim_metrics

        return sim_metrics(self)


class Simulation:
    """``Simulation(schedule, costs, topology, options).run()`` -> ``SimResult``."""

    def __init__(
        self,
        schedule: Schedule,
        costs: Costs,
        topology: Topology,
        options: SimOptions | None = None,
        *,
        reduce_time: ReduceTime = 0.0,
        env_factory: Callable[[], simpy.Environment] = simpy.Environment,
    ) -> None:
        self.options = opts = options or SimOptions()
        self.schedule = schedule
        self.costs = costs
        self.topology = topology
        check_costs(schedule, costs)
        for s, size in enumerate(costs.message_bytes):
            if math.isinf(size):  # the network's per-message path trusts sizes checked here
                raise ValueError(f"costs.message_bytes[{s}]: {size}; a message needs a finite size")
        if opts.dp < 1:
            raise ValueError(f"parallel.dp: {opts.dp}; must be >= 1")
        self.program = validate(schedule) if opts.validate else _compile_unvalidated(schedule)
        p, dp = schedule.num_devices, opts.dp
        needed = p * dp
        placement = tuple(opts.placement) if opts.placement is not None else tuple(range(needed))
        if len(placement) != needed:
            raise ValueError(f"parallel.placement: {len(placement)} entries for pp={p} x dp={dp} = {needed} devices")
        ndev = len(topology.devices)
        for i, t in enumerate(placement):
            if not 0 <= t < ndev:
                raise ValueError(f"parallel.placement[{i}]: device {t} does not exist; topology has devices 0..{ndev - 1}")
        if len(set(placement)) != needed:
            raise ValueError("parallel.placement: a topology device is used twice; every (replica, stage device) needs its own GPU")
        self.placement = placement
        self.env = env_factory()
        names = [topology.devices[t] for t in placement]
        self._trace = Trace(devices=names, meta={
            "level": "sim", "schedule": schedule.name, "devices": p, "dp": dp, "stages": schedule.num_stages,
            "microbatches": schedule.num_microbatches, "policy": opts.policy})
        net_kwargs: dict[str, Any] = {"policy": opts.policy, "overhead": opts.overhead,
                                      "trace": self._trace if opts.record_links else None}
        if opts.chunk_bytes is None or opts.chunk_bytes >= 0:
            net_kwargs["chunk_bytes"] = opts.chunk_bytes
        self.network = Network(self.env, topology, **net_kwargs)
        self.durations = action_durations(self.program, costs, reduce_time)
        with gc_paused():
            self._prepare()

    # -- preparation: everything derivable before time starts -------------------------------
    def _prepare(self) -> None:
        prog, costs = self.program, self.costs
        n = len(prog.actions)
        # Messages: one per cross-device activation/gradient dependency. inbox[g] lists the
        # message ids action g waits for; outbox[g] the messages g sends when it finishes.
        self.inbox: list[list[int]] = [[] for _ in range(n)]
        self.outbox: list[list[tuple[int, int, float, str, int, int]]] = [[] for _ in range(n)]
        self.msg_producer: list[int] = []
        for g, deps in enumerate(prog.deps):
            for dep in deps:
                if dep.kind == DEP_ACT or dep.kind == DEP_GRAD:
                    k = len(self.msg_producer)
                    self.msg_producer.append(dep.pred)
                    self.inbox[g].append(k)
                    kind = "act" if dep.kind == DEP_ACT else "grad"
                    self.outbox[dep.pred].append((k, prog.device[g], costs.message_bytes[dep.stage], kind,
                                                  dep.stage, dep.microbatch))
        # Per replica, what each action sends: (message, source, destination, route, bytes, kind,
        # stage, microbatch) on topology devices. Routes are static, so resolving them here also
        # makes an unreachable pair an error before time starts, not from a running device.
        p, route = prog.num_devices, self.network.route
        self.sends: list[list[list[tuple[Any, ...]]]] = []
        for r in range(self.options.dp):
            topo = self.placement[r * p : (r + 1) * p]
            self.sends.append([[(k, topo[prog.device[g]], topo[dst], route(topo[prog.device[g]], topo[dst]), nbytes,
                                 kind, stage, mb) for k, dst, nbytes, kind, stage, mb in outs]
                               for g, outs in enumerate(self.outbox)])
        # Replica groups for REDUCE_GRAD: part -> participating action ids.
        self.reduce_groups: dict[int, list[int]] = {}
        for g, a in enumerate(prog.actions):
            if a.kind is Kind.REDUCE_GRAD:
                self.reduce_groups.setdefault(self.schedule.layout.stage_part[a.stage], []).append(g)
        self.reduce_ids = frozenset(g for group in self.reduce_groups.values() for g in group)
        # Data parallelism: each stage's gradients are all-reduced across replicas as soon as
        # the stage's last weight-gradient producer has run in every replica.
        self.last_wgrad: dict[int, int] = {}
        for g, a in enumerate(prog.actions):
            for part in (a.sub or (a,)):
                if part.kind in (Kind.B, Kind.W):
                    self.last_wgrad[part.stage] = max(self.last_wgrad.get(part.stage, -1), g)
        self.wgrad_stage: dict[int, list[int]] = {}
        for s, g in self.last_wgrad.items():
            self.wgrad_stage.setdefault(g, []).append(s)
        # What spans and memory samples need from the schedule alone (times come from the run).
        self._labels = [str(a) for a in prog.actions]
        self._kinds = [SPAN_KIND[a.kind] for a in prog.actions]
        self._mbs = []
        for a in prog.actions:
            mb = a.microbatch if a.microbatch is not None else (a.sub[0].microbatch if a.sub else None)
            self._mbs.append(-1 if mb is None else mb)
        self._activation = activation_steps(prog, costs)
        self.static_memory = static_memory(self.schedule, costs)

    # -- running --------------------------------------------------------------------------------
    def run(self) -> SimResult:
        with gc_paused():
            return self._run()

    def _run(self) -> SimResult:
        env, prog, opts = self.env, self.program, self.options
        dp, n = opts.dp, len(prog.actions)
        self._start = [[0.0] * n for _ in range(dp)]
        self._end = [[0.0] * n for _ in range(dp)]
        self._done = [[False] * n for _ in range(dp)]
        self._position = [[prog.first[d] for d in range(prog.num_devices)] for _ in range(dp)]
        self._arrived = [[env.event() for _ in self.msg_producer] for _ in range(dp)]
        self._wait_data = [0.0] * len(self.placement)
        self._idle_sched = [0.0] * len(self.placement)
        self._barriers: dict[int, tuple[list[int], simpy.Event]] = {}
        self._dp_arrivals: dict[int, int] = {}
        self._collective_end = 0.0
        self._collective_spans: list[Span] = []  # into the trace with the other records, after the run
        for r in range(dp):
            for d in range(prog.num_devices):
                env.process(self._device(r, d))
        env.run()
        self._check_finished()
        # 64k+ arrival events are only needed to name what a deadlocked device waits for; drop
        # them now so that they are freed here instead of walked by the next garbage collection.
        self._arrived = []
        self._record_memory()
        # A compute span per action and a memory sample per activation change, built from the
        # start/end times on the trace's first read (with the data-parallel collective spans), so
        # that a sweep reading only metrics never pays for hundreds of thousands of objects (or
        # the garbage collector's walks over them).
        self._trace.add_source(self._record_after_run, once=True)
        self._trace.meta["makespan"] = max(max((max(e, default=0.0) for e in self._end), default=0.0),
                                          self._collective_end)
        return SimResult(self, self._start, self._end, self._wait_data, self._idle_sched, self._collective_end)

    def _device(self, r: int, d: int):
        """Walk device d's list (replica r): wait for inputs, compute, hand outputs to the network.

        This is the hot loop of the simulator, so everything derivable is prepared outside it
        and spans are built from the start/end arrays after the run.
        """
        env, prog = self.env, self.program
        base = r * prog.num_devices
        start, end, done = self._start[r], self._end[r], self._done[r]
        arrived = self._arrived[r]
        durations, inbox, reduce_ids = self.durations, self.inbox, self.reduce_ids
        position = self._position[r]
        blocking = self.options.blocking_send
        post, timeout, sends = self.network.post, env.timeout, self.sends[r]
        dp_sync, wgrad_stage = self.options.dp > 1, self.wgrad_stage
        msg_producer = self.msg_producer
        idle_sched, wait_data, me = self._idle_sched, self._wait_data, base + d
        for g in range(prog.first[d], prog.first[d] + prog.count[d]):
            position[d] = g
            waits = inbox[g]
            if waits:
                t0 = env._now
                for k in waits:
                    ev = arrived[k]
                    if ev.callbacks is not None:  # not yet processed
                        yield ev
                now = env._now
                if now > t0:
                    # Split the wait: until the producer finished is the schedule's idle time;
                    # after that, the message was still on the wire.
                    ready = end[msg_producer[waits[0]]]
                    for k in waits:
                        e = end[msg_producer[k]]
                        if e > ready:
                            ready = e
                    sched_idle = (ready if ready < now else now) - t0
                    if sched_idle < 0.0:
                        sched_idle = 0.0
                    idle_sched[me] += sched_idle
                    wait_data[me] += now - t0 - sched_idle
            if g in reduce_ids:
                yield from self._reduce(r, g)
            else:
                start[g] = env._now
                yield timeout(durations[g])
            end[g] = env._now
            done[g] = True
            out = sends[g]
            if out:
                for k, src, dst, route, nbytes, kind, stage, mb in out:
                    # The receiver waits on arrived[k]; the network succeeds it on arrival.
                    post(route, src, dst, nbytes, kind, stage, mb, "", arrived[k])
                if blocking:
                    yield simpy.AllOf(env, [arrived[k] for k, *_ in out])
            if dp_sync and g in wgrad_stage:
                for s in wgrad_stage[g]:
                    self._dp_ready(s)
        position[d] = prog.first[d] + prog.count[d]

    @property
    def trace(self) -> Trace:
        """Everything the run recorded (records are built as the trace is first read)."""
        return self._trace

    def _record_after_run(self, trace: Trace) -> None:
        trace.spans.extend(self._collective_spans)
        self._record_spans()
        self._record_memory_samples()

    def _record_spans(self) -> None:
        """One compute span per action per replica, from the recorded start/end times."""
        prog, spans, devices = self.program, self._trace.spans, self._trace.devices
        labels, kinds, mbs, stages = self._labels, self._kinds, self._mbs, [a.stage for a in prog.actions]
        for r in range(self.options.dp):
            start, end, base = self._start[r], self._end[r], r * prog.num_devices
            spans.extend([Span(devices[base + d], kinds[g], start[g], end[g], stages[g], mbs[g], 0.0, -1, labels[g])
                          for g, d in enumerate(prog.device)])

    def _reduce(self, r: int, g: int):
        """A REDUCE_GRAD: wait until every copy of the model part has arrived -- both pipeline
        replicas (Chimera, DualPipe) in every data-parallel replica -- then ring all-reduce the
        part's gradients over all of them at once; the device is held until it completes.

        One ring over all 2*dp copies moves 2(n-1)/n of the gradient per GPU; a replica ring
        followed by a separate dp ring would move more and sum the wrong things.
        """
        prog, dp = self.program, self.options.dp
        part = self.schedule.layout.stage_part[prog.actions[g].stage]
        members = sorted(self.reduce_groups[part])
        if part not in self._barriers:
            self._barriers[part] = ([], self.env.event())
        arrivals, event = self._barriers[part]
        arrivals.append(g)
        if len(arrivals) == len(members) * dp:
            p = prog.num_devices
            # Ring order: a copy's dp replicas side by side, then the next copy's. Data-parallel
            # replicas of one stage usually share a node, so the ring leaves a node only when it
            # moves to the other pipeline copy (as topology-aware rings such as NCCL's do).
            devices = [self.placement[rr * p + prog.device[m]] for m in members for rr in range(dp)]
            t0 = self.env.now
            for rr in range(dp):
                for m in members:
                    self._start[rr][m] = t0
            nbytes = self.costs.param_bytes[prog.actions[g].stage]
            done = ring_allreduce(self.network, devices, nbytes, label=f"reduce part {part}")
            extra = self.durations[g]
            if extra > 0:  # an explicit reduce time (e.g. the table level's) adds to the transfer
                done = self.env.process(_after(self.env, done, extra))
            done.callbacks.append(lambda _e: event.succeed())
        yield event

    def _dp_ready(self, stage: int) -> None:
        """One replica finished ``stage``'s gradients; when all have, all-reduce them (async).

        Parts with REDUCE_GRAD actions are synchronised there, across all their copies."""
        if self.schedule.layout.stage_part[stage] in self.reduce_groups:
            return
        count = self._dp_arrivals.get(stage, 0) + 1
        self._dp_arrivals[stage] = count
        if count < self.options.dp:
            return
        p = self.program.num_devices
        d = self.schedule.layout.stage_device[stage]
        devices = [self.placement[r * p + d] for r in range(self.options.dp)]
        t0 = self.env.now
        done = ring_allreduce(self.network, devices, self.costs.param_bytes[stage], label=f"dp stage {stage}")
        track = f"dp:stage{stage}"
        if track not in self._trace.links:
            self._trace.links.append(track)

        def finished(_e: simpy.Event) -> None:
            self._collective_spans.append(Span(track, "allreduce", t0, self.env.now, stage, -1,
                                               self.costs.param_bytes[stage], label=f"dp all-reduce stage {stage}"))
            self._collective_end = max(self._collective_end, self.env.now)

        done.callbacks.append(finished)

    # -- after the run --------------------------------------------------------------------------
    def _check_finished(self) -> None:
        prog = self.program
        blocked = []
        for r in range(self.options.dp):
            for d in range(prog.num_devices):
                g = self._position[r][d]
                if g < prog.first[d] + prog.count[d] and not self._done[r][g]:
                    waits = []
                    for k in self.inbox[g]:
                        if not self._arrived[r][k].triggered:
                            p = self.msg_producer[k]
                            waits.append(f"{prog.actions[p]} from device {prog.device[p]}")
                    a = prog.actions[g]
                    if a.kind is Kind.REDUCE_GRAD:
                        waits.append("the other replicas to reach their REDUCE_GRAD")
                    who = f"device {d}" + (f" (replica {r})" if self.options.dp > 1 else "")
                    blocked.append((d, g, f"  {who}, step {prog.step[g]}, action {a} waits for {', '.join(waits) or 'nothing'}"))
        if blocked:
            d, g, _ = blocked[0]
            raise DeadlockError(
                f"simulation deadlocked at t={self.env.now:g}: {len(blocked)} device(s) blocked\n"
                + "\n".join(line for _, _, line in blocked),
                self.schedule, d, prog.step[g], prog.actions[g])

    def _record_memory(self) -> None:
        """Peaks per device (replica-major) and the over-limit flags; the order of each device's
        actions fixes them, whatever the times."""
        static, steps = self.static_memory, self._activation
        self.peak_memory: list[float] = []
        self.peak_activations: list[int] = []
        for _ in range(self.options.dp):
            self.peak_memory.extend(base + peak for base, peak in zip(static, steps.peaks_b, strict=True))
            self.peak_activations.extend(steps.peaks_n)
        limit = self.options.memory_limit
        self.over_memory = [i for i, m in enumerate(self.peak_memory) if limit is not None and m > limit]
        if limit is not None:
            self._trace.meta["memory_limit"] = limit

    def _record_memory_samples(self) -> None:
        """Each device's memory after every change, placed at the recorded times."""
        prog, static, memory = self.program, self.static_memory, self._trace.memory
        for r in range(self.options.dp):
            start, end = self._start[r], self._end[r]
            for d, line in enumerate(self._activation.steps):
                dev, base = r * prog.num_devices + d, static[d]
                memory.append(MemorySample(dev, 0.0, 0.0, base))
                memory.extend([MemorySample(dev, start[g] if at_start else end[g], act, base + act)
                               for g, at_start, act, _ in line])


def _after(env: simpy.Environment, event: simpy.Event, delay: float):
    yield event
    yield env.timeout(delay)


def _compile_unvalidated(schedule: Schedule) -> Program:
    from pipesim.schedule.deps import compile_program
    from pipesim.schedule.validate import check_structure

    check_structure(schedule)
    program = compile_program(schedule)
    if program.missing:
        raise ScheduleError("schedule has actions whose inputs no device computes; run `pipesim validate`", schedule)
    return program


def simulate(schedule: Schedule, costs: Costs, topology: Topology, options: SimOptions | None = None,
             **kwargs: Any) -> SimResult:
    return Simulation(schedule, costs, topology, options, **kwargs).run()


