"""The simulated network: one ``Link`` per directed link of a ``Topology``, and ``send``.

The default (policy ``fair``, chunking ``auto`` or off) is the max-min fair model of
``pipesim.sim.maxmin``: every message in flight is a flow with one rate along its route, the
rates are max-min fair on any topology, every link direction is a SimPy process that owns its
flows and times the drains it is the bottleneck of, and latency is paid once per hop
(cut-through). See docs/network.md.

Other modes:

* ``fifo`` without chunks (``auto`` or off): each link serves whole messages in arrival order,
  cut-through (a hop may start when the head of the message arrives but ends no earlier than
  its tail);
* a fixed chunk size (``chunk_bytes: 1 MiB``), the packet mode: the message is split into
  chunks, each forwarded as soon as it has crossed a link while the next ones are still
  arriving (pipelined; ``inf``: the whole message is one chunk). ``fair`` links share
  (processor sharing among the messages with a chunk there) and hand chunks on *credits*: a
  hop may have at most ``BUFFER_CHUNKS`` chunks, plus the bandwidth-delay product of the wires
  in between, sent to the next hop and not yet sent on from there, so a flow held back
  downstream cannot keep its share upstream. Its finish times converge to the max-min model's
  as chunks shrink (about one chunk time per hop is what remains). ``fifo`` links serialize
  whole chunks with unbounded queues and no credits: the legacy model its exact reference
  pins (``tests/test_link_reference.py``).

Zero time: a message whose route is free (every hop infinite bandwidth and zero latency, or
src == dst) completes at the current simulated time when ``overhead`` is 0; this is what makes
the table level and the simulation agree exactly on a free network.

Determinism: no randomness. Simultaneous events run in the order SimPy schedules them (the order
of the calls that created them); inside a link, ties go to the lower message id (message ids
count sends from 0). The same input therefore always gives the same trace.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import simpy
from simpy.events import Event, Timeout

from pipesim.network import Topology
from pipesim.network.options import Chunking
from pipesim.sim.link import Hop, Link, Msg, PassLink, Wiring
from pipesim.sim.maxmin import MaxMinLink, MaxMinSharing
from pipesim.sim.queues import FairLink, FifoLink, link_credits
from pipesim.sim.records import TransferLog
from pipesim.units import parse_time

POLICIES = ("fair", "fifo")
# Per-hop buffer of a chunked fair message, in chunks, beyond its wires' bandwidth-delay
# product: two is double buffering (one chunk sent on while the next arrives), the least that
# lets an unshared path run at its bottleneck rate; see docs/network.md.
BUFFER_CHUNKS = 2
# A cached route: its links; whether it takes zero time; the links that take time (a message's
# hops), but the last, reversed (the order in which its hop chain is built); and the links that
# take none (e.g. NIC attachments), which only count the message as it passes.
_Route = tuple[tuple[Link, ...], bool, tuple[Link, ...], tuple[Link, ...]]


class Network:
    """All links of ``topology`` inside the SimPy environment ``env``.

    ``policy`` "fair" (max-min fair sharing) or "fifo" (one message at a time);
    ``chunking`` fluid/auto (whole messages: max-min fluid flows, or FIFO cut-through) or a
    fixed chunk (the packet mode; inf: whole messages as one chunk; see module doc);
    ``overhead`` seconds of software overhead at the sender per message; ``log``, if given,
    receives compact transfer records from which a trace gets one
    track per directed link (``"link:" + name``), one ``Message`` per send and one "xfer" span
    per message per link (links that take no time are counted but draw no spans).
    """

    def __init__(
        self,
        env: simpy.Environment,
        topology: Topology,
        *,
        policy: str = "fair",
        chunking: Chunking | float | str | None = Chunking.AUTO,
        overhead: float | str = 0.0,
        log: TransferLog | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"network.policy: {policy!r} is not one of: {', '.join(POLICIES)}")
        self.chunking = Chunking.parse(chunking, key=("network", "chunk_bytes"))
        over = parse_time(overhead, key="network.overhead")
        if not (math.isfinite(over) and over >= 0):
            raise ValueError(f"network.overhead: {overhead!r}; must be a finite time >= 0")
        self.env = env
        self.topology = topology
        self.policy = policy
        # Only a fixed size chunks messages; ``auto`` is the model's default, whole messages.
        self.chunk_bytes = self.chunking.size if self.chunking.mode == "fixed" else None
        self.overhead = over
        self.cut_through = self.chunk_bytes is None and policy == "fifo"
        # Compact transfer records, turned into the trace's spans and messages after the run.
        self.log = log
        self._fluid: MaxMinSharing | None = None
        if self.chunk_bytes is None and policy == "fair":
            self._fluid = MaxMinSharing(env, self._finish_at)
        wiring = Wiring(env, self._land, self._finish, log.hops.extend if log is not None else None,
                        self.cut_through)
        self.links: list[Link] = []
        for d in topology.directed:
            if math.isinf(d.spec.bandwidth):
                self.links.append(PassLink(wiring, d.index, d.name, d.spec))
            elif self._fluid is not None:
                self.links.append(MaxMinLink(wiring, d.index, d.name, d.spec, self._fluid))
            elif policy == "fifo":
                self.links.append(FifoLink(wiring, d.index, d.name, d.spec))
            else:
                self.links.append(FairLink(wiring, d.index, d.name, d.spec))
        if log is not None:
            log.tracks.extend(link.track for link in self.links)
            self._posted = log.posted.extend
            self._finished = log.finished.extend
        self._chunk = self.chunk_bytes or 0.0
        # Chunks under processor sharing travel on credits (back-pressure); FIFO's chunks keep
        # the unbounded queues its exact reference pins.
        self._credits = policy == "fair" and self.chunk_bytes is not None
        self._next_id = 0
        self.delivered = 0  # messages that have arrived, and their bytes (added in arrival order)
        self.bytes_delivered = 0.0
        self._num_devices = len(topology.devices)
        self._routes: dict[tuple[int, int], _Route] = {}

    # -- sending ----------------------------------------------------------------------------
    def send(self, src: int, dst: int, nbytes: float, *, kind: str = "act", stage: int = -1,
             microbatch: int = -1, label: str = "", tag: int = -1, event: Event | None = None) -> Event:
        """Send ``nbytes`` from device ``src`` to device ``dst``; the event succeeds when the whole
        message has arrived. A caller that already holds the event its receiver waits on passes
        it as ``event``, which saves chaining a second event per message."""
        if not nbytes >= 0 or nbytes == math.inf:
            raise ValueError(f"send: nbytes={nbytes!r}; must be a finite size >= 0")
        route = self._routes.get((src, dst))
        if route is None:
            route = self.route(src, dst)
        if event is None:
            event = Event(self.env)
        self.post(route, src, dst, nbytes, kind, stage, microbatch, label, tag, event)
        return event

    def post(self, route: _Route, src: int, dst: int, nbytes: float, kind: str, stage: int, microbatch: int,
             label: str, tag: int, event: Event) -> None:
        """``send`` for callers that hold the route (``Network.route``) and the event and have
        checked ``nbytes`` (finite, >= 0): positional and without lookups, because the engine
        calls it once per message."""
        if self.log is not None:  # row ``_next_id`` (the id ``launch`` gives it; fields: records.POST_FIELDS)
            self._posted((src, dst, nbytes, self.env._now, stage, microbatch, kind, label, tag))
        self.launch(route, nbytes, event)

    def launch(self, route: _Route, nbytes: float, event: Event) -> None:
        """``post`` without the record: all a network that keeps no log needs of a message, so
        a caller that keeps no trace need not hold the message's endpoints, kind and tag."""
        mid = self._next_id
        self._next_id = mid + 1
        msg = Msg(mid, nbytes, event, self._chunk)
        if self.overhead > 0.0:
            Timeout(self.env, self.overhead, (msg, route)).callbacks.append(self._inject_later)  # type: ignore[union-attr]
        else:
            self._inject(msg, route)

    def route(self, src: int, dst: int) -> _Route:
        """The route from device ``src`` to ``dst`` (cached), as ``post`` takes it. Resolving it
        before the run turns an unreachable pair into an error then, not from a running process."""
        route = self._routes.get((src, dst))
        if route is not None:
            return route
        n = self._num_devices
        for what, d in (("src", src), ("dst", dst)):
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < n:
                raise ValueError(f"send: {what}={d!r}; devices are 0..{n - 1}")
        links = tuple(self.links[i] for i in self.topology.route(src, dst))
        free = tuple(link for link in links if link.spec.is_free)
        timed = tuple(link for link in links if not link.spec.is_free)
        self._routes[(src, dst)] = route = (links, not timed, timed[::-1], free)
        return route

    def _inject_later(self, ev: Event) -> None:
        msg, route = ev._value
        self._inject(msg, route)

    def _inject(self, msg: Msg, route: _Route) -> None:
        links, zero_time, timed_reversed, free = route
        if zero_time:  # nothing to wait for (also src == dst)
            now = self.env._now
            for link in links:
                link.record(msg, now, now)
            self._finish(msg)
        elif self._fluid is not None:
            self._fluid.inject(msg, links)
        else:
            now = self.env._now
            for link in free:
                link.record(msg, now, now)
            hop: Hop | None = None
            for link in timed_reversed:
                hop = Hop(msg, link, hop)
            assert hop is not None  # a route that takes time has a timed link
            if self._credits and msg.nchunks > 1 and hop.next is not None:  # one chunk fits any buffer
                link_credits(hop, BUFFER_CHUNKS)
            hop.link.arrive(hop, msg.nchunks, 0.0)

    def _land(self, hop: Hop, n: int, nb: float) -> None:
        """``n`` chunks of ``hop`` have crossed ``hop.link``: on to the next link, or delivered."""
        nxt = hop.next
        if nxt is not None:
            nxt.link.arrive(nxt, n, nb)
        else:  # links only hand over a message's final unit on its last hop
            self._finish(hop.msg)

    def _finish(self, msg: Msg) -> None:
        self.delivered += 1
        self.bytes_delivered += msg.nbytes
        if self.log is not None:
            self._finished((msg.id, self.env._now))
        msg.event.succeed()

    def _finish_at(self, msg: Msg, when: float) -> None:
        delay = when - self.env.now
        if delay > 0.0:
            ev = Timeout(self.env, delay, msg)
            ev.callbacks.append(self._finish_later)  # type: ignore[union-attr]
        else:
            self._finish(msg)

    def _finish_later(self, ev: Event) -> None:
        self._finish(ev._value)

    # -- metrics ----------------------------------------------------------------------------
    @property
    def messages_sent(self) -> int:
        return self._next_id

    def link_stats(self) -> list[dict[str, Any]]:
        """Per directed link, in index order: name, bandwidth, latency, bytes carried, busy time,
        transfers (messages that crossed), mean and max queueing delay (wait before the first
        chunk started)."""
        return [link.stats() for link in self.links]


# --------------------------------------------------------------------------------------------


def simulate_flows(
    topology: Topology,
    flows: Sequence[tuple[int, int, float, float]],
    *,
    policy: str = "fair",
    chunking: Chunking | float | str | None = Chunking.AUTO,
    overhead: float = 0.0,
    log: TransferLog | None = None,
) -> list[float]:
    """Run explicit transfers ``(src, dst, nbytes, start)`` to completion; finish times in order.
    With ``log`` given, the run's transfer records are appended to it."""
    env = simpy.Environment()
    net = Network(env, topology, policy=policy, chunking=chunking, overhead=overhead, log=log)
    finish = [math.nan] * len(flows)

    def start(i: int, src: int, dst: int, nbytes: float):  # type: ignore[no-untyped-def]
        done = net.send(src, dst, nbytes, kind="flow", label=f"flow {i}")
        yield done
        finish[i] = env.now

    def launch(i: int, src: int, dst: int, nbytes: float, at: float):  # type: ignore[no-untyped-def]
        if at > 0:
            yield env.timeout(at)
        yield from start(i, src, dst, nbytes)

    for i, (src, dst, nbytes, at) in enumerate(flows):
        env.process(launch(i, src, dst, nbytes, at))
    env.run()
    return finish
