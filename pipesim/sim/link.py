"""Links: one queue (and one SimPy process) per direction of every link.

A link owns its timing: bandwidth, latency and the order in which it serves what waits for it.
Devices never compute transfer times. The unit of service is a *hop*: one message crossing one
link. A hop's chunks arrive over time (each chunk is forwarded as soon as it has crossed the
previous link, while later chunks are still on their way: the message is pipelined), wait in the
link's queue, are transmitted, and are handed on ``latency`` seconds after their last bit left
(propagation), or at once when the link was held for the latency (``occupy_latency``).

Policies:

* ``FifoLink`` - one transmission at a time. Hops are served in the order their first chunk
  arrived (ties: lower message id first); a link never idles while any hop has a chunk ready,
  so when the earliest hop is waiting for its next chunk a later hop's chunk goes first. A
  chunk that arrives at the very instant the link frees counts as ready, whatever the order of
  the simultaneous events (``tests/test_link_reference.py`` checks these rules against an exact
  reference).
* ``FairLink`` - processor sharing: the bandwidth is split equally among the hops that have a
  chunk on the link (one chunk per message at a time, so a long message does not get more
  share than a short one), recomputed whenever one starts or finishes. Chunks move on
  *credits* (``link_credits``): a hop may start a chunk only while few enough of its chunks
  wait in the next hop's buffer, so a message held back downstream stops taking its share
  upstream (back-pressure) and the rates approach max-min fairness as chunks shrink. Implemented with a
  virtual clock V that advances at ``bandwidth / n`` bytes per second; a chunk that starts at
  V0 finishes when V reaches V0 + size. Completion times are computed, not stepped, so the
  only floating-point error is that of a few additions.
* ``PassLink`` - infinite bandwidth: nothing ever waits, so it needs no process; chunks pass
  straight through and land after the latency. Zero-byte messages pass every link this way:
  they cost only latency, never a place in a queue. A link that takes no time at all (infinite
  bandwidth, zero latency: a NIC attachment, say) is left out of a message's chain of hops by
  the network; it only counts the message.

With ``occupy_latency`` a FIFO link stays busy for the latency after a message's last chunk;
a fair link bills the latency as ``latency x bandwidth`` extra bytes of that last chunk, so a
message alone holds it for exactly the latency and shares it like data otherwise.

On a message's last hop its available chunks are served as one unit (nothing downstream needs
them separately); under processor sharing this is exact, under FIFO it only means that a
hop, once started, keeps the link for all of its chunks that have already arrived.

Whole messages (chunking off) under FIFO are *cut through*: a hop starts as soon as the head
of the message arrives, but cannot finish before the message's last bit has reached it. A
lone message therefore takes its bottleneck time plus the sum of latencies, the limit of
chunking as chunks shrink. (Chunking off or ``auto`` under ``fair`` uses the max-min model in
``pipesim.sim.maxmin``.) ``FifoLink``, ``FairLink`` and the credits live in
``pipesim.sim.queues``; this module holds what every link shares.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import simpy
from simpy.events import Event, Timeout

from pipesim.sim.runsum import running_sum, sum_result

if TYPE_CHECKING:
    from pipesim.network.presets import LinkSpec


class Wiring(NamedTuple):
    """What a link is handed by the network that owns it: the environment, where a unit goes
    when it has crossed (``land(hop, n, nb)``: on to the next hop), how a message is delivered
    (``finish(msg)``), where transfer records go (``record``, a list's ``extend``; None when the
    run keeps no trace) and whether whole messages cut through (fifo without chunks)."""

    env: simpy.Environment
    land: Callable[[Hop, int, float], None]
    finish: Callable[[Msg], None]
    record: Callable[[tuple[int, int, float, float, float]], None] | None
    cut_through: bool


class Msg:
    """One message in flight: what its links need (the trace's record of it is in the network's
    ``TransferLog``)."""

    __slots__ = ("arrive_at", "chunk", "event", "id", "last", "links", "nbytes", "nchunks", "pending", "t0")
    # Set by the max-min model when it takes the message (pipesim.sim.maxmin).
    t0: float
    links: tuple[Link, ...]
    arrive_at: float
    pending: int

    def __init__(self, mid: int, nbytes: float, event: Event, chunk_bytes: float) -> None:
        self.id = mid
        self.nbytes = nbytes
        self.event = event
        if chunk_bytes > 0 and nbytes > chunk_bytes:
            n = math.ceil(nbytes / chunk_bytes)
            self.nchunks = n
            self.chunk = chunk_bytes
            self.last = nbytes - (n - 1) * chunk_bytes
        else:
            self.nchunks = 1
            self.chunk = self.last = nbytes
        # The fluid model sets t0, links, arrive_at and pending when it takes the message.


class Hop:
    """One message on one link: how many of its chunks are here, taken, done, and when it
    started; under ``fair`` with chunks, the hops it exchanges credits with."""

    __slots__ = ("active", "arrival", "avail", "cap", "done", "down", "link", "msg", "nb", "next", "start",
                 "taken", "unit", "up")

    def __init__(self, msg: Msg, link: Link, nxt: Hop | None) -> None:
        self.msg = msg
        self.link = link
        self.next = nxt
        self.avail = 0  # chunks here, not yet taken
        self.taken = 0  # chunks taken for transmission
        self.done = 0  # chunks whose transmission has ended (their buffer slot is free again)
        self.unit = 0  # chunks in the unit being transmitted
        self.arrival = 0.0  # first chunk's arrival
        self.start = 0.0  # first chunk's start
        self.nb = 0.0  # cut-through: the message's last bit reaches this link no earlier than this
        self.active = False  # FairLink: a chunk of this hop is being served
        # Credits (FairLink with chunks; see ``link_credits``): this hop may take a chunk only
        # while ``taken - down.done < cap``; ``up`` is the hop that waits for this one's credits.
        self.down: Hop | None = None
        self.up: Hop | None = None
        self.cap = 0


class Link:
    """Base: identity, timing, counters and the hand-over to the next hop."""

    __slots__ = (
        "_busy_since",
        "_cut",
        "_delay_comp",
        "_delay_max",
        "_delay_sum",
        "_finish",
        "_land",
        "_landed_cb",
        "_landed_one_cb",
        "_nactive",
        "_rec",
        "_tail_bytes",
        "bandwidth",
        "busy_time",
        "bytes",
        "env",
        "index",
        "latency",
        "name",
        "occupy",
        "spec",
        "track",
        "transfers",
    )

    def __init__(self, wiring: Wiring, index: int, name: str, spec: LinkSpec) -> None:
        self.env = wiring.env
        self.index = index
        self.name = name
        self.track = "link:" + name
        self.spec = spec
        self.bandwidth = spec.bandwidth
        self.latency = spec.latency
        self.occupy = spec.occupy_latency
        self._cut = wiring.cut_through
        self._land = wiring.land
        self._finish = wiring.finish
        # One bound method for every propagation timer, instead of a new one per chunk.
        self._landed_cb = self._landed
        self._landed_one_cb = self._landed_one
        # Transfer records go to the network's compact log (a span each when the trace is read).
        # A link that takes no time (infinite bandwidth, zero latency; e.g. a NIC attachment)
        # is counted but draws no spans: they would be zero-width or repeat a neighbour's bar.
        self._rec = wiring.record if not spec.is_free else None
        # Counters for metrics.
        self.bytes = 0.0
        self.busy_time = 0.0
        self.transfers = 0
        # Queueing delays, summarised as they come (O(1) per link, not one float per transfer).
        self._delay_sum = 0.0
        self._delay_comp = 0.0  # the compensation term, where the builtin ``sum`` keeps one
        self._delay_max = 0.0
        self._nactive = 0  # fluid model: flows crossing this link
        # Bytes billed after a message's last chunk (a fair link held for the latency; see FairLink).
        self._tail_bytes = 0.0
        self._busy_since = 0.0

    # -- called by the previous hop (or the sender) ------------------------------------------
    def arrive(self, hop: Hop, n: int, nb: float) -> None:
        """``n`` chunks of ``hop.msg`` reach this link (``nb``: cut-through arrival bound)."""
        self._pass(hop, n, nb)

    # -- shared machinery ---------------------------------------------------------------------
    def _pass(self, hop: Hop, n: int, nb: float) -> None:
        # Nothing to transmit (infinite bandwidth or a zero-byte message): no queue, only latency.
        env = self.env
        now = env.now
        if hop.taken == 0:
            hop.arrival = hop.start = now
        hop.taken += n
        last = hop.taken == hop.msg.nchunks
        if self._cut:
            end = nb if nb > now else now
            if hop.next is None:
                self._forward(hop, n, end - now + self.latency, 0.0)
            else:
                self._forward(hop, n, self.latency, end + self.latency)
        elif last or hop.next is not None:
            self._forward(hop, n, self.latency, 0.0)
        if last:
            self._hop_done(hop, now)

    def _forward(self, hop: Hop, n: int, delay: float, nb: float) -> None:
        """Hand ``n`` chunks of ``hop`` to the next hop (or the destination) after ``delay``."""
        if delay > 0.0:
            Timeout(self.env, delay, (hop, n, nb)).callbacks.append(self._landed_cb)  # type: ignore[union-attr]
        else:
            self._land(hop, n, nb)

    def _landed(self, ev: Event) -> None:
        # Network._land, inlined: this runs once per chunk per hop.
        hop, n, nb = ev._value
        nxt = hop.next
        if nxt is not None:
            nxt.link.arrive(nxt, n, nb)
        else:
            self._finish(hop.msg)

    def _landed_one(self, ev: Event) -> None:
        """``_landed`` for one chunk and no cut-through bound, the common case: the timer's value
        is the hop itself, which saves packing a tuple per chunk."""
        hop = ev._value
        nxt = hop.next
        if nxt is not None:
            nxt.link.arrive(nxt, 1, 0.0)
        else:
            self._finish(hop.msg)

    def _take(self, hop: Hop) -> float:
        """Take the next unit of ``hop`` for transmission and return its bytes: one chunk, or on
        the message's last hop every chunk that is here (plus ``_tail_bytes`` after the last one).
        It runs once per chunk, which is why it is written out rather than split further."""
        msg = hop.msg
        k = hop.taken
        if k == 0:
            hop.start = self.env._now
        m = hop.avail if hop.next is None else 1
        hop.unit = m
        hop.avail -= m
        k += m
        hop.taken = k
        if k == msg.nchunks:
            return (m - 1) * msg.chunk + msg.last + self._tail_bytes
        return m * msg.chunk

    def _hop_done(self, hop: Hop, end: float) -> None:
        msg = hop.msg
        queued = hop.start - hop.arrival
        self.bytes += msg.nbytes
        self.transfers += 1
        self._add_delay(queued)
        rec = self._rec
        if rec is not None:  # fields: pipesim.sim.records.HOP_FIELDS
            rec((self.index, msg.id, hop.start, end, queued))

    def record(self, msg: Msg, start: float, end: float, queued: float = 0.0) -> None:
        """A whole hop at once (fluid models and zero-time fast path)."""
        self.bytes += msg.nbytes
        self.transfers += 1
        self._add_delay(queued)
        if self._rec is not None:
            self._rec((self.index, msg.id, start, end, queued))

    def _add_delay(self, queued: float) -> None:
        """Fold one transfer's queueing delay into the running sum and maximum, exactly as the
        builtin ``sum`` and ``max`` over all of them would (``running_sum`` says how)."""
        self._delay_sum, self._delay_comp = running_sum(self._delay_sum, self._delay_comp, queued)
        if queued > self._delay_max:
            self._delay_max = queued

    def fluid_enter(self, now: float) -> None:
        if self._nactive == 0:
            self._busy_since = now
        self._nactive += 1

    def fluid_leave(self, now: float) -> None:
        self._nactive -= 1
        if self._nactive == 0:
            self.busy_time += now - self._busy_since

    def stats(self) -> dict[str, float | int | str]:
        n = self.transfers
        return {
            "name": self.name,
            "bandwidth": self.bandwidth,
            "latency": self.latency,
            "bytes": self.bytes,
            "busy_time": self.busy_time,
            "transfers": self.transfers,
            "mean_queueing_delay": sum_result(self._delay_sum, self._delay_comp) / n if n else 0.0,
            "max_queueing_delay": self._delay_max,
        }


class PassLink(Link):
    """Infinite bandwidth: never busy, never queues."""

    __slots__ = ()
