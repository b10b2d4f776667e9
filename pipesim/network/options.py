"""How messages use the links: the sharing policy and the chunking, as typed values.

Both are read once, here, by the scenario format (``network.policy``/``network.chunk_bytes``)
and by the flows reader (``policy``/``chunk_bytes``), and stay typed afterwards, so no later
layer re-interprets a spelling. Pure data: nothing here imports SimPy.

Sharing policy (``SharingPolicy``): ``"fair"`` (the messages present share a link's bandwidth)
or ``"fifo"`` (a link serves one message at a time, in arrival order).

Chunking (``Chunking``), the unit in which a message travels hop by hop:

============  ======================  ====================================================
mode          written as              meaning
============  ======================  ====================================================
``fluid``     ``null``, ``0``,         no chunks. ``fair``: max-min fair flows, one rate per
              ``off``/``none``/``no``  message along its route, every link a process;
                                       ``fifo``: whole messages, cut-through.
``auto``      ``auto``                 the default: the same as ``fluid``. Real fabrics
                                       forward packets of a few KB cut-through under flow
                                       control, whose limit is the fluid model; the name
                                       stays so scenarios that spell it keep working.
``fixed``     a size (``1 MiB``)       chunks of that many bytes, pipelined hop by hop.
                                       ``fair``: on credits (back-pressure), converging
                                       to the max-min model as chunks shrink; ``fifo``:
                                       unbounded queues. ``inf`` = a message is one chunk.
============  ======================  ====================================================

``DEFAULT_CHUNK_BYTES`` (4 MiB, NCCL's default buffer) is what ``auto`` meant before the
max-min model; ``Chunking.chunk_bytes`` still resolves ``auto`` to it for callers that want a
chunk size, but the simulator does not chunk ``auto`` messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, cast

from pipesim.inputs import InputError, PathLike, as_choice, as_path, as_quantity

SharingPolicy = Literal["fair", "fifo"]
POLICIES: tuple[SharingPolicy, ...] = ("fair", "fifo")

ChunkMode = Literal["fluid", "auto", "fixed"]
# The chunk "auto" stands for; pipesim.sim.network.DEFAULT_CHUNK_BYTES must equal it (a test checks).
DEFAULT_CHUNK_BYTES = 4 * 2**20
_OFF_WORDS = ("off", "none", "no")


GradSync = Literal["overlap", "blocking"]
GRAD_SYNC: tuple[GradSync, ...] = ("overlap", "blocking")


def parse_grad_sync(value: object, *, key: PathLike = ()) -> GradSync:
    """``"overlap"`` (gradient all-reduces run beside compute) or ``"blocking"`` (devices wait
    for them), or an InputError at ``key``."""
    return cast(GradSync, as_choice(value, GRAD_SYNC, key=key))


def parse_policy(value: object, *, key: PathLike = ()) -> SharingPolicy:
    """``"fair"`` or ``"fifo"`` (any case), or an InputError at ``key`` with a did-you-mean."""
    return cast(SharingPolicy, as_choice(value, POLICIES, key=key))


@dataclass(frozen=True)
class Chunking:
    """The chunking of messages: ``mode`` ``fluid``, ``auto`` or ``fixed``; ``size`` (bytes,
    > 0, may be inf) only for ``fixed``. Build with ``Chunking.parse``, ``Chunking.fixed`` or the
    constants ``Chunking.FLUID``/``Chunking.AUTO``."""

    mode: ChunkMode = "auto"
    size: float | None = None

    FLUID: ClassVar[Chunking]
    AUTO: ClassVar[Chunking]

    def __post_init__(self) -> None:
        if self.mode not in ("fluid", "auto", "fixed"):
            raise ValueError(f"Chunking: mode {self.mode!r} is not fluid, auto or fixed")
        if (self.mode == "fixed") != (self.size is not None):
            raise ValueError(f"Chunking: a size goes with mode 'fixed' only (mode {self.mode!r}, size {self.size!r})")
        if self.size is not None:
            if isinstance(self.size, bool) or not isinstance(self.size, int | float) or not self.size > 0:
                raise ValueError(f"Chunking: size {self.size!r} is not a number of bytes > 0")
            object.__setattr__(self, "size", float(self.size))

    @classmethod
    def fixed(cls, size: float) -> Chunking:
        return cls("fixed", size)

    @classmethod
    def parse(cls, value: object, *, key: PathLike = ()) -> Chunking:
        """The one reader of a chunking as users write it (see the module doc for the table).

        Accepts ``None``, ``"auto"``, ``"off"``/``"none"``/``"no"``, a ``Chunking``, or a size
        (a number of bytes or a string with units); 0 means no chunking. Anything else is an
        InputError at ``key`` that names the value and the valid forms.
        """
        if isinstance(value, Chunking):
            return value
        if value is None:
            return cls.FLUID
        if isinstance(value, str):
            word = value.strip().lower()
            if word == "auto":
                return cls.AUTO
            if word in _OFF_WORDS:
                return cls.FLUID
        try:
            size = as_quantity(value, "size")
        except InputError as exc:
            hinted = exc.with_message(f"{exc.message}; or 'auto', or null/0 for no chunking")
            raise hinted.within(*as_path(key)) from None
        return cls.FLUID if size == 0 else cls.fixed(size)

    @property
    def chunk_bytes(self) -> float | None:
        """The chunk in bytes (``auto`` resolved to ``DEFAULT_CHUNK_BYTES``); None when fluid."""
        if self.mode == "fluid":
            return None
        return DEFAULT_CHUNK_BYTES if self.mode == "auto" else self.size

    def spelling(self) -> str | float | None:
        """How a scenario file writes it: ``"auto"``, ``None`` (fluid) or the size in bytes;
        ``Chunking.parse(c.spelling()) == c``."""
        return "auto" if self.mode == "auto" else self.size


Chunking.FLUID = Chunking("fluid")
Chunking.AUTO = Chunking("auto")

