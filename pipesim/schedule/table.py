"""Schedule: a layout plus one ordered action list per device. This *is* the tabular abstraction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipesim.schedule.action import Action
from pipesim.schedule.layout import Layout
from pipesim.schedule.order import PlainOrder


class Schedule:
    """A layout and one ordered action list per device (``actions[d]``).

    Immutable. A schedule is made from ``Action`` lists (``Schedule.build``) or, by generators
    that emit only plain F, B, I and W actions, from integer columns (``Schedule.from_order``,
    see ``pipesim.schedule.order``); it keeps the one form it was made from, and ``actions``
    is built from the columns on first use. Two schedules are equal when their name, layout
    and actions are.
    """

    __slots__ = ("_actions", "layout", "name", "options", "plain_order")

    name: str
    layout: Layout
    options: dict[str, object]
    plain_order: PlainOrder | None  # the columns this schedule was made from, if any
    _actions: tuple[tuple[Action, ...], ...] | None

    def __init__(self, name: str, layout: Layout, actions: tuple[tuple[Action, ...], ...] | None = None,
                 options: dict[str, object] | None = None, *, plain_order: PlainOrder | None = None) -> None:
        if (actions is None) == (plain_order is None):
            raise TypeError("Schedule: give either actions or plain_order")
        if plain_order is not None and len(plain_order.lengths) != layout.num_devices:
            raise ValueError(f"Schedule '{name}': plain_order has {len(plain_order.lengths)} device lists but the "
                             f"layout has {layout.num_devices} devices")
        for key, value in (("name", name), ("layout", layout), ("options", {} if options is None else options),
                           ("plain_order", plain_order), ("_actions", actions)):
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"Schedule is immutable: cannot set {key!r}")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"Schedule is immutable: cannot delete {key!r}")

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling and copying rebuild through the constructor (attributes cannot be set),
        # keeping the one form the schedule was made from.
        actions = self._actions if self.plain_order is None else None
        return (_restore, (self.name, self.layout, actions, self.options, self.plain_order))

    @classmethod
    def build(
        cls, name: str, layout: Layout, actions: Sequence[Iterable[Action]], **options: object
    ) -> Schedule:
        return cls(name, layout, tuple(tuple(a) for a in actions), dict(options))

    @classmethod
    def from_order(cls, name: str, layout: Layout, order: PlainOrder, **options: object) -> Schedule:
        """A schedule of plain actions given as columns (``pipesim.schedule.order``)."""
        return cls(name, layout, None, dict(options), plain_order=order)

    @property
    def actions(self) -> tuple[tuple[Action, ...], ...]:
        actions = self._actions
        if actions is None:  # made from columns (one of the two is always given)
            actions = self.plain_order.actions()  # type: ignore[union-attr]
            object.__setattr__(self, "_actions", actions)
        return actions

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return (self.name, self.layout, self.actions) == (other.name, other.layout, other.actions)

    def __hash__(self) -> int:
        return hash((self.name, self.layout, self.actions))

    def __repr__(self) -> str:
        return f"Schedule(name={self.name!r}, layout={self.layout!r}, actions={self.actions!r}, options={self.options!r})"

    @property
    def num_devices(self) -> int:
        return self.layout.num_devices

    @property
    def num_stages(self) -> int:
        return self.layout.num_stages

    @property
    def num_microbatches(self) -> int:
        return self.layout.num_microbatches

    @property
    def num_actions(self) -> int:
        if self._actions is None and self.plain_order is not None:
            return len(self.plain_order)
        return sum(len(a) for a in self.actions)

    def as_strings(self) -> list[list[str]]:
        return [[str(a) for a in acts] for acts in self.actions]

    def with_actions(self, actions: Sequence[Iterable[Action]]) -> Schedule:
        return Schedule(self.name, self.layout, tuple(tuple(a) for a in actions), dict(self.options))


def _restore(name: str, layout: Layout, actions: tuple[tuple[Action, ...], ...] | None, options: dict[str, object],
             plain_order: PlainOrder | None) -> Schedule:
    return Schedule(name, layout, actions, options, plain_order=plain_order)


def render_grid(
    rows: Sequence[Sequence[str]],
    *,
    mark: tuple[int, int] | None = None,
    window: int = 10,
    row_label: str = "dev",
) -> str:
    """ASCII grid of action strings, one row per device; ``mark=(row, col)`` brackets a cell.

    Long rows are cut to ``window`` columns either side of the marked cell so an error about
    step 900 of a 2000-step schedule still fits on a screen.
    """
    if not rows:
        return "(empty schedule)"
    ncols = max((len(r) for r in rows), default=0)
    lo, hi = 0, ncols
    if mark is not None and ncols > 2 * window + 1:
        lo, hi = max(0, mark[1] - window), min(ncols, mark[1] + window + 1)
    cells = []
    for i, r in enumerate(rows):
        line = []
        for j in range(lo, hi):
            text = r[j] if j < len(r) else ""
            if mark is not None and (i, j) == mark:
                text = f">{text or '?'}<"
            line.append(text)
        cells.append(line)
    widths = [max(len(cells[i][k]) for i in range(len(cells))) for k in range(hi - lo)]
    widths = [max(w, len(str(lo + k))) for k, w in enumerate(widths)]
    label_width = len(row_label) + 3
    out = ["step".rjust(label_width) + " " + " ".join(str(lo + k).rjust(w) for k, w in enumerate(widths))]
    for i, line in enumerate(cells):
        label = f"{row_label}{i}".rjust(label_width)
        out.append(label + " " + " ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))
    if lo > 0 or hi < ncols:
        out.append(f"(steps {lo}..{hi - 1} of {ncols})")
    return "\n".join(out)
