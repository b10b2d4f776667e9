"""Actions: the atoms of a tabular schedule, with PyTorch-compatible string forms.

``Action(0, F, 3)`` prints as ``0F3`` exactly as ``torch.distributed.pipelining`` writes it,
so schedules round-trip through PyTorch's CSV files. Actions are immutable and hashable
(NamedTuple), which keeps them cheap to build in the hundreds of thousands.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple


class Kind(StrEnum):
    F = "F"  # forward
    B = "B"  # full backward (input and weight gradients together)
    I = "I"  # backward for the input gradient only  # noqa: E741
    W = "W"  # backward for the weight gradient only
    SEND_F = "SEND_F"
    RECV_F = "RECV_F"
    SEND_B = "SEND_B"
    RECV_B = "RECV_B"
    REDUCE_GRAD = "REDUCE_GRAD"  # gradient synchronisation of a replicated stage
    OVERLAP_F_B = "OVERLAP_F_B"  # one forward and one backward computed as one overlapped chunk


COMPUTE = frozenset({Kind.F, Kind.B, Kind.I, Kind.W})
COMM = frozenset({Kind.SEND_F, Kind.RECV_F, Kind.SEND_B, Kind.RECV_B})
BACKWARD_INPUT = frozenset({Kind.B, Kind.I})  # kinds that produce the gradient sent upstream
_NO_MICROBATCH = frozenset({Kind.REDUCE_GRAD, Kind.OVERLAP_F_B})

_SIMPLE = re.compile(r"^(\d+)(SEND_F|RECV_F|SEND_B|RECV_B|REDUCE_GRAD|F|B|I|W)(\d*)$")


class ActionParseError(ValueError):
    """An action string that is not of PyTorch's form."""


class Action(NamedTuple):
    stage: int
    kind: Kind
    microbatch: int | None = None
    sub: tuple[Action, ...] | None = None  # only for OVERLAP_F_B: (forward, backward)

    def __str__(self) -> str:
        if self.sub is not None:
            return "(" + ";".join(str(a) for a in self.sub) + ")" + self.kind.value
        if self.microbatch is None:
            return f"{self.stage}{self.kind.value}"
        return f"{self.stage}{self.kind.value}{self.microbatch}"

    def __repr__(self) -> str:
        return str(self)

    @staticmethod
    def parse(text: str) -> Action:
        """Inverse of ``str``: ``"0F3"``, ``"1SEND_F0"``, ``"3REDUCE_GRAD"``, ``"(0F3;1B2)OVERLAP_F_B"``."""
        s = text.strip()
        if len(s) > MAX_ACTION_CHARS:  # bounded before int() sees a number of thousands of digits
            raise ActionParseError(f"cannot read action {s[:24]!r}... ({len(s):,} characters); an action is at most "
                                   f"{MAX_ACTION_CHARS} characters, such as '0F3' or '(0F3;1B2)OVERLAP_F_B'")
        if s.startswith("(") and s.endswith(")" + Kind.OVERLAP_F_B.value):
            inner = s[1 : -len(Kind.OVERLAP_F_B.value) - 1]
            subs = tuple(Action.parse(part) for part in inner.split(";"))
            if len(subs) != 2:
                raise ActionParseError(f"action {text!r}: OVERLAP_F_B takes exactly two sub-actions, got {len(subs)}")
            return overlap(*subs)
        m = _SIMPLE.match(s)
        if not m:
            raise ActionParseError(
                f"cannot read action {text!r}; expected stage, kind and microbatch such as "
                "'0F3', '4I0', '2W7', '1SEND_F0', '3REDUCE_GRAD' or '(0F3;1B2)OVERLAP_F_B'"
            )
        stage, kind, mb = m.groups()
        k = Kind(kind)
        if k in _NO_MICROBATCH:
            if mb:
                raise ActionParseError(f"action {text!r}: {k.value} takes no microbatch number")
            return Action(int(stage), k)
        if not mb:
            raise ActionParseError(f"action {text!r}: {k.value} needs a microbatch number, e.g. '{stage}{k.value}0'")
        return Action(int(stage), k, int(mb))


MAX_ACTION_CHARS = 64


def overlap(forward: Action, backward: Action, *more: Action) -> Action:
    """An overlapped forward+backward chunk (DualPipe's F&B). Its stage is the forward's."""
    if more:
        raise ActionParseError(f"OVERLAP_F_B takes exactly two sub-actions, got {2 + len(more)}")
    if forward.kind is not Kind.F or backward.kind not in (Kind.B, Kind.I):
        raise ActionParseError(
            f"OVERLAP_F_B needs a forward then a backward (B or I), got {forward} and {backward}"
        )
    return Action(forward.stage, Kind.OVERLAP_F_B, None, (forward, backward))


def compute_parts(action: Action) -> tuple[Action, ...]:
    """The plain compute actions an action performs (an overlap performs two)."""
    return action.sub if action.sub is not None else (action,)
