"""Schedule: a layout plus one ordered action list per device. This *is* the tabular abstraction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipesim.schedule.action import Action
from pipesim.schedule.layout import Layout


@dataclass(frozen=True)
class Schedule:
    name: str
    layout: Layout
    actions: tuple[tuple[Action, ...], ...]
    options: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def build(
        cls, name: str, layout: Layout, actions: Sequence[Iterable[Action]], **options: object
    ) -> Schedule:
        return cls(name, layout, tuple(tuple(a) for a in actions), dict(options))

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
        return sum(len(a) for a in self.actions)

    def as_strings(self) -> list[list[str]]:
        return [[str(a) for a in acts] for acts in self.actions]

    def with_actions(self, actions: Sequence[Iterable[Action]]) -> Schedule:
        return Schedule(self.name, self.layout, tuple(tuple(a) for a in actions), dict(self.options))


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
