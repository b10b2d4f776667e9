"""The fluid model of fair sharing (policy ``fair`` with chunking off).

Every message in flight is a flow with one rate along its whole route; rates are the exact
max-min fair allocation (progressive filling: raise every unfrozen rate together, freeze the
flows of the first link to saturate at the share it can give them, repeat), recomputed when a
flow starts or ends. A message arrives when its last byte has drained plus the latencies on its
route. ``occupy_latency`` links are held, after the drain, by a flow of ``latency x bandwidth``
bytes competing for that link alone. One SimPy process serves the whole network.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import simpy
from simpy.events import Event, Timeout

from pipesim.sim.link import Link, Msg


class _Flow:
    __slots__ = ("hold", "links", "msg", "rate", "remaining", "size")

    def __init__(self, msg: Msg, links: tuple[Link, ...], size: float, hold: int) -> None:
        self.msg = msg
        self.links = links  # finite-bandwidth links only
        self.size = size
        self.remaining = size
        self.rate = 0.0
        self.hold = hold  # -1: the message itself; i: holding route link i for its latency


_RUNNING, _IDLE, _TIMED, _WOKEN = 0, 1, 2, 3


class FluidScheduler:
    """Max-min fair rates for all messages in flight, one SimPy process for the whole network."""

    def __init__(self, env: simpy.Environment, finish_at: Callable[[Msg, float], None]) -> None:
        self.env = env
        self._finish_at = finish_at
        self.flows: list[_Flow] = []
        self._t = 0.0
        self._state = _RUNNING
        self._wake: Event | None = None
        self.process = self.env.process(self._run())

    def inject(self, msg: Msg, links: tuple[Link, ...]) -> None:
        now = self.env._now
        msg.t0 = now
        msg.links = links
        msg.arrive_at = 0.0
        msg.pending = 0
        finite = tuple(link for link in links if not math.isinf(link.bandwidth))
        if msg.nbytes == 0 or not finite:
            self._drained(msg, now)
        else:
            self._add(_Flow(msg, finite, msg.nbytes, -1))

    def _add(self, flow: _Flow) -> None:
        now = self.env.now
        self._advance(now)
        self.flows.append(flow)
        alone = True
        for link in flow.links:
            link.fluid_enter(now)
            alone = alone and link.fluid_count == 1
        if alone:  # shares no link: nobody else's rate changes (max-min is per component)
            flow.rate = min(link.bandwidth for link in flow.links)
        else:
            self._allocate()
        state = self._state
        if state == _IDLE:
            self._state = _WOKEN
            self._wake.succeed()  # type: ignore[union-attr]
        elif state == _TIMED:
            self._state = _WOKEN
            self.process.interrupt()

    def _advance(self, now: float) -> None:
        dt = now - self._t
        if dt > 0.0:
            for f in self.flows:
                f.remaining -= f.rate * dt
        self._t = now

    def _allocate(self) -> None:
        # Progressive filling: raise all unfrozen rates together; when a link saturates, freeze
        # the flows crossing it at the share it can give them, and go on with the rest.
        flows = self.flows
        if len(flows) == 1:
            f = flows[0]
            f.rate = min(link.bandwidth for link in f.links)
            return
        capacity: dict[Link, float] = {}
        count: dict[Link, int] = {}
        for f in flows:
            for link in f.links:
                if link in count:
                    count[link] += 1
                else:
                    count[link] = 1
                    capacity[link] = link.bandwidth
        unfrozen = flows
        while unfrozen:
            share = math.inf
            for link, c in count.items():
                s = capacity[link] / c
                if s < share:
                    share = s
            limit = share * (1.0 + 1e-12)
            saturated = {link for link, c in count.items() if capacity[link] <= limit * c}
            still: list[_Flow] = []
            for f in unfrozen:
                for link in f.links:
                    if link in saturated:
                        break
                else:
                    still.append(f)
                    continue
                f.rate = share
                for link in f.links:
                    c = count[link] - 1
                    if c:
                        count[link] = c
                        capacity[link] -= share
                    else:
                        del count[link]
            unfrozen = still

    def _run(self):  # type: ignore[no-untyped-def]
        env = self.env
        flows = self.flows
        while True:
            if not flows:
                self._state = _IDLE
                self._wake = Event(env)
                yield self._wake
                self._state = _RUNNING
                continue
            first = flows[0]
            delay = first.remaining / first.rate
            for f in flows:
                d = f.remaining / f.rate
                if d < delay:
                    first, delay = f, d
            self._state = _TIMED
            try:
                yield Timeout(env, delay if delay > 0.0 else 0.0)
            except simpy.Interrupt:
                self._state = _RUNNING
                continue
            self._state = _RUNNING
            now = env.now
            self._advance(now)
            first.remaining = 0.0
            done = [f for f in flows if f.remaining <= f.size * 1e-12]
            flows[:] = [f for f in flows if f.remaining > f.size * 1e-12]
            shared = False
            for f in done:
                for link in f.links:
                    link.fluid_leave(now)
                    shared = shared or link.fluid_count > 0
            if shared:
                self._allocate()
            for f in done:
                if f.hold < 0:
                    self._drained(f.msg, now)
                else:
                    self._held(f, now)

    def _drained(self, msg: Msg, now: float) -> None:
        """The last byte has left the bottleneck: record the hops, start the link holds."""
        offset = 0.0
        for i, link in enumerate(msg.links):
            if link.occupy and msg.nbytes > 0:
                msg.pending += 1
                self._add(_Flow(msg, (link,), link.latency * link.bandwidth, i))
            else:
                link.record(msg, msg.t0 + offset, now + offset)
            offset += link.latency
        msg.arrive_at = now + offset
        if msg.pending == 0:
            self._finish_at(msg, msg.arrive_at)

    def _held(self, flow: _Flow, now: float) -> None:
        msg = flow.msg
        links = msg.links
        link = links[flow.hold]
        link.record(msg, msg.t0 + sum(x.latency for x in links[: flow.hold]), now)
        msg.arrive_at = max(msg.arrive_at, now + sum(x.latency for x in links[flow.hold + 1:]))
        msg.pending -= 1
        if msg.pending == 0:
            self._finish_at(msg, msg.arrive_at)
