"""The unit-slot schedule table of the papers: rows = devices, columns = time slots.

Each cell holds one action's microbatch number, coloured by kind and shaded by chunk exactly
as in the Gantt chart. The figure reads a trace; given a ``Schedule`` it first evaluates it at
the table level with unit costs (F = B = I = W = 1 slot, an all-reduce 1 slot, so an F&B chunk
takes 2), which is what the papers' tables show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipesim.plot import style
from pipesim.plot.gantt_layout import (
    BOX_HEIGHT,
    LEGEND_ROW,
    box_text,
    chunk_label,
    chunk_of,
    chunk_swatch,
    count_legend_rows,
    legend_args,
    num_chunks,
)
from pipesim.trace import Span, Trace

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_WIDTH = 18.0  # inches; wider tables get narrower cells
CELL = 0.26  # inches per slot when there is room


def slot_unit(spans: Iterable[Span]) -> float:
    """The length of one slot: the shortest positive action (1.0 for a unit-cost trace)."""
    return min((s.duration for s in spans if s.duration > 0), default=1.0)


def plot_schedule_table(
    trace: Trace,
    path: style.PathArg = None,
    *,
    title: str | None = None,
    formats: Iterable[str] | None = None,
    slot_numbers: bool = True,
    ax: Axes | None = None,
    width: float | None = None,
    font_size: float | None = None,
) -> Figure:
    """Draw the schedule table of a table-level trace (``pipesim.ideal.unit_trace`` gives one
    with every action one slot long); write it to ``path`` (PNG/SVG/PDF by suffix) and return it.
    ``ax`` draws into that axes of a figure the caller composes (title on the axes, legend to
    its right) and returns that figure. ``width`` (inches) fixes the figure width, the cells
    share what the labels leave; ``font_size`` (points) rescales the text outside the cells."""
    if width is not None and not (isinstance(width, int | float) and 2.0 <= width <= MAX_PIXELS / style.DPI):
        raise ValueError(f"width={width!r} inches; give 2 to {MAX_PIXELS / style.DPI:g}")
    with style.style_context():
        fig = _draw(trace, title, slot_numbers, ax, width)
        style.scale_fonts(fig, font_size)
    style.save_figure(fig, path, formats)
    return fig


# Largest schedule table drawn: wider PNGs do not open in common viewers, and every cell is a
# polygon in memory.
MAX_PIXELS = 32_768
MAX_CELLS = 250_000


def _draw(trace: Trace, title: str | None, slot_numbers: bool, ax: Axes | None = None,
          width: float | None = None) -> Figure:
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    if not trace.devices:
        raise ValueError("trace has no devices, so there is no schedule table to draw")
    rows = {name: i for i, name in enumerate(trace.devices)}
    spans = [s for s in trace.spans if s.track in rows and s.duration > 0]
    unit = slot_unit(spans)
    ncols = max(1, math.ceil(max((s.end for s in spans), default=1.0) / unit - 1e-9))
    nrows = max(1, len(trace.devices))

    cell = min(CELL, max(0.04, MAX_WIDTH / ncols))
    row_h = min(0.3, max(0.1, 6.0 / nrows))
    label_font = min(style.FONT_SIZE - 0.5, max(4.0, 0.7 * row_h * 72))
    left = 0.25 + max(len(style.device_label(d)) for d in trace.devices) * label_font * 0.62 / 72
    nchunks = num_chunks(trace)
    kinds = [k for k in style.KIND_ORDER if any(s.kind == k for s in spans)]
    kinds += sorted({s.kind for s in spans} - set(style.KIND_ORDER))
    names = [style.KIND_NAMES.get(k, k) for k in kinds] + (
        [chunk_label(trace, c) + "    " for c in range(nchunks)] if nchunks > 1 else [])
    if width is not None:
        cell = max(0.01, (width - left - 0.3) / ncols)
    W = max(4.0, left + ncols * cell + 0.3) if width is None else float(width)
    # Refused before matplotlib is touched: 256 devices x 8,000 slots took 8.5 GB and made a
    # 78,000-pixel PNG that no viewer opens, while the text and CSV outputs hold every cell.
    if W * style.DPI > MAX_PIXELS or nrows * ncols > MAX_CELLS:
        raise ValueError(f"a schedule table of {nrows} devices x {ncols:,} slots would be {W * style.DPI:,.0f} px "
                         f"wide with {nrows * ncols:,} cells (at most {MAX_PIXELS:,} px and {MAX_CELLS:,} cells); "
                         "plot fewer microbatches or devices, or use --format csv for the full table")
    legend_rows = count_legend_rows(names, W)
    headline = title if title is not None else str(trace.meta.get("schedule", "schedule"))
    drop = 0.0 if headline else 0.24  # title="" leaves out the title line and its space
    top, bottom = 0.75 - drop + (0.2 if slot_numbers else 0.0), 0.2 + LEGEND_ROW * legend_rows
    H = top + nrows * row_h + bottom
    own = ax is None
    if ax is None:
        fig = style.new_figure(W, H)
        ax = fig.add_axes((left / W, bottom / H, ncols * cell / W, nrows * row_h / H))
    else:
        fig = ax.get_figure(root=True)  # type: ignore[assignment]  # an axes of a figure
        fw, fh = (float(v) for v in fig.get_size_inches())
        box = ax.get_position()
        cell, row_h = box.width * fw / ncols, box.height * fh / nrows  # text fits the given axes

    # Empty grid first (every slot of every device), then the actions over it.
    grid = [((c, r), (c, r + 1), (c + 1, r + 1), (c + 1, r)) for r in range(nrows) for c in range(ncols)]
    ax.add_collection(PolyCollection(grid, facecolors="white", edgecolors="#D9D9D9",
                                     linewidths=0.4 if cell * style.DPI >= 6 else 0.0, zorder=1))
    verts, faces, texts, boxes = [], [], [], []
    pad = (1 - BOX_HEIGHT) / 4  # cells nearly fill their slot, as in the papers' tables
    for s in spans:
        r = rows[s.track]
        c0, c1 = s.start / unit, s.end / unit
        verts.append(((c0, r + pad), (c0, r + 1 - pad), (c1, r + 1 - pad), (c1, r + pad)))
        rgb = style.shade(style.KIND_COLORS.get(s.kind, style.OTHER_COLOR),
                          style.chunk_tint(nchunks, chunk_of(s)))
        faces.append(rgb)
        texts.append(box_text(s))
        boxes.append((c0, c1, r))
    if verts:
        face = np.asarray(faces)
        lw = 0.5 if cell * style.DPI >= 6 else 0.0
        ax.add_collection(PolyCollection(verts, facecolors=face, edgecolors=face * 0.55,
                                         linewidths=lw, zorder=2))
    font = min(8.0, 0.5 * row_h * 72, 0.62 * cell * 72)
    if font >= 4.0:
        for (c0, c1, r), text, rgb in zip(boxes, texts, faces, strict=True):
            need = style.text_width_px(text, font, style.DPI) + 2
            if text and (c1 - c0) * cell * style.DPI >= need:
                ax.text((c0 + c1) / 2, r + 0.5, text, ha="center", va="center_baseline", fontsize=font,
                        color=style.text_color(rgb), zorder=3, gid="box-label")

    ax.set_xlim(0, ncols)
    ax.set_ylim(nrows, 0)
    ax.set_yticks([r + 0.5 for r in range(nrows)])
    ax.set_yticklabels([style.device_label(d) for d in trace.devices], fontsize=label_font)
    ax.tick_params(axis="y", length=0, pad=3)
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    if slot_numbers:
        step = max(1, math.ceil(ncols / max(1.0, ncols * cell / 0.3)))
        ax.xaxis.tick_top()
        ax.set_xticks([c + 0.5 for c in range(0, ncols, step)])
        ax.set_xticklabels([str(c) for c in range(0, ncols, step)], fontsize=max(4.0, min(7.0, font)))
        ax.tick_params(axis="x", length=0, pad=2, colors="#666666")
    else:
        ax.set_xticks([])
    unit_note = "slots" if style.is_unitless(trace) or unit == 1.0 else f"slots of {style.format_duration(unit, False)}"
    meta = trace.meta
    figures = [f"p={meta.get('devices', len(trace.devices))}"]
    if meta.get("stages") not in (None, meta.get("devices")):
        figures.append(f"{meta['stages']} stages")
    if "microbatches" in meta:
        figures.append(f"m={meta['microbatches']}")
    figures.append(f"{ncols} {unit_note}")
    handles: list[Any] = [Patch(facecolor=style.KIND_COLORS.get(k, style.OTHER_COLOR), label=style.KIND_NAMES.get(k, k))
               for k in kinds]
    if nchunks > 1:
        handles += [chunk_swatch(trace, c, Patch, kinds) for c in range(nchunks)]
    if not own:
        if headline:
            ax.set_title(headline, loc="left", fontweight="bold", fontsize=style.FONT_SIZE, pad=14 if slot_numbers else 4)
        if handles:
            ax.legend(**legend_args(handles), loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                      handlelength=1.2, handleheight=0.9)
        return fig
    if headline:
        fig.text(left / W, 1 - 0.2 / H, headline, ha="left", va="center", fontsize=style.FONT_SIZE + 2.5,
                 fontweight="bold", color="#111111")
    fig.text(left / W, 1 - (0.44 - drop) / H, "   ".join(figures), ha="left", va="center", fontsize=style.FONT_SIZE,
             color="#333333")

    if handles:
        fig.legend(**legend_args(handles), loc="upper center", ncol=math.ceil(len(handles) / legend_rows),
                   bbox_to_anchor=(0.5, (bottom - 0.12) / H),
                   handlelength=1.2, handleheight=0.9, columnspacing=1.0, borderaxespad=0.0)
    return fig
