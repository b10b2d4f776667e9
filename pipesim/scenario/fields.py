"""Pydantic glue for the scenario sections: the kit's checkers as field validators, the section
base class, and the bridge from lower layers' text errors.

The checks themselves live in ``pipesim.inputs`` (shared with the topology and flows readers);
here they become ``BeforeValidator`` factories and annotated field types (``Time``, ``Size``,
``Whole`` ...). A validator raises ``InputError`` with a path relative to its field (``[2]`` for
a list item); ``pipesim.scenario.schema`` puts pydantic's location in front, so a message never
needs to know where its field sits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from pipesim.inputs import (
    InputError,
    as_bool,
    as_choice,
    as_mapping,
    as_number,
    as_path,
    as_quantity,
    as_text,
    as_whole,
    at,
)

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Checker factories (they see the raw YAML value)


def optional(check: Callable[[object], T]) -> Callable[[object], T | None]:
    """``check``, except that a missing value (None) stays None."""

    def run(value: object) -> T | None:
        return None if value is None else check(value)

    return run


def quantity(kind: str, *, positive: bool = False, finite: bool = False) -> Callable[[object], float]:
    def check(value: object) -> float:
        return as_quantity(value, kind, positive=positive, finite=finite)

    return check


def per_stage_quantity(kind: str) -> Callable[[object], float | tuple[float, ...]]:
    """A single finite value (uniform) or a list with one per stage/part/device. Costs are
    never infinite: an infinite F or message would never end (or end at inf, which no metric
    can carry)."""

    def check(value: object) -> float | tuple[float, ...]:
        if isinstance(value, list | tuple):
            if not value:
                raise InputError(f"empty list; give one {kind} or a list with one per stage")
            return tuple(as_quantity(v, kind, finite=True, key=i) for i, v in enumerate(value))
        return as_quantity(value, kind, finite=True)

    return check


def whole(minimum: int = 1, maximum: int | None = None) -> Callable[[object], int]:
    def check(value: object) -> int:
        return as_whole(value, minimum, maximum=maximum)

    return check


def number_in(low: float, high: float, *, low_open: bool = False, what: str = "") -> Callable[[object], float]:
    def check(value: object) -> float:
        return as_number(value, low, high, low_open=low_open, what=what)

    return check


def choice(options: Sequence[str]) -> Callable[[object], str]:
    def check(value: object) -> str:
        return as_choice(value, options)

    return check


def boolean(value: object) -> bool:
    return as_bool(value)


def text(value: object) -> str:
    return as_text(value)


def mapping(value: object) -> dict[str, Any]:
    """Free-form ``key: value`` pairs; a missing section is ``{}``."""
    return as_mapping(value, none=True)


def each(check: Callable[[object], T], value: Sequence[object]) -> tuple[T, ...]:
    """``check`` applied to every item, errors located at the item's index."""
    out = []
    for i, v in enumerate(value):
        with at(i):
            out.append(check(v))
    return tuple(out)


Time = Annotated[float, BeforeValidator(quantity("time", finite=True))]
FiniteTime = Annotated[float, BeforeValidator(quantity("time", finite=True))]
Size = Annotated[float, BeforeValidator(quantity("size", finite=True))]
PerStageTime = Annotated[float | tuple[float, ...], BeforeValidator(per_stage_quantity("time"))]
PerStageSize = Annotated[float | tuple[float, ...], BeforeValidator(per_stage_quantity("size"))]
Whole = Annotated[int, BeforeValidator(whole(1))]
Bool = Annotated[bool, BeforeValidator(boolean)]
Text = Annotated[str, BeforeValidator(text)]


# --------------------------------------------------------------------------------------------
# Sections


class Section(BaseModel):
    """Base of every section: forbids unknown keys with a did-you-mean message of its own (only
    the section knows its valid keys; pydantic's ``extra="forbid"`` stays on as a backstop)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # Shorthand: a bare scalar given for the whole section means this key (``model: 7b``).
    shorthand: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            return data
        if data is None:  # an empty section (``network:`` with nothing under it)
            return {}
        if cls.shorthand and isinstance(data, str):
            return {cls.shorthand: data}
        return as_mapping(data, list(cls.model_fields))


# --------------------------------------------------------------------------------------------
# Lower layers that still report errors as text


def foreign_error(message: str, section: str, *, aliases: Sequence[str] = (),
                  keys: Mapping[str, Any] | Sequence[str] = ()) -> InputError:
    """A lower layer's one-line error text as an InputError relative to ``section``.

    The workload and cost modules write their key path into the text (``"model.heads: 3 does not
    divide ..."``). A head naming the section or one of its ``aliases`` (``gpu`` for hardware)
    becomes the path below the section; a head that is one of the section's ``keys``
    (``"recompute: ..."``) becomes the path as is; any other text is the message, with no path.
    """
    head, sep, rest = message.partition(": ")
    if sep and " " not in head:
        parts = as_path(head)
        if parts and (parts[0] == section or parts[0] in aliases):
            return InputError(rest, parts[1:])
        if parts and isinstance(parts[0], str) and parts[0] in keys:
            return InputError(rest, parts)
    return InputError(message)
