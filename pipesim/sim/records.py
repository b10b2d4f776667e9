"""Compact records of a network's traffic, turned into trace objects when the trace is read.

A busy run crosses hundreds of thousands of (message, link) pairs. Building a ``Span`` for each
as it happens costs more than the link's own bookkeeping, and every such object stays alive, so
the garbage collector's next walk visits each of them. Here the hot path extends a flat list by
the record's plain fields instead (one C call, about a tenth of a dataclass constructor; numbers
and strings are not tracked by the collector, so its walk only skims the list), and ``drain`` --
registered with the ``Trace`` as a source -- builds the ``Span`` and ``Message`` objects, in
recording order, the first time anybody reads the trace. (An ``array`` column would be smaller,
but ``array.extend`` from a tuple costs as much as the dataclass it replaces.)
"""

from __future__ import annotations

from typing import Any

from pipesim.trace import Message, Span, Trace

# Fields per record in each list.
HOP_FIELDS = 5  # link index, message id, start, end, queueing delay
POST_FIELDS = 8  # source, destination, bytes, send time, stage, microbatch, kind, label (row = message id)
FINISH_FIELDS = 2  # message id, arrival time


class TransferLog:
    """What a ``Network`` recorded, in three columns; the network appends, ``drain`` consumes.

    ``hops`` and ``finished`` are emptied by each drain (in place: the network holds their bound
    ``extend``). ``posted`` is kept: a message still in flight at a drain has later hops that need
    its row.
    """

    __slots__ = ("finished", "hops", "posted", "tracks")

    def __init__(self) -> None:
        self.tracks: list[str] = []  # link index -> trace track
        self.hops: list[Any] = []
        self.posted: list[Any] = []
        self.finished: list[Any] = []

    def drain(self, trace: Trace) -> None:
        """Append a ``Span`` per recorded hop and a ``Message`` per delivered message to ``trace``."""
        posted = self.posted
        if self.hops:
            rows = self.hops[:]
            self.hops.clear()
            tracks = self.tracks
            spans = []
            for i in range(0, len(rows), HOP_FIELDS):
                mid = rows[i + 1]
                m = mid * POST_FIELDS
                spans.append(Span(tracks[rows[i]], "xfer", rows[i + 2], rows[i + 3], posted[m + 4], posted[m + 5],
                                  posted[m + 2], mid, posted[m + 7], rows[i + 4]))
            trace.spans.extend(spans)
        if self.finished:
            rows = self.finished[:]
            self.finished.clear()
            messages = []
            for i in range(0, len(rows), FINISH_FIELDS):
                mid = rows[i]
                m = mid * POST_FIELDS
                src, dst, nbytes, sent, stage, mb, kind, label = posted[m : m + POST_FIELDS]
                messages.append(Message(mid, src, dst, nbytes, sent, rows[i + 1], kind, stage, mb, label))
            trace.messages.extend(messages)
