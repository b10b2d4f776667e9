"""ASCII time x device grids, like the schedule tables in pipeline-parallelism papers.

When every action starts and ends on a multiple of one time quantum (uniform costs), each
column is one quantum and an action fills as many columns as it lasts. Otherwise the grid
falls back to one column per action in list order (step view).
"""

from __future__ import annotations

import math

from pipesim.ideal import TableResult
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.table import render_grid

MAX_COLUMNS = 400


def _quantum(values: list[float]) -> float | None:
    positive = [v for v in values if v > 1e-12]
    if not positive:
        return None
    q = min(positive)
    for cand in (q, q / 2, q / 3, q / 4, q / 6):
        if all(abs(v / cand - round(v / cand)) < 1e-6 for v in values):
            return cand
    return None


def cell_label(action: Action, single_stage: bool) -> str:
    """Short cell text: 'F3' when a device owns one stage, else the full action string."""
    if action.kind is Kind.OVERLAP_F_B and action.sub is not None:
        f, b = action.sub
        return f"{f.microbatch}|{b.microbatch}" if single_stage else f"{f}|{b}"
    if action.kind is Kind.REDUCE_GRAD:
        return "AR" if single_stage else f"{action.stage}AR"
    if single_stage:
        return f"{action.kind.value}{action.microbatch}"
    return str(action)


def time_grid(result: TableResult) -> str:
    """Render ``result`` as a time grid if it fits, else as a step grid with a note."""
    prog = result.program
    lay = result.schedule.layout
    single = all(len(s) <= 1 for s in lay.device_stages)
    q = _quantum(result.start + result.end)
    if q is None or result.makespan / q > MAX_COLUMNS:
        rows = [[cell_label(prog.actions[g], single) for g in range(f, f + c)]
                for f, c in zip(prog.first, prog.count, strict=True)]
        note = "(step view: one column per action in list order; times are not on a common grid)"
        return render_grid(rows, window=10**9) + "\n" + note
    ncols = math.ceil(result.makespan / q - 1e-9)
    grid = [["." for _ in range(ncols)] for _ in range(prog.num_devices)]
    labels = [[""] * ncols for _ in range(prog.num_devices)]
    for g, a in enumerate(prog.actions):
        d = prog.device[g]
        c0, c1 = round(result.start[g] / q), round(result.end[g] / q)
        for c in range(c0, c1):
            grid[d][c] = "-"
        if c1 > c0:
            labels[d][c0] = cell_label(a, single)
    width = max([len(x) for row in labels for x in row] + [1])
    lines = []
    unit = "slot" if result.costs.sized is False else "quantum"
    header = f"{'time':>6} " + "".join(f"{c * q:<{width + 1}g}"[: width + 1] if c % 5 == 0 else " " * (width + 1)
                                       for c in range(ncols))
    lines.append(header.rstrip())
    for d in range(prog.num_devices):
        cells = []
        for c in range(ncols):
            text = labels[d][c] or (grid[d][c] * width if grid[d][c] == "-" else ".".center(width))
            cells.append(text.rjust(width))
        lines.append(f"{'dev' + str(d):>6} " + " ".join(cells))
    lines.append(f"(one column = {q:g} {unit}{'s' if q != 1 else ''}; '-' continues the action to its left, '.' is idle)")
    return "\n".join(lines)
