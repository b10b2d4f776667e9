"""The simulation level: one SimPy process per GPU, driven by the compiled program's action lists.

``Simulation`` holds all state (no module globals), so a sweep can run many in one process.
Devices never compute transfer times: an action's outputs are handed to the ``Network``, whose
links own bandwidth, latency and queues. The same compiled program the table level walks
(``pipesim.timeline``) drives the devices, which is what makes "table == simulation on a free
network" an exact identity.

Equal-time ordering: SimPy resolves simultaneous events in scheduling order; devices are
started in index order (replica-major), and every device's actions are issued in list order,
so the same input always yields the same trace.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import simpy
from simpy.events import Event

from pipesim.costs import Costs
from pipesim.gcpause import gc_paused
from pipesim.network import Topology
from pipesim.network.options import Chunking
from pipesim.schedule.action import Kind
from pipesim.schedule.table import Schedule
from pipesim.schedule.validate import DeadlockError, finish_validation
from pipesim.sim.gradsync import GradientSync
from pipesim.sim.network import Network
from pipesim.sim.recording import build_trace
from pipesim.sim.records import TransferLog
from pipesim.timeline import Compiled, ReduceTime, compile_schedule, timeline_metrics
from pipesim.trace import Trace

# ``progress(done actions, total actions, simulated time)`` (see ``Simulation.run``).
Progress = Callable[[int, int, float], None]
PROGRESS_STEPS = 1 << 16  # SimPy steps between two progress calls: a few tenths of a second


@dataclass(frozen=True)
class SimOptions:
    """How the runtime behaves. Defaults model a modern overlapping runtime (async sends)."""

    policy: str = "fair"  # link queue policy: "fair" (shared bandwidth) or "fifo"
    chunking: Chunking = Chunking.AUTO  # message chunking; any spelling Chunking.parse reads
    overhead: float = 0.0  # per-message software overhead at the sender (s)
    blocking_send: bool = False  # True: a device waits until its sends have arrived
    grad_sync: str = "overlap"  # gradient all-reduces: "overlap" (run beside compute) or "blocking"
    dp: int = 1  # data-parallel copies of the pipeline, on disjoint devices
    placement: tuple[int, ...] | None = None  # (replica, device) -> topology device, replica-major
    memory_limit: float | None = None  # bytes per device; exceeding it is flagged, not fatal
    validate: bool = True  # validate the schedule before simulating (off only for engine tests)
    record_links: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunking", Chunking.parse(self.chunking, key=("network", "chunk_bytes")))


@dataclass
class SimResult:
    simulation: Simulation
    start: list[array[float]]  # replica -> action id -> start time
    end: list[array[float]]
    waiting_for_data: list[float]  # per device (replica-major): idle because a message was late
    idle_by_schedule: list[float]  # per device: idle because the producer had not finished
    collective_end: float

    @property
    def compiled(self) -> Compiled:
        return self.simulation.compiled

    @property
    def schedule(self) -> Schedule:
        return self.simulation.compiled.schedule

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
        """The shared timeline metrics plus what only the simulation knows (network, waits)."""
        sim = self.simulation
        out = timeline_metrics(self.compiled, self.start, self.end, self.makespan, "sim")
        makespan = self.makespan
        links = sim.network.link_stats()
        for row in links:
            row["utilisation"] = row["busy_time"] / makespan if makespan > 0 else 0.0
        used = [row for row in links if row["bytes"] > 0]
        # Busy times equal but for float rounding (the two directions of a saturated path, say)
        # must tie, so that the name decides and not the order of additions.
        busiest = max(used, key=lambda row: (round(row["busy_time"], 12), row["name"]), default=None)
        limit = sim.options.memory_limit
        peaks = out.get("peak_memory_bytes", [])
        out.update({
            "dp": sim.options.dp,
            "compute_end": self.compute_end,
            "waiting_for_data": list(self.waiting_for_data),
            "idle_by_schedule": list(self.idle_by_schedule),
            "idle_other": [max(0.0, makespan - b - w - i) for b, w, i in
                           zip(out["busy"], self.waiting_for_data, self.idle_by_schedule, strict=True)],
            "over_memory_devices": [i for i, m in enumerate(peaks) if limit is not None and m > limit],
            # From the network's counters, not the trace: reading the trace would build every record.
            "messages": sim.network.delivered,
            "bytes_moved": sim.network.bytes_delivered,
            "links": used,
            "busiest_link": None if busiest is None else {
                "name": busiest["name"], "utilisation": busiest["utilisation"], "bytes": busiest["bytes"]},
            "max_queueing_delay": max((row["max_queueing_delay"] for row in used), default=0.0),
        })
        return out


class Simulation:
    """``Simulation(schedule, costs, topology, options).run()`` -> ``SimResult``.

    ``compiled`` (from ``pipesim.timeline.compile_schedule``) skips compiling and validating
    the schedule again when the caller already has it."""

    def __init__(
        self,
        schedule: Schedule,
        costs: Costs,
        topology: Topology,
        options: SimOptions | None = None,
        *,
        reduce_time: ReduceTime = 0.0,
        compiled: Compiled | None = None,
        env_factory: Callable[[], simpy.Environment] = simpy.Environment,
    ) -> None:
        self.options = opts = options or SimOptions()
        self.topology = topology
        for s, size in enumerate(costs.message_bytes):
            if math.isinf(size):  # the network's per-message path trusts sizes checked here
                raise ValueError(f"costs.message_bytes[{s}]: {size}; a message needs a finite size")
        if opts.dp < 1:
            raise ValueError(f"parallel.dp: {opts.dp}; must be >= 1")
        if compiled is None:
            compiled = compile_schedule(schedule, costs, reduce_time=reduce_time, check=opts.validate)
        elif compiled.program.order_pending and opts.validate:  # compiled for the table level's own dry run
            finish_validation(compiled.program)
        self.compiled = compiled
        p, dp = compiled.num_devices, opts.dp
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
        self.log = TransferLog() if opts.record_links else None
        self.network = Network(self.env, topology, policy=opts.policy, chunking=opts.chunking,
                               overhead=opts.overhead, log=self.log)
        self.sync = GradientSync(self, opts.grad_sync)
        with gc_paused():
            self._prepare()

    # -- preparation: everything derivable before time starts -------------------------------
    def _prepare(self) -> None:
        prog = self.compiled.program
        n = prog.num_actions
        # Action g waits for messages in_msg[in_ptr[g]:in_ptr[g + 1]] and sends
        # out_msg[out_ptr[g]:out_ptr[g + 1]] when it ends, each in message order: flat int64
        # arrays, since a tuple or list per action would cost more than the action's times.
        msgs = self.compiled.messages
        self._producer = msgs.producer
        self._in_ptr, self._in_msg = _grouped(msgs.consumer, n)
        self._out_ptr, self._out_msg = _grouped(msgs.producer, n)
        # Per replica and message: what ``Network.post`` needs, on topology devices and with its
        # route, or with no log only the route (``Network.launch``). Routes are static, so
        # resolving them here also makes an unreachable pair an error before time starts, not
        # from a running device. A message's tag is its replica-major index.
        p, route, device = prog.num_devices, self.network.route, prog.device
        nmsg = len(msgs)
        self.posts: list[list[tuple[Any, ...]]] = []
        self.routes: list[list[Any]] = []
        for r in range(self.options.dp):
            topo = self.placement[r * p : (r + 1) * p]
            ends = [(topo[device[a]], topo[device[b]]) for a, b in zip(msgs.producer, msgs.consumer, strict=True)]
            self.routes.append([route(src, dst) for src, dst in ends])
            if self.log is not None:
                self.posts.append([
                    (src, dst, rt, msgs.nbytes[k], msgs.kind[k], msgs.stage[k], msgs.microbatch[k], r * nmsg + k)
                    for k, ((src, dst), rt) in enumerate(zip(ends, self.routes[r], strict=True))])

    # -- running --------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None) -> SimResult:
        """Simulate to the end. ``progress(done, total, now)`` is called every ``PROGRESS_STEPS``
        SimPy steps with the compute actions finished, their total and the simulated time; it
        only reads, so the run's events, times and outputs are the same with or without it."""
        with gc_paused():
            return self._run(progress)

    def _drive(self, progress: Progress) -> None:
        # ``Environment.run()`` without ``until`` is this loop of ``step()`` calls ended by an
        # empty schedule; stepping here instead lets a caller look at the run every so often
        # without scheduling anything (an event of its own would shift later event ids).
        env, step, total = self.env, self.env.step, self.compiled.program.num_actions * self.options.dp
        try:
            while True:
                for _ in range(PROGRESS_STEPS):
                    step()
                progress(sum(done.count(1) for done in self._done), total, float(env.now))
        except simpy.core.EmptySchedule:
            pass

    def _run(self, progress: Progress | None = None) -> SimResult:
        env, prog, opts = self.env, self.compiled.program, self.options
        dp, n = opts.dp, prog.num_actions
        # Flat float64 arrays: 8 bytes a time instead of a list slot and a float object (32).
        self.start = [array("d", [0.0]) * n for _ in range(dp)]
        self.end = [array("d", [0.0]) * n for _ in range(dp)]
        self._done = [bytearray(n) for _ in range(dp)]
        self._position = [[prog.first[d] for d in range(prog.num_devices)] for _ in range(dp)]
        # A message's arrival event exists only while it is awaited or in flight: made by
        # whichever comes first, its sender or its receiver, and dropped (``True``: landed and
        # taken) once its receiver has it. Events for every message up front would cost more
        # than all the rest of a long run.
        self._arrived: list[list[Any]] = [[None] * len(self.compiled.messages) for _ in range(dp)]
        self._wait_data = [0.0] * len(self.placement)
        self._idle_sched = [0.0] * len(self.placement)
        for r in range(dp):
            for d in range(prog.num_devices):
                env.process(self._device(r, d))
        if progress is None:
            env.run()
        else:
            self._drive(progress)
        self._check_finished()
        self._arrived = []
        return SimResult(self, self.start, self.end, self._wait_data, self._idle_sched, self.sync.end)

    def _device(self, r: int, d: int) -> Generator[simpy.Event, Any, None]:
        """Walk device d's list (replica r): wait for inputs, compute, hand outputs to the network.

        This is the hot loop of the simulator, so everything derivable is prepared outside it
        and spans are built from the start/end arrays after the run.
        """
        env, prog = self.env, self.compiled.program
        me = r * prog.num_devices + d
        start, end, done = self.start[r], self.end[r], self._done[r]
        arrived = self._arrived[r]
        durations = self.compiled.durations
        sync = self.sync
        reduce_ids = sync.reduce_ids
        position = self._position[r]
        blocking = self.options.blocking_send
        grad_blocking = sync.blocking
        post, launch, timeout = self.network.post, self.network.launch, env.timeout
        routes, nbytes = self.routes[r], self.compiled.messages.nbytes
        posts = self.posts[r] if self.posts else None
        dp_sync, wgrad_stage = self.options.dp > 1, sync.wgrad_stage
        producer = self._producer
        in_ptr, in_msg, out_ptr, out_msg = self._in_ptr, self._in_msg, self._out_ptr, self._out_msg
        idle_sched, wait_data = self._idle_sched, self._wait_data
        for g in range(prog.first[d], prog.first[d] + prog.count[d]):
            position[d] = g
            waits = in_msg[in_ptr[g] : in_ptr[g + 1]]
            if waits:
                t0 = env._now
                for k in waits:
                    ev = arrived[k]
                    if ev is None:  # not sent yet
                        ev = arrived[k] = Event(env)
                    if ev.callbacks is not None:  # not yet processed
                        yield ev
                for k in waits:
                    arrived[k] = True
                now = env._now
                if now > t0:
                    # Split the wait: until the producer finished is the schedule's idle time;
                    # after that, the message was still on the wire.
                    ready = end[producer[waits[0]]]
                    for k in waits:
                        e = end[producer[k]]
                        if e > ready:
                            ready = e
                    sched_idle = (ready if ready < now else now) - t0
                    if sched_idle < 0.0:
                        sched_idle = 0.0
                    idle_sched[me] += sched_idle
                    wait_data[me] += now - t0 - sched_idle
            if g in reduce_ids:
                yield from sync.reduce(r, g)  # overlap: returns at once, the all-reduce runs on
            else:
                start[g] = env._now
                yield timeout(durations[g])
            end[g] = env._now
            done[g] = True
            out = out_msg[out_ptr[g] : out_ptr[g + 1]]
            if out:
                events = []
                for k in out:
                    # The receiver waits on arrived[k]; the network succeeds it on arrival.
                    ev = arrived[k]
                    if ev is None:
                        ev = arrived[k] = Event(env)
                    if posts is None:
                        launch(routes[k], nbytes[k], ev)
                    else:
                        src, dst, route, size, kind, stage, mb, tag = posts[k]
                        post(route, src, dst, size, kind, stage, mb, "", tag, ev)
                    if blocking:
                        events.append(ev)
                if blocking:
                    yield simpy.AllOf(env, events)
            if dp_sync and g in wgrad_stage:
                for s in wgrad_stage[g]:
                    landed = sync.stage_done(s)
                    if grad_blocking and landed is not None and not landed.processed:
                        yield landed
        position[d] = prog.first[d] + prog.count[d]

    @property
    def dp(self) -> int:
        return self.options.dp

    @cached_property
    def trace(self) -> Trace:
        """Everything the run recorded, built once on first use (a sweep that reads only metrics
        never pays for hundreds of thousands of record objects)."""
        return build_trace(self.compiled, self.options, self.topology, self.placement, self.start, self.end,
                           self.log, self.sync)

    # -- after the run --------------------------------------------------------------------------
    def _check_finished(self) -> None:
        prog = self.compiled.program
        blocked = []
        for r in range(self.options.dp):
            for d in range(prog.num_devices):
                g = self._position[r][d]
                if g < prog.first[d] + prog.count[d] and not self._done[r][g]:
                    waits = []
                    for k in self._in_msg[self._in_ptr[g] : self._in_ptr[g + 1]]:
                        ev = self._arrived[r][k]
                        if ev is None or (ev is not True and not ev.triggered):
                            p = self.compiled.messages.producer[k]
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
                self.compiled.schedule, d, prog.step[g], prog.actions[g])


def _grouped(owner: list[int], n: int) -> tuple[array[int], array[int]]:
    """Messages grouped by their owning action (of ``n``), in message order within each:
    ``(ptr, msg)`` with action g's messages at ``msg[ptr[g]:ptr[g + 1]]``."""
    own = np.asarray(owner, dtype=np.int64)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(own, minlength=n), out=ptr[1:])
    order = np.argsort(own, kind="stable").astype(np.int64)
    return array("q", ptr.tobytes()), array("q", order.tobytes())
