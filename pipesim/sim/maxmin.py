"""The default sharing model: max-min fair rates, with every link direction a SimPy process.

A message in flight is a *flow* with one rate along its whole route (the fluid limit of a
flow-controlled fabric: a flow bottlenecked downstream cannot keep more than its share
upstream, because credits/back-pressure stop it). Rates are the max-min fair allocation.

Who owns what:

* each ``MaxMinLink`` owns its queue: the flows currently on it (``flows``), and the flows it
  is the bottleneck of (``owned``: frozen at this link by progressive filling). Its SimPy
  process sleeps until the earliest of its owned flows drains, or until a rate change reaches
  it (it is then woken or interrupted and recomputes its timer); when a flow it owns drains,
  the link ends it.
* ``MaxMinSharing`` propagates rate changes. When a flow starts or ends, the links it crosses
  are the seeds; the change spreads along flow paths (link -> its flows -> their links ...) to
  the connected component of links that share traffic with them, and only there are rates
  recomputed, by progressive filling (raise all unfrozen rates together; the first link to
  saturate freezes its flows at its share and becomes their owner; repeat). Max-min fairness
  decomposes over such components, so this gives exactly the global allocation. It is the
  fixed point that a distributed max-min protocol (e.g. Bertsekas & Gallager's) converges to,
  computed directly rather than by simulating its rounds of control messages.

Latency is paid once per hop (cut-through): a message arrives when its last byte has drained
plus the latencies on its route. ``occupy_latency`` links are held, after the drain, by a flow
of ``latency x bandwidth`` bytes on that link alone, which shares the link like data.

A hop's queueing delay is the time the message took beyond what it would have taken alone on
its route: the cost of sharing, the fluid counterpart of waiting in a queue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import simpy
from simpy.events import Event, Timeout

from pipesim.sim.link import Link, Msg, Wiring

if TYPE_CHECKING:
    from pipesim.network.presets import LinkSpec

# A flow whose remaining bytes are below this fraction of its size has drained (float rounding).
_DRAINED = 1e-12


class Flow:
    """A message (or a latency hold) crossing its finite-bandwidth links at one rate."""

    __slots__ = ("hold", "links", "msg", "owner", "rate", "remaining", "size", "t")

    def __init__(self, msg: Msg, links: tuple[MaxMinLink, ...], size: float, hold: int, now: float) -> None:
        self.msg = msg
        self.links = links
        self.size = size
        self.remaining = size  # bytes still to drain, as of time ``t``
        self.t = now
        self.rate = 0.0
        self.owner: MaxMinLink | None = None  # the bottleneck link, which times the drain
        self.hold = hold  # -1: the message itself; i: holding route link i for its latency

    def drain_time(self) -> float:
        return self.t + self.remaining / self.rate


class MaxMinLink(Link):
    """One link direction: its flows, the flows it bottlenecks, and a process timing them."""

    __slots__ = ("_sharing", "_timed", "_wake", "flows", "owned", "process")

    def __init__(self, wiring: Wiring, index: int, name: str, spec: LinkSpec, sharing: MaxMinSharing) -> None:
        super().__init__(wiring, index, name, spec)
        self._sharing = sharing
        # Insertion-ordered sets (dicts): iteration order is the order flows arrived, which keeps
        # the run deterministic.
        self.flows: dict[Flow, None] = {}
        self.owned: dict[Flow, None] = {}
        self._wake: Event | None = None
        self._timed = False
        self.process = self.env.process(self._run())

    def poke(self) -> None:
        """The rates or the set of owned flows changed: recompute the timer."""
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.succeed()
        elif self._timed:
            self._timed = False
            self.process.interrupt()

    def _run(self):  # type: ignore[no-untyped-def]
        env = self.env
        owned = self.owned
        while True:
            if not owned:
                self._wake = wake = Event(env)
                yield wake
                continue
            when = math.inf
            for f in owned:
                d = f.drain_time()
                if d < when:
                    when = d
            delay = when - env._now
            self._timed = True
            try:
                yield Timeout(env, delay if delay > 0.0 else 0.0)
            except simpy.Interrupt:
                continue
            self._timed = False
            now = env._now
            done = [f for f in owned if f.remaining - f.rate * (now - f.t) <= f.size * _DRAINED
                    or f.drain_time() <= now]
            if done:
                self._sharing.end(done, now)


class MaxMinSharing:
    """Starts and ends flows and propagates the resulting rate changes (see the module doc)."""

    def __init__(self, env: simpy.Environment, finish_at: Callable[[Msg, float], None]) -> None:
        self.env = env
        self._finish_at = finish_at

    def inject(self, msg: Msg, links: tuple[Link, ...]) -> None:
        now = self.env._now
        msg.t0 = now
        msg.links = links
        msg.arrive_at = 0.0
        msg.pending = 0
        finite = tuple(link for link in links if isinstance(link, MaxMinLink))
        if msg.nbytes == 0 or not finite:
            self._drained(msg, now)
        else:
            self._start(Flow(msg, finite, msg.nbytes, -1, now), now)

    def _start(self, flow: Flow, now: float) -> None:
        alone = True
        for link in flow.links:
            link.fluid_enter(now)
            link.flows[flow] = None
            alone = alone and len(link.flows) == 1
        if alone:  # shares no link: nobody else's rate changes (max-min is per component)
            owner = min(flow.links, key=lambda x: x.bandwidth)
            flow.rate = owner.bandwidth
            flow.owner = owner
            owner.owned[flow] = None
            owner.poke()
        else:
            self._reallocate(flow.links, now)

    def end(self, done: list[Flow], now: float) -> None:
        """``done`` have drained (called by their owner's process)."""
        seeds: list[MaxMinLink] = []
        for f in done:
            owner = f.owner
            if owner is not None:
                del owner.owned[f]
            for link in f.links:
                del link.flows[f]
                link.fluid_leave(now)
                if link.flows:
                    seeds.append(link)
        # A link that an earlier flow of ``done`` left busy may have been emptied by a later one.
        seeds = [link for link in seeds if link.flows]
        if seeds:
            self._reallocate(seeds, now)
        for f in done:
            if f.hold < 0:
                self._drained(f.msg, now)
            else:
                self._held(f, now)

    def _reallocate(self, seeds: Iterable[MaxMinLink], now: float) -> None:
        # The component: links reachable from the seeds along the paths of their flows.
        links: dict[MaxMinLink, None] = {}
        flows: dict[Flow, None] = {}
        stack = list(seeds)
        while stack:
            link = stack.pop()
            if link in links:
                continue
            links[link] = None
            for f in link.flows:
                if f not in flows:
                    flows[f] = None
                    stack.extend(x for x in f.links if x not in links)
        # Bring every flow of the component up to now before its rate changes.
        for f in flows:
            dt = now - f.t
            if dt > 0.0:
                f.remaining -= f.rate * dt
            f.t = now
        capacity = {link: link.bandwidth for link in links}
        count = {link: len(link.flows) for link in links}
        poked: dict[MaxMinLink, None] = {}
        unfrozen = list(flows)
        while unfrozen:
            share = min(capacity[link] / c for link, c in count.items())
            limit = share * (1.0 + 1e-12)
            still: list[Flow] = []
            for f in unfrozen:
                for link in f.links:
                    if capacity[link] <= limit * count[link]:
                        break
                else:
                    still.append(f)
                    continue
                # ``link`` (the first saturated link on its route) is the flow's bottleneck.
                old = f.owner
                if old is not link:
                    if old is not None:
                        del old.owned[f]
                        poked[old] = None
                    link.owned[f] = None
                    f.owner = link
                    poked[link] = None
                elif f.rate != share:
                    poked[link] = None
                f.rate = share
                for x in f.links:
                    c = count[x] - 1
                    if c:
                        count[x] = c
                        capacity[x] -= share
                    else:
                        del count[x]
            unfrozen = still
        for link in poked:
            link.poke()

    def _drained(self, msg: Msg, now: float) -> None:
        """The last byte has left the bottleneck: record the hops, start the link holds."""
        links = msg.links
        alone = 0.0
        bw = min((link.bandwidth for link in links), default=math.inf)
        if msg.nbytes > 0 and bw < math.inf:
            alone = msg.nbytes / bw
        queued = max(0.0, now - msg.t0 - alone)
        offset = 0.0
        for i, link in enumerate(links):
            if link.occupy and msg.nbytes > 0 and isinstance(link, MaxMinLink):
                msg.pending += 1
                self._start(Flow(msg, (link,), link.latency * link.bandwidth, i, now), now)
            else:
                link.record(msg, msg.t0 + offset, now + offset, queued)
            offset += link.latency
        msg.arrive_at = now + offset
        if msg.pending == 0:
            self._finish_at(msg, msg.arrive_at)

    def _held(self, flow: Flow, now: float) -> None:
        msg = flow.msg
        links = msg.links
        link = links[flow.hold]
        link.record(msg, msg.t0 + sum(x.latency for x in links[: flow.hold]), now, 0.0)
        msg.arrive_at = max(msg.arrive_at, now + sum(x.latency for x in links[flow.hold + 1:]))
        msg.pending -= 1
        if msg.pending == 0:
            self._finish_at(msg, msg.arrive_at)
