"""One place for figure style: palette, fonts, time units, colour arithmetic, saving.

The palette follows Paul Tol's colour-blind-safe qualitative schemes: hues that stay apart for
the common colour-vision deficiencies and in greyscale print (their lightness differs too).
Forward is blue, backward teal, the input-gradient half yellow, the weight-gradient half green,
an overlapped F&B chunk purple, gradient synchronisation grey. Transfers on links use warm
colours so they never read as compute.

Nothing here imports matplotlib at module level: ``import pipesim`` must stay cheap, and sweeps
that never plot must not pay for it. Constants are immutable (tuples, ``MappingProxyType``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipesim.trace import Trace

# Compute kinds on device rows (trace.py's vocabulary) -> face colour.
KIND_COLORS = MappingProxyType({
    "F": "#4477AA",  # blue
    "B": "#44AA99",  # teal
    "I": "#CCBB44",  # yellow: the input-gradient half of a split backward (not blue: chunk
    # shading darkens and lightens colours, and a shaded cyan would read as forward)
    "W": "#228833",  # green: the weight-gradient half
    "F&B": "#AA4499",  # purple: forward and backward overlapped in one chunk
    "REDUCE_GRAD": "#999999",  # grey: gradient synchronisation
    "allreduce": "#777777",  # a whole collective, drawn as a strip on the device row
})
KIND_NAMES = MappingProxyType({
    "F": "forward (F)",
    "B": "backward (B)",
    "I": "input grad (I)",
    "W": "weight grad (W)",
    "F&B": "overlapped F&B",
    "REDUCE_GRAD": "grad all-reduce",
    "allreduce": "collective",
})
KIND_ORDER = ("F", "B", "I", "W", "F&B", "REDUCE_GRAD", "allreduce")
OTHER_COLOR = "#BBBBBB"

# Message kinds (trace.Message.kind) -> colour of the transfers that carry them on link lanes.
MESSAGE_COLORS = MappingProxyType({
    "act": "#EE7733",  # orange: forward activation
    "grad": "#8E2A0E",  # dark red-brown: backward gradient (lightness tells it from orange)
    "collective": "#BBBBBB",  # grey: all-reduce pieces
    "flow": "#DDAA33",  # ochre: anything else point-to-point
    "allreduce": "#777777",  # dark grey: one overlapped all-reduce drawn end to end on its own lane
})
MESSAGE_NAMES = MappingProxyType({
    "act": "activation transfer",
    "grad": "gradient transfer",
    "collective": "collective transfer",
    "flow": "other transfer",
    "allreduce": "all-reduce (one part, end to end)",
    "": "transfer",
})
XFER_COLOR = "#EE7733"

# Series colours for line and bar charts (Tol "bright" then "muted").
SERIES_COLORS = (
    "#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB",
    "#332288", "#117733", "#999933", "#882255", "#44AA99",
)

TEXT_DARK = "#222222"
TEXT_LIGHT = "#FFFFFF"
GRID_COLOR = "#E4E4E4"
DPI = 150
FONT_SIZE = 9.0

# rcParams every pipesim figure uses (applied with ``style_context``). The SVG hash salt and
# the absent dates make committed figures byte-stable between runs.
RC = MappingProxyType({
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "axes.edgecolor": "#444444",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": FONT_SIZE - 0.5,
    "ytick.labelsize": FONT_SIZE - 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "legend.fontsize": FONT_SIZE - 0.5,
    "legend.frameon": False,
    "svg.hashsalt": "pipesim",
    "svg.fonttype": "path",
    "path.simplify": True,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
})


def style_context() -> Any:
    """A ``matplotlib.rc_context`` with pipesim's style; use as ``with style_context(): ...``."""
    import matplotlib

    return matplotlib.rc_context(dict(RC))  # type: ignore[arg-type]  # RC keys are valid rc names


def new_figure(width: float, height: float) -> Figure:
    """A figure that belongs to no pyplot state (so sweeps can make thousands without leaks)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


FONT_SIZE_RANGE = (4.0, 32.0)


def scale_fonts(fig: Figure, font_size: float | None) -> None:
    """Rescale every text of ``fig`` so the base size is ``font_size`` points (titles, ticks and
    legends keep their size relative to it). Labels inside Gantt and table boxes (gid
    ``"box-label"``) keep theirs: they were sized to fit their box."""
    if font_size is None:
        return
    lo, hi = FONT_SIZE_RANGE
    if not (isinstance(font_size, int | float) and lo <= font_size <= hi):
        raise ValueError(f"font size {font_size!r}: give points between {lo:g} and {hi:g}")
    from matplotlib.text import Text

    factor = float(font_size) / FONT_SIZE
    for text in fig.findobj(Text):
        if text.get_gid() != "box-label":
            text.set_fontsize(float(text.get_fontsize()) * factor)


# --- colour arithmetic --------------------------------------------------------------------

def to_rgb(color: str) -> tuple[float, float, float]:
    """'#RRGGBB' -> floats in [0, 1] (no matplotlib needed)."""
    c = color.lstrip("#")
    if len(c) != 6 or not re.fullmatch(r"[0-9a-fA-F]{6}", c):
        raise ValueError(f"colour {color!r}: expected '#RRGGBB'")
    return (int(c[0:2], 16) / 255.0, int(c[2:4], 16) / 255.0, int(c[4:6], 16) / 255.0)


def mix(color: str | tuple[float, float, float], other: tuple[float, float, float], amount: float
        ) -> tuple[float, float, float]:
    """Blend ``color`` towards ``other`` by ``amount`` in [0, 1]."""
    rgb = to_rgb(color) if isinstance(color, str) else color
    a = min(max(amount, 0.0), 1.0)
    return (rgb[0] + (other[0] - rgb[0]) * a, rgb[1] + (other[1] - rgb[1]) * a, rgb[2] + (other[2] - rgb[2]) * a)


def chunk_tint(num_chunks: int, chunk: int) -> float:
    """Tint for virtual-stage chunk ``chunk`` of ``num_chunks``: <0 lightens, >0 darkens.

    One chunk keeps the base colour. With more, the first chunk is lightest and the last
    darkest, evenly spaced, so "which pass over the devices" reads as light-to-dark.
    """
    if num_chunks <= 1:
        return 0.0
    c = min(max(chunk, 0), num_chunks - 1)
    lo, hi = -0.42, 0.3
    return lo + (hi - lo) * c / (num_chunks - 1)


def shade(color: str, tint: float) -> tuple[float, float, float]:
    """Apply a ``chunk_tint``: negative blends with white, positive with black."""
    if tint < 0:
        return mix(color, (1.0, 1.0, 1.0), -tint)
    return mix(color, (0.0, 0.0, 0.0), tint)


def luminance(rgb: tuple[float, float, float]) -> float:
    """Relative luminance (WCAG) for choosing readable text on a box."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])


def text_color(rgb: tuple[float, float, float]) -> str:
    """White on dark boxes, near-black on light ones (whichever has the higher contrast)."""
    lum = luminance(rgb)
    white = 1.05 / (lum + 0.05)
    dark = (lum + 0.05) / (luminance(to_rgb(TEXT_DARK)) + 0.05)
    return TEXT_LIGHT if white >= dark else TEXT_DARK


def edge_color(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    return mix(rgb, (0.0, 0.0, 0.0), 0.45)


# --- time units -------------------------------------------------------------------------------

SLOT_UNITS = ("slot", "slots", "unit", "units", "unitless", "")


def is_unitless(trace: Trace, override: str | None = None) -> bool:
    """True when times are abstract slots (``meta["time_unit"]`` says so) rather than seconds."""
    unit = override if override is not None else trace.meta.get("time_unit", "s")
    return str(unit).strip().lower() in SLOT_UNITS


def time_scale(span: float, unitless: bool) -> tuple[float, str]:
    """(factor, unit label) so that ``seconds * factor`` reads well for a window of ``span``."""
    if unitless:
        return 1.0, "slots"
    mag = abs(span)
    if mag >= 1.0 or mag == 0.0:
        return 1.0, "s"
    if mag >= 1e-3:
        return 1e3, "ms"
    if mag >= 1e-6:
        return 1e6, "µs"
    return 1e9, "ns"


def format_duration(value: float, unitless: bool) -> str:
    """'38.6 ms', '1.25 s', '22 slots'."""
    if unitless:
        return f"{_num(value)} slot" + ("" if value == 1 else "s")
    factor, unit = time_scale(value, False)
    return f"{_num(value * factor)} {unit}"


def _num(x: float) -> str:
    if math.isinf(x):
        return "inf"
    if abs(x - round(x)) < 1e-9 * max(1.0, abs(x)):
        return str(round(x))
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.4g}"


def format_bytes(nbytes: float) -> str:
    """Compact decimal SI bytes for labels inside small boxes: '64 MB', '1.5 kB'."""
    for factor, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if abs(nbytes) >= factor:
            return f"{nbytes / factor:.3g} {unit}"
    return f"{nbytes:.3g} B"


def device_label(name: str) -> str:
    """'gpu3' -> 'GPU 3'; other names (e.g. 'n0.gpu3') are kept as the engine wrote them."""
    m = re.fullmatch(r"gpu(\d+)", name)
    return f"GPU {m.group(1)}" if m else name


def link_label(name: str) -> str:
    """'link:n0.gpu0->n0.nvsw' -> 'n0.gpu0→n0.nvsw'."""
    text = name[5:] if name.startswith("link:") else name
    return text.replace("->", "→")


def text_width_px(text: str, fontsize_pt: float, dpi: float) -> float:
    """Conservative width of ``text`` in DejaVu Sans: digits and capitals are ~0.64 em wide."""
    return len(text) * 0.64 * fontsize_pt * dpi / 72.0


# --- saving ---------------------------------------------------------------------------------

FORMATS = ("png", "svg", "pdf")
PathArg = str | Path | Sequence[str | Path] | None


def output_paths(path: PathArg, formats: Iterable[str] | None = None) -> list[Path]:
    """Where to write: each given path as is, or (with ``formats``) one file per format.

    ``"fig.png"`` -> fig.png; ``("fig.png", "fig.svg")`` -> both; ``"fig"`` with
    ``formats=("png", "svg")`` -> fig.png and fig.svg. A path without a known suffix and no
    formats gets ``.png``.
    """
    if path is None:
        return []
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    fmts = [f.lower().lstrip(".") for f in formats] if formats else []
    for f in fmts:
        if f not in FORMATS:
            raise ValueError(f"figure format {f!r}; choose from {', '.join(FORMATS)}")
    out: list[Path] = []
    for p in paths:
        suffix = p.suffix.lower().lstrip(".")
        if fmts:
            base = p.with_suffix("") if suffix in FORMATS else p
            out.extend(base.with_name(base.name + "." + f) for f in fmts)
        elif suffix in FORMATS:
            out.append(p)
        elif suffix:
            raise ValueError(f"cannot write a figure to {p.name!r}; use a .png, .svg or .pdf path")
        else:
            out.append(p.with_name(p.name + ".png"))
    return out


def save_figure(fig: Figure, path: PathArg, formats: Iterable[str] | None = None) -> list[Path]:
    """Write ``fig`` to every path ``output_paths`` names; metadata without dates so repeated
    runs give identical files."""
    written = []
    with style_context():
        for p in output_paths(path, formats):
            p.parent.mkdir(parents=True, exist_ok=True)
            fmt = p.suffix.lstrip(".").lower()
            meta: dict[str, Any]
            if fmt == "png":
                meta = {"Software": "pipesim"}
            elif fmt == "svg":
                meta = {"Creator": "pipesim", "Date": None}
            else:
                meta = {"Creator": "pipesim", "CreationDate": None}
            fig.savefig(p, format=fmt, metadata=meta, facecolor="white")
            written.append(p)
    return written


# --- schedules --------------------------------------------------------------------------------
# One display name and one colour per registered schedule, used by every figure (CLI plots,
# comparisons, studies), so a schedule looks the same wherever it appears. Colours come from
# Paul Tol's bright, muted and vibrant schemes (colour-blind safe); the schedules that are
# usually plotted together (GPipe / 1F1B / Chimera; 1F1B / ZB-H1 / PipeDream / PipeDream-2BW;
# 1F1B / interleaved / Hanayo) get hues that differ in lightness as well as hue.
SCHEDULE_STYLES = MappingProxyType({
    "gpipe": ("GPipe", "#4477AA"),  # blue
    "1f1b": ("1F1B", "#EE6677"),  # red
    "interleaved": ("Interleaved 1F1B", "#228833"),  # green
    "looped-bfs": ("Looped BFS", "#DDCC77"),  # sand
    "zb-h1": ("ZB-H1", "#CCBB44"),  # yellow
    "zb-h2": ("ZB-H2", "#EE7733"),  # orange
    "zb-v": ("ZB-V", "#332288"),  # indigo (not wine: it sits next to Chimera's purple in studies)
    "chimera": ("Chimera", "#AA3377"),  # purple
    "hanayo": ("Hanayo", "#66CCEE"),  # cyan
    "dualpipe": ("DualPipe", "#0077BB"),  # vibrant blue (darker than GPipe's)
    "dualpipev": ("DualPipeV", "#44AA99"),  # teal
    "pipedream": ("PipeDream", "#117733"),  # dark green
    "pipedream-2bw": ("PipeDream-2BW", "#882255"),  # wine (not olive: it sits next to ZB-H1's yellow)
})


def schedule_label(name: str, variant: str = "") -> str:
    """Display name of schedule ``name`` ('zb-v' -> 'ZB-V'), with an optional variant suffix
    ('Hanayo, W = 2'). Unknown names (a CSV or searched schedule) are shown as given."""
    entry = SCHEDULE_STYLES.get(name.strip().lower())
    base = entry[0] if entry else name
    return f"{base}, {variant}" if variant else base


def schedule_color(name: str, variant: int = 0, variants: int = 1) -> str:
    """Colour of schedule ``name``; variant ``k`` of ``variants`` of the same schedule (e.g.
    Hanayo with 1 and 2 waves) is the same hue, the base colour for the first and darker for
    later ones, so a family reads as one schedule. Unknown names get grey."""
    entry = SCHEDULE_STYLES.get(name.strip().lower())
    base = entry[1] if entry else OTHER_COLOR
    if variants <= 1:
        return base
    k = min(max(variant, 0), variants - 1)
    r, g, b = shade(base, 0.4 * k / (variants - 1))
    return f"#{round(r * 255):02X}{round(g * 255):02X}{round(b * 255):02X}"


def series_style(value: object, index: int) -> tuple[str, str]:
    """(label, colour) of the ``index``-th series of a chart grouped by ``value``: a registered
    schedule's name gets its display name and colour, anything else the next series colour."""
    text = str(value)
    if isinstance(value, str) and value.strip().lower() in SCHEDULE_STYLES:
        return schedule_label(value), schedule_color(value)
    return text, SERIES_COLORS[index % len(SERIES_COLORS)]
