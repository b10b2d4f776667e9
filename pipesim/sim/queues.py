"""The two queueing policies of a packet-mode link direction: FIFO and fair (processor sharing).

Each is a ``pipesim.sim.link.Link`` with its own SimPy process; ``pipesim.sim.link`` describes
the rules both follow (hops, pipelined chunks, credits, latency) and what each policy serves
first. They live apart from the base class so that the shared hop/chunk plumbing reads on its
own.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush
from typing import TYPE_CHECKING

import simpy
from simpy.events import Event, Timeout

from pipesim.sim.link import Hop, Link, Wiring

if TYPE_CHECKING:
    from pipesim.network.presets import LinkSpec


class FifoLink(Link):
    __slots__ = ("_flows", "_inv_bw", "_wake", "process")

    def __init__(self, wiring: Wiring, index: int, name: str, spec: LinkSpec) -> None:
        super().__init__(wiring, index, name, spec)
        self._flows: list[Hop] = []  # hops with chunks still to take, in service order
        self._inv_bw = 1.0 / self.bandwidth
        self._wake: Event | None = None
        self.process = self.env.process(self._run())

    def arrive(self, hop: Hop, n: int, nb: float) -> None:
        if hop.msg.nbytes == 0:
            self._pass(hop, n, nb)
            return
        if hop.taken == 0 and hop.avail == 0:
            now = self.env.now
            hop.arrival = now
            flows = self._flows
            flows.append(hop)
            # Equal arrival times: lower message id first, independent of event order.
            i = len(flows) - 1
            mid = hop.msg.id
            while i > 0 and flows[i - 1].arrival == now and flows[i - 1].msg.id > mid:
                flows[i] = flows[i - 1]
                i -= 1
            flows[i] = hop
        hop.avail += n
        hop.nb = nb
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.succeed()

    def _run(self):  # type: ignore[no-untyped-def]
        env = self.env
        flows = self._flows
        inv_bw, lat, occupy, cut = self._inv_bw, self.latency, self.occupy, self._cut
        deferred_at = -1.0
        while True:
            for hop in flows:
                if hop.avail:
                    break
            else:
                self._wake = wake = Event(env)
                yield wake
                continue
            now = env._now
            if hop is not flows[0] and deferred_at != now:
                # A later hop would slip in while an earlier one waits for its next chunk. That
                # chunk may reach the link at this very instant, from an event not yet processed:
                # decide once everything already due now has run (a chunk arriving as the link
                # frees is there). Only this rare case pays the extra event.
                deferred_at = now
                yield Timeout(env, 0.0)
                continue
            size = self._take(hop)
            last = hop.taken == hop.msg.nchunks
            if last:
                flows.remove(hop)
            end = now + size * inv_bw
            if cut:
                if hop.nb > end:
                    end = hop.nb
                if occupy:
                    end += lat
                if hop.next is not None:  # the head moves on now; the tail follows at `end`
                    self._forward(hop, 1, lat, end if occupy else end + lat)
            elif last and occupy:
                end += lat
            duration = end - now
            self.busy_time += duration
            yield Timeout(env, duration)
            if last:
                if hop.next is None or not cut:
                    self._forward(hop, 1, 0.0 if occupy else lat, 0.0)
                self._hop_done(hop, env.now)
            elif hop.next is not None:
                self._forward(hop, 1, lat, 0.0)


class FairLink(Link):
    __slots__ = ("_heap", "_inv_bw", "_t", "_timed", "_v", "_wake", "process")

    def __init__(self, wiring: Wiring, index: int, name: str, spec: LinkSpec) -> None:
        super().__init__(wiring, index, name, spec)
        self._heap: list[tuple[float, int, Hop]] = []  # (virtual finish, message id, hop)
        self._inv_bw = 1.0 / self.bandwidth
        # Holding the link for the latency is billed as that much extra work at full rate.
        self._tail_bytes = self.latency * self.bandwidth if self.occupy else 0.0
        self._v = 0.0  # virtual clock: bytes served to each active hop since the busy period began
        self._t = 0.0  # real time at which _v was last brought up to date
        # Where the process is, for whoever hands it work: waiting on ``_wake`` while idle, in a
        # timeout that new work makes stale while ``_timed`` (then it is interrupted), else running.
        self._wake: Event | None = None
        self._timed = False
        self.process = self.env.process(self._run())

    def arrive(self, hop: Hop, n: int, nb: float) -> None:
        msg = hop.msg
        if msg.nbytes == 0:
            self._pass(hop, n, nb)
            return
        if hop.active:  # a chunk of this message is on the link; the new ones wait behind it
            hop.avail += n
            return
        now = self.env._now
        if hop.taken == 0 and hop.avail == 0:
            hop.arrival = now
        hop.avail += n
        down = hop.down
        if down is None or hop.taken - down.done < hop.cap:
            self._start(hop, now)
        # else: no credit; the next hop's ``_run`` starts it when a slot frees downstream.

    def _start(self, hop: Hop, now: float) -> None:
        """Put the next unit of ``hop`` (here, with credit) into service."""
        heap = self._heap
        if heap:
            v = self._v + (now - self._t) * self.bandwidth / len(heap)
        else:
            v = 0.0
            self._busy_since = now
        self._v = v
        self._t = now
        heappush(heap, (v + self._take(hop), hop.msg.id, hop))
        hop.active = True
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.succeed()
        elif self._timed:  # every finish time just moved later, the new unit's maybe earlier
            self._timed = False
            self.process.interrupt()

    def _run(self):  # type: ignore[no-untyped-def]
        # The hot loop of the network: it runs once per chunk per link, so completion handling
        # is written inline rather than split into helpers.
        env = self.env
        heap = self._heap
        inv_bw, lat, occupy, land, landed = self._inv_bw, self.latency, self.occupy, self._land, self._landed_one_cb
        while True:
            if not heap:
                self._wake = wake = Event(env)
                yield wake
                continue
            finish = heap[0][0]
            delay = (finish - self._v) * len(heap) * inv_bw
            self._timed = True
            try:
                yield Timeout(env, delay if delay > 0.0 else 0.0)
            except simpy.Interrupt:
                continue
            self._timed = False
            now = env._now
            self._v = finish
            self._t = now
            # Units whose virtual finish equals this one (to rounding) complete together, in
            # message-id order (the heap's second key).
            limit = finish + finish * 1e-13
            while heap and heap[0][0] <= limit:
                hop = heappop(heap)[2]
                last = hop.taken == hop.msg.nchunks
                hop.done += hop.unit
                down = hop.down
                if hop.avail and (down is None or hop.taken - down.done < hop.cap):
                    # The message's next chunk is already here, with credit: it keeps its share.
                    heappush(heap, (finish + self._take(hop), hop.msg.id, hop))
                else:
                    hop.active = False
                up = hop.up
                if up is not None and up.avail and not up.active and up.taken - hop.done < up.cap:
                    # A buffer slot freed here: the previous hop, held back for want of credit,
                    # goes on.
                    up.link._start(up, now)  # type: ignore[attr-defined]
                if hop.next is not None or last:
                    # The chunk leaves: it lands ``latency`` later, or at once if the link was
                    # held for the latency.
                    if (last and occupy) or lat == 0.0:
                        land(hop, 1, 0.0)
                    else:
                        Timeout(env, lat, hop).callbacks.append(landed)  # type: ignore[union-attr]
                if last:
                    self._hop_done(hop, now)
            if not heap:
                self.busy_time += now - self._busy_since


def link_credits(first: Hop, buffer_chunks: int) -> None:
    """Give the hops of one message, ``first`` onwards, their credits: each processor-sharing
    hop may have at most ``buffer_chunks`` chunks, plus those that fit in the bandwidth-delay
    product of the wires to it, committed to the next processor-sharing hop and not yet sent on
    from there. A sender that is held back downstream therefore stops taking bandwidth upstream
    (back-pressure), as credit-based fabrics do; links of infinite bandwidth in between never
    queue, so they pass the credits through."""
    up: Hop | None = None
    wire = 0.0  # latency between ``up``'s link and the current hop's
    hop: Hop | None = first
    while hop is not None:
        if isinstance(hop.link, FairLink):
            if up is not None:
                up.down = hop
                hop.up = up
                bdp = math.ceil(wire * up.link.bandwidth / up.msg.chunk - 1e-9) if wire > 0.0 else 0
                up.cap = buffer_chunks + bdp
            up = hop
            wire = hop.link.latency
        else:
            wire += hop.link.latency
        hop = hop.next
