"""Read and write the CSV files of PyTorch's ``_PipelineScheduleRuntime``.

The format: one row per rank, one comma-separated cell per step, each cell an action string
(``0F3``, ``1I0``, ``2W7``, ``1SEND_F0``, ``(0F3;1B2)OVERLAP_F_B``); an empty cell is a step with no
action. Whitespace around cells is ignored. Compute-only files and files with SEND/RECV actions
are both accepted; communication actions are kept as they are (the evaluators ignore them).
``UNSHARD`` and ``RESHARD`` (``0UNSHARD``: PyTorch's actions that gather and free a stage's
FSDP-sharded weights) are read and left out: pipesim does not model sharded weights, so they
would take no time and hold nothing; the stage number must still be a whole number.

Placement. A CSV names stages, not devices, so ``read_csv`` infers stage -> device from the row
that holds each stage's compute actions (a stage computed in two rows is an error naming both),
unless ``stage_to_device`` or a whole ``layout`` is given. Without a layout the route is stages
0..S-1 in order for every microbatch: right for 1F1B, interleaved, V shapes and Hanayo, whose
stages are numbered along the route. Schedules with several routes or replicated model parts
(Chimera, DualPipe) need ``layout=``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipesim.schedule.action import COMM, Action, ActionParseError, compute_parts
from pipesim.schedule.layout import Layout
from pipesim.schedule.table import Schedule


class CsvScheduleError(ValueError):
    """A CSV schedule that cannot be read; the message names row, column and cell."""


def _read_text(path_or_text: str | os.PathLike[str]) -> tuple[str, str]:
    """(text, default name): a PathLike or an existing file is read, anything else is CSV text."""
    if isinstance(path_or_text, os.PathLike):
        p = Path(path_or_text)
        return p.read_text(), p.stem
    if "\n" not in path_or_text and "," not in path_or_text and os.path.isfile(path_or_text):
        p = Path(path_or_text)
        return p.read_text(), p.stem
    return path_or_text, "csv"


Cell = tuple[int, str, Action]  # (column, cell text, action)


_SHARDING = ("UNSHARD", "RESHARD")


def _is_sharding(cell: str) -> bool:
    """``<stage>UNSHARD`` / ``<stage>RESHARD`` in PyTorch's grammar (no microbatch)."""
    return any(cell.endswith(k) and cell[:-len(k)].isdigit() and len(cell) - len(k) <= 9 for k in _SHARDING)


def _parse_rows(text: str) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for r, cells in enumerate(csv.reader(io.StringIO(text))):
        row: list[Cell] = []
        for c, raw in enumerate(cells):
            cell = raw.strip()
            if not cell or _is_sharding(cell):
                continue  # an idle step, or a weight gather/free the model does not time
            try:
                row.append((c, cell, Action.parse(cell)))
            except ActionParseError as exc:
                shown = cell if len(cell) <= 40 else f"{cell[:40]}..."
                raise CsvScheduleError(f"row {r} (rank {r}), column {c}, cell {shown!r}: {exc}") from None
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()  # trailing blank lines are not ranks
    if not rows:
        raise CsvScheduleError("the CSV holds no actions; expected one row of action strings per rank")
    return rows


def infer_stage_devices(rows: Sequence[Sequence[Cell]], num_stages: int) -> tuple[int, ...]:
    """stage -> the row (rank) whose compute actions name it."""
    owner: dict[int, tuple[int, int, str]] = {}
    for r, cells in enumerate(rows):
        for c, cell, a in cells:
            if a.kind in COMM:
                continue
            for part in compute_parts(a):
                first = owner.setdefault(part.stage, (r, c, cell))
                if first[0] != r:
                    raise CsvScheduleError(
                        f"stage {part.stage} is computed in row {first[0]} (column {first[1]}, cell "
                        f"{first[2]!r}) and in row {r} (column {c}, cell {cell!r}); a stage lives on one "
                        "rank: fix the CSV, or pass layout= for replicated stages (Chimera, DualPipe)"
                    )
    missing = [s for s in range(num_stages) if s not in owner]
    if missing:
        raise CsvScheduleError(
            f"stage(s) {missing} have no compute action in any row, so their rank is unknown; "
            "pass stage_to_device= or layout="
        )
    return tuple(owner[s][0] for s in range(num_stages))


def read_csv(
    path_or_text: str | os.PathLike[str],
    *,
    num_microbatches: int | None = None,
    stage_to_device: Sequence[int] | Mapping[int, int] | None = None,
    layout: Layout | None = None,
    name: str | None = None,
) -> Schedule:
    """Read a PyTorch pipeline CSV (a path, or the CSV text itself) into a ``Schedule``.

    The result is not validated: call ``validate()`` (errors then name device and step, which
    equal the CSV's row and column for compute-only files).
    """
    text, default_name = _read_text(path_or_text)
    cells = _parse_rows(text)
    rows: list[list[Action]] = [[a for _, _, a in row] for row in cells]
    if layout is not None:
        if len(rows) > layout.num_devices:
            raise CsvScheduleError(f"the CSV has {len(rows)} rows but the layout has {layout.num_devices} devices")
        rows += [[] for _ in range(layout.num_devices - len(rows))]
        return Schedule.build(name or default_name, layout, rows)
    all_parts = [(part, r, a) for r, acts in enumerate(rows) for a in acts
                 for part in (compute_parts(a) if a.kind not in COMM else (a,))]
    num_stages = 1 + max(part.stage for part, _, _ in all_parts)
    mbs = [part.microbatch for part, _, _ in all_parts if part.microbatch is not None]
    seen_m = 1 + max(mbs, default=-1)
    if num_microbatches is None:
        m = seen_m
    else:
        if num_microbatches < seen_m:
            raise CsvScheduleError(f"num_microbatches={num_microbatches} but the CSV names microbatch {seen_m - 1}")
        m = num_microbatches
    if m < 1:
        raise CsvScheduleError("the CSV names no microbatch; pass num_microbatches=")
    # Stages and microbatches are numbered from 0 and every (stage, microbatch) needs a forward,
    # so a file with fewer actions than stages x microbatches misses some. Said here, from the
    # largest numbers, before anything is sized by them (a cell "0F1000000000" would otherwise
    # make the validator build a billion-entry table).
    if num_stages * seen_m > len(all_parts):
        top_stage = max(all_parts, key=lambda t: t[0].stage)
        top_mb = max(all_parts, key=lambda t: -1 if t[0].microbatch is None else t[0].microbatch)
        raise CsvScheduleError(
            f"the CSV has {len(all_parts)} actions but names stage {num_stages - 1} ({top_stage[2]} on row "
            f"{top_stage[1]}) and microbatch {seen_m - 1} ({top_mb[2]} on row {top_mb[1]}): {num_stages} stages x {seen_m} "
            "microbatches need at least that many forwards; stages and microbatches are numbered from 0")
    if stage_to_device is None:
        devices = infer_stage_devices(cells, num_stages)
    elif isinstance(stage_to_device, Mapping):
        absent = [s for s in range(num_stages) if s not in stage_to_device]
        if absent:
            raise CsvScheduleError(f"stage_to_device has no device for stage(s) {absent}")
        devices = tuple(int(stage_to_device[s]) for s in range(num_stages))
    else:
        devices = tuple(int(d) for d in stage_to_device)
        if len(devices) < num_stages:
            raise CsvScheduleError(
                f"stage_to_device gives {len(devices)} devices but the CSV names stages 0..{num_stages - 1}"
            )
        num_stages = len(devices)
    num_devices = max(len(rows), 1 + max(devices))
    rows += [[] for _ in range(num_devices - len(rows))]
    lay = Layout(
        num_devices=num_devices,
        stage_device=devices,
        stage_part=tuple(range(num_stages)),
        routes=(tuple(range(num_stages)),),
        mb_route=(0,) * m,
        notes={"source": "csv"},
    )
    return Schedule.build(name or default_name, lay, rows)


def write_csv(schedule: Schedule, path: str | os.PathLike[str] | None = None) -> str:
    """The schedule as PyTorch's CSV text (one row per device); also written to ``path`` if given."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for acts in schedule.actions:
        writer.writerow([str(a) for a in acts])
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text)
    return text
