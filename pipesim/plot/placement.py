"""Keep legends and labels off the data: measure what an axes draws, in display pixels, and
place a legend in a corner that holds no data, and move a label off the lines it would cover.

A figure is read by its data; a legend or label over a line hides exactly what the reader came
for. matplotlib's ``loc="best"`` only minimises overlap (it may still cover points) and knows
nothing about annotations, so placement here checks the real geometry: the polylines and
markers of every ``Line2D``, and the rectangles of every bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.legend import Legend
    from matplotlib.text import Annotation
    from matplotlib.transforms import Bbox

# Inside-axes legend locations, tried in this order after the caller's preference.
CORNERS = ("upper left", "upper right", "lower left", "lower right", "center left", "center right",
           "upper center", "lower center")
# Label offsets (points) tried in order of distance from the anchor.
_OFFSETS = tuple((dx, dy) for r in (6, 10, 16, 24, 34) for dx, dy in
                 ((0, r), (0, -r), (r, 0), (-r, 0), (r, r), (-r, r), (r, -r), (-r, -r)))


def renderer_of(ax: Axes) -> Any:
    """A renderer for measuring text (figures made by ``style.new_figure`` have a bare canvas)."""
    fig = ax.get_figure(root=True)
    if fig is None:
        raise ValueError("axes belong to no figure")
    ax.get_xlim(), ax.get_ylim()  # apply any pending autoscaling before anything is measured
    get = getattr(fig.canvas, "get_renderer", None)
    if get is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        get = FigureCanvasAgg(fig).get_renderer
    return get()


def data_paths(ax: Axes) -> list[tuple[Any, float]]:
    """Every drawn line of ``ax`` as (display-space ``Path``, marker radius in pixels).

    Full-span rules (``axhline``/``axvline``) are included: a legend over a reference line hides
    it as much as one over a curve. Invisible lines and legend-only proxies (no points) are not.
    """
    import numpy as np
    from matplotlib.path import Path

    fig = ax.get_figure(root=True)
    dpi = fig.dpi if fig is not None else 72.0
    out: list[tuple[Any, float]] = []
    for line in ax.lines:
        if not line.get_visible():
            continue
        vertices = np.asarray(line.get_transform().transform_path(line.get_path()).vertices, dtype=float)
        if len(vertices) == 0:
            continue
        has_line = line.get_linestyle() not in ("None", "none", "", " ")
        radius = line.get_markersize() * dpi / 72.0 / 2 if line.get_marker() not in (None, "None", "none", "") else 0.0
        if has_line:
            out.append((Path(vertices), radius))
        else:
            out.extend((Path(np.array([v, v])), max(radius, 1.0)) for v in vertices)
    for patch in ax.patches:
        if not patch.get_visible():
            continue
        box = patch.get_window_extent()
        if box.width > 0 and box.height > 0:
            out.append((Path([(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1),
                              (box.x0, box.y0)]), 0.0))
    return out


def overlaps(box: Bbox, paths: Sequence[tuple[Any, float]]) -> int:
    """How many of ``paths`` (from ``data_paths``) cross or touch ``box``."""
    n = 0
    for path, radius in paths:
        grown = box.expanded(1.0, 1.0).padded(radius + 1.0)
        if path.intersects_bbox(grown, filled=False) or any(grown.contains(x, y) for x, y in path.vertices):
            n += 1
    return n


def place_legend(ax: Axes, preferred: str | None = None, **kwargs: Any) -> Legend:
    """A legend inside ``ax`` in the first corner (``preferred`` first) that covers no data;
    where every corner covers some, outside on the right of the axes."""
    renderer = renderer_of(ax)
    paths = data_paths(ax)
    order = ([preferred] if preferred in CORNERS else []) + [c for c in CORNERS if c != preferred]
    for loc in order:
        legend = ax.legend(loc=loc, **kwargs)  # type: ignore[call-overload]  # loc is one of CORNERS
        if overlaps(legend.get_window_extent(renderer), paths) == 0:
            return legend
    outside = {k: v for k, v in kwargs.items() if k not in ("frameon", "facecolor", "edgecolor", "framealpha")}
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **outside)


def move_off_lines(ax: Axes, labels: Sequence[Annotation]) -> None:
    """Move each annotation (``ax.annotate`` with ``textcoords="offset points"``) to the nearest
    offset from its anchor where it covers no line, marker, bar or earlier label; a label with
    no free place within about 34 points keeps the offset that covers the fewest. A label that
    starts inside the axes stays inside (outside it would cover tick labels or the title)."""
    from matplotlib.path import Path

    renderer = renderer_of(ax)
    paths = data_paths(ax)
    frame = ax.get_window_extent(renderer)
    for label in labels:
        start: tuple[float, float] = (float(label.xyann[0]), float(label.xyann[1]))
        first = label.get_window_extent(renderer)
        inside = frame.contains(first.x0, first.y0) and frame.contains(first.x1, first.y1)
        best, best_hits = start, overlaps(first, paths)
        if best_hits:
            for dx, dy in _OFFSETS:
                label.xyann = (start[0] + dx, start[1] + dy)
                box = label.get_window_extent(renderer)
                if inside and not (frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)):
                    continue
                hits = overlaps(box, paths)
                if hits < best_hits:
                    best, best_hits = label.xyann, hits
                if hits == 0:
                    break
            label.xyann = best
        box = label.get_window_extent(renderer)
        paths.append((Path([(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1),
                            (box.x0, box.y0)]), 0.0))
