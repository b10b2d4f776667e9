"""Compact records of a network's traffic, turned into trace objects once, after the run.

A busy run crosses hundreds of thousands of (message, link) pairs. Building a ``Span`` for each
as it happens costs more than the link's own bookkeeping, and every such object stays alive, so
the garbage collector's next walk visits each of them. Here the hot path extends a flat list by
the record's plain fields instead (one C call, about a tenth of a dataclass constructor; numbers
and strings are not tracked by the collector, so its walk only skims the list), and ``spans`` /
``messages`` build the objects, in recording order, when a trace is first asked for. (An
``array`` column would be smaller, but ``array.extend`` from a tuple costs as much as the
dataclass it replaces.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipesim.trace import Message, Span, Trace

# Fields per record in each list.
HOP_FIELDS = 5  # link index, message id, start, end, queueing delay
POST_FIELDS = 9  # source, destination, bytes, send time, stage, microbatch, kind, label, tag (row = message id)
FINISH_FIELDS = 2  # message id, arrival time

#: What a message's tag means to whoever sent it: ``(src lane, dst lane, producer, consumer)``
#: for a tag >= 0, given the message's topology source and destination otherwise.
Facts = Callable[[int, int, int], tuple[int, int, str, str]]


class TransferLog:
    """What a ``Network`` recorded, in three flat columns; the network appends to them."""

    __slots__ = ("finished", "hops", "posted", "tracks")

    def __init__(self) -> None:
        self.tracks: list[str] = []  # link index -> trace track
        self.hops: list[Any] = []
        self.posted: list[Any] = []
        self.finished: list[Any] = []

    def spans(self) -> list[Span]:
        """One "xfer" span per recorded hop, in recording order."""
        rows, posted, tracks = self.hops, self.posted, self.tracks
        out = []
        for i in range(0, len(rows), HOP_FIELDS):
            mid = rows[i + 1]
            m = mid * POST_FIELDS
            out.append(Span(tracks[rows[i]], "xfer", rows[i + 2], rows[i + 3], posted[m + 4], posted[m + 5],
                            posted[m + 2], mid, posted[m + 7], rows[i + 4]))
        return out

    def messages(self, facts: Facts) -> list[Message]:
        """One ``Message`` per delivered message, in arrival order; ``facts(tag, src, dst)``
        names its trace lanes and the actions at both ends."""
        rows, posted = self.finished, self.posted
        out = []
        for i in range(0, len(rows), FINISH_FIELDS):
            mid = rows[i]
            m = mid * POST_FIELDS
            src, dst, nbytes, sent, stage, mb, kind, label, tag = posted[m : m + POST_FIELDS]
            lane_src, lane_dst, producer, consumer = facts(tag, src, dst)
            out.append(Message(mid, lane_src, lane_dst, nbytes, sent, rows[i + 1], kind, stage, mb, label,
                               producer, consumer))
        return out


def network_trace(log: TransferLog, devices: list[str]) -> Trace:
    """A trace of network traffic alone (explicit flows, tests): topology devices are the lanes."""
    messages = log.messages(lambda _tag, src, dst: (src, dst, "", ""))
    return Trace(devices=list(devices), links=list(log.tracks), spans=log.spans(), messages=messages,
                 meta={"level": "network", "makespan": max((m.arrived for m in messages), default=0.0)})
