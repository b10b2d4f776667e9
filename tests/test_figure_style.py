"""Figures worth a paper: one name and colour per schedule everywhere, panels composable with
``ax=``, legends off the data, labels off the lines, legends listing only what is drawn, colour
ranges fitted to the data. Checked on the matplotlib objects, not on pixels."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from pipesim.costs import Costs
from pipesim.ideal import evaluate, unit_trace
from pipesim.plot import (
    Note,
    Panel,
    Series,
    plot_gantt,
    plot_heatmap,
    plot_link_load,
    plot_memory,
    plot_panels,
    plot_schedule_table,
    style,
)
from pipesim.plot.convergence import LossSeries, plot_loss_curves
from pipesim.plot.placement import data_paths, overlaps, renderer_of
from pipesim.schedule.registry import Registry
from pipesim.trace import Message, Span, Trace

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "scenarios" / "studies").glob("*.py"))
REGISTRY = Registry.default()


# --- one name and one colour per schedule ------------------------------------------------------

def test_every_registered_schedule_has_one_distinct_name_and_colour():
    names = REGISTRY.names()
    assert set(names) <= set(style.SCHEDULE_STYLES)
    labels = [style.schedule_label(n) for n in names]
    colors = [style.schedule_color(n) for n in names]
    assert len(set(labels)) == len(names) and len(set(c.upper() for c in colors)) == len(names)
    for c in colors:
        style.to_rgb(c)  # a valid '#RRGGBB'
    assert style.schedule_label("ZB-V") == "ZB-V" == style.schedule_label("zb-v")
    assert style.schedule_label("hanayo", "W = 2") == "Hanayo, W = 2"
    # variants keep the hue: the first is the schedule's colour, later ones darker
    first, last = style.schedule_color("hanayo", 0, 3), style.schedule_color("hanayo", 2, 3)
    assert first == style.schedule_color("hanayo")
    assert style.luminance(style.to_rgb(last)) < style.luminance(style.to_rgb(first))
    assert style.schedule_color("not-a-schedule") == style.OTHER_COLOR


def _display_names() -> set[str]:
    return {label for label, _ in style.SCHEDULE_STYLES.values()}


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_studies_take_schedule_names_and_colours_from_the_style_table(path):
    """No dict keyed by a schedule name may hold a literal colour or display name: those come
    from ``style.schedule_color`` / ``schedule_label`` so a schedule looks alike in every study."""
    schedules = set(style.SCHEDULE_STYLES)
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        if not any(k in schedules or k.split("-")[0] in schedules for k in keys):
            continue
        for value in node.values:
            for c in ast.walk(value):
                if isinstance(c, ast.Constant) and isinstance(c.value, str):
                    text = c.value
                    if re.fullmatch(r"#[0-9A-Fa-f]{6}", text) or text in _display_names():
                        bad.append((c.lineno, text))
    assert not bad, f"{path.name}: literal schedule colours/names {bad}"


def test_loss_curves_take_a_series_colour():
    fig = plot_loss_curves([LossSeries("1F1B", [0, 1, 2], [3.0, 2.0, 1.5], color=style.schedule_color("1f1b"))])
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "1F1B"]
    assert line.get_color() == style.schedule_color("1f1b")


# --- ax= everywhere: composing panels -----------------------------------------------------------

def _link_trace() -> Trace:
    tr = Trace(devices=["gpu0", "gpu1"], links=["link:gpu0->gpu1"], meta={"schedule": "synthetic"})
    for mb in range(3):
        tr.spans.append(Span("gpu0", "F", mb * 1e-3, (mb + 1) * 1e-3, stage=0, microbatch=mb))
        tr.spans.append(Span("gpu1", "F", 3e-3 + mb * 1e-3, 4e-3 + mb * 1e-3, stage=1, microbatch=mb))
        tr.messages.append(Message(mb, 0, 1, 1e6, (mb + 1) * 1e-3, (mb + 2) * 1e-3, "act", 0, mb))
        tr.spans.append(Span("link:gpu0->gpu1", "xfer", (mb + 1) * 1e-3, (mb + 2) * 1e-3, nbytes=1e6, message=mb))
    return tr


def test_trace_plots_compose_into_one_figure(tmp_path):
    sched = REGISTRY.generate("1f1b", 4, 8)
    trace = evaluate(sched, Costs.make(4, F=1.0, B=2.0)).trace()
    fig, axes = plt.subplots(2, 2, figsize=(14, 7))
    before = set(plt.get_fignums())
    assert plot_gantt(trace, ax=axes[0][0], title="(a) Gantt") is fig
    assert plot_schedule_table(unit_trace(sched), ax=axes[0][1], title="(b) table") is fig
    assert plot_memory(trace, ax=axes[1][0], title="(c) memory") is fig
    links = _link_trace()
    sub = axes[1][1].inset_axes((0.0, 0.0, 0.45, 1.0)), axes[1][1].inset_axes((0.55, 0.0, 0.45, 1.0))
    assert plot_link_load(links, ax=sub) is fig
    assert set(plt.get_fignums()) == before  # nothing drew a figure of its own
    # each panel holds its own drawing: 4 devices x 16 boxes in the Gantt and 64 cells' worth in
    # the table; the memory panel has one step line per device
    assert axes[0][0].get_title(loc="left") == "(a) Gantt"
    assert len(axes[0][0].collections[0].get_paths()) == 4 * 16
    assert axes[0][1].get_xlim() == (0, 22)
    assert sum(1 for ln in axes[1][0].get_lines() if ln.get_label().startswith("GPU")) == 4
    assert [p.get_width() for p in sub[0].patches] == [pytest.approx(3.0)]  # 3 MB on the one link
    fig.savefig(tmp_path / "composed.png")
    plt.close(fig)


def test_panels_draw_into_given_axes():
    fig, axes = plt.subplots(1, 2)
    panels = [Panel(series=[Series([1, 2], [1, 2], label="a")]), Panel(series=[Series([1, 2], [2, 1])])]
    assert plot_panels(panels, ax=list(axes)) is fig
    assert [len(a.get_lines()) for a in axes] == [1, 1]
    with pytest.raises(ValueError, match="2 panels but 1 axes"):
        plot_panels(panels, ax=[axes[0]])
    plt.close(fig)


# --- legends off the data, labels off the lines ------------------------------------------------

def test_inside_legend_moves_to_a_corner_without_data():
    """The requested corner holds data; the legend goes to a free one (bbox crosses no line)."""
    xs = list(range(10))
    rising = Series(xs, [float(x) for x in xs], label="rising", marker="o")
    flat_low = Series(xs, [0.5] * 10, label="flat")
    fig = plot_panels([Panel(series=[rising, flat_low], legend="lower right")], columns=1)
    ax = fig.axes[0]
    legend = ax.get_legend()
    box = legend.get_window_extent(renderer_of(ax))
    assert overlaps(box, data_paths(ax)) == 0
    # and the legend lists only the drawn, labelled lines
    assert {t.get_text() for t in legend.get_texts()} == {ln.get_label() for ln in ax.get_lines()
                                                          if not ln.get_label().startswith("_")}


def test_data_notes_do_not_sit_on_lines():
    xs = [float(x) for x in range(10)]
    lines = [Series(xs, [x for x in xs]), Series(xs, [9 - x for x in xs])]
    # anchored where the two lines cross: the label's first placement covers both
    note = Note(4.5, 4.5, "crossing at 4.5", ha="center", va="center")
    fig = plot_panels([Panel(series=lines, notes=[note])], columns=1)
    ax = fig.axes[0]
    (label,) = [t for t in ax.texts if t.get_text() == "crossing at 4.5"]
    assert overlaps(label.get_window_extent(renderer_of(ax)), data_paths(ax)) == 0


def test_memory_peak_label_off_the_lines():
    trace = evaluate(REGISTRY.generate("1f1b", 4, 8)).trace()
    ax = plot_memory(trace).axes[0]
    (label,) = [t for t in ax.texts if t.get_text().startswith("peak")]
    assert overlaps(label.get_window_extent(renderer_of(ax)), data_paths(ax)) == 0


# --- legends list only what is drawn ------------------------------------------------------------

def _legend_labels(fig) -> set[str]:
    return {t.get_text() for legend in fig.legends for t in legend.get_texts()}


def test_gantt_legend_lists_only_drawn_kinds_and_chunks():
    sched = REGISTRY.generate("interleaved", 4, 8, v=2)
    trace = evaluate(sched, Costs.make(sched.num_stages, F=1.0, B=2.0)).trace()
    # a window that holds only forwards of chunk 0 (the first slots of GPU 0)
    fig = plot_gantt(trace, time_range=(0.0, 0.9))
    labels = _legend_labels(fig)
    assert "forward (F)" in labels and "backward (B)" not in labels
    assert not any(text.startswith("chunk 1") for text in labels)
    full = _legend_labels(plot_gantt(trace))
    assert {"forward (F)", "backward (B)"} <= full and sum(t.startswith("chunk") for t in full) == 2


# --- colour ranges fit the data -----------------------------------------------------------------

def test_heatmap_colour_bar_spans_the_data():
    grid = [[1.0e3, 2.5e3], [11.5e3, None]]
    fig = plot_heatmap(grid, ["a", "b"], ["x", "y"], colorbar="v")
    image = fig.axes[0].get_images()[0]
    assert image.norm.vmin == 1.0e3 and image.norm.vmax == 11.5e3


# --- link lanes condensed by default ------------------------------------------------------------

def _two_node_trace() -> Trace:
    """Node 0: two GPUs talking over NVLink and GPU 1 sending to its NIC; one transfer between
    nodes; one link of node 1 idle."""
    links = ["link:n0.gpu0->n0.nvsw", "link:n0.nvsw->n0.gpu1", "link:n0.gpu1->n0.nic0.tx",
             "link:n0.nic0.tx->leaf0", "link:n1.gpu0->n1.nvsw"]
    tr = Trace(devices=["n0.gpu0", "n0.gpu1", "n1.gpu0"], links=links, meta={"schedule": "synthetic"})
    tr.spans.append(Span("n0.gpu0", "F", 0.0, 1.0, stage=0, microbatch=0))
    for k, (link, t0) in enumerate(zip(links[:4], (1.0, 1.1, 2.0, 2.1), strict=True)):
        tr.messages.append(Message(k, 0, 1, 1e6, t0, t0 + 0.5, "act", 0, 0))
        tr.spans.append(Span(link, "xfer", t0, t0 + 0.5, nbytes=1e6, message=k))
    tr.spans.append(Span("n1.gpu0", "F", 3.0, 4.0, stage=1, microbatch=0))
    return tr


def test_link_lanes_fold_intra_node_links_and_drop_idle_ones():
    from pipesim.plot.gantt_layout import layout_gantt, node_of_link

    assert node_of_link("link:n0.gpu0->n0.nvsw") == "n0"
    assert node_of_link("link:n0.gpu1->n0.nic0.tx") == "n0"
    assert node_of_link("link:n0.nic0.tx->leaf0") is None
    assert node_of_link("link:n0.gpu0->n1.gpu0") is None
    tr = _two_node_trace()
    condensed = layout_gantt(tr, links=True)
    assert [lane.name for lane in condensed.lanes] == ["n0 intra-node (3 links)", "link:n0.nic0.tx->leaf0"]
    # the folded lane stacks the overlapping NVLink transfers (1.0-1.5 and 1.1-1.6) in two sub-rows
    assert condensed.lanes[0].depth == 2 and len(condensed.lanes[0].spans) == 3
    assert [lane.name for lane in layout_gantt(tr, links="busy").lanes] == tr.links[:4]
    assert [lane.name for lane in layout_gantt(tr, links="all").lanes] == tr.links
    assert condensed.height < layout_gantt(tr, links="busy").height
    with pytest.raises(ValueError, match="links='some'"):
        layout_gantt(tr, links="some")


def test_cli_figure_controls(tmp_path, capsys):
    import json
    import struct

    from pipesim.cli import main
    from pipesim.export import write_chrome_trace

    write_chrome_trace(_two_node_trace(), tmp_path / "trace.json")
    out = tmp_path / "g.png"
    assert main(["gantt", str(tmp_path / "trace.json"), "-o", str(out), "--links", "all", "--width", "6",
                 "--font-size", "12", "--title", ""]) == 0
    with open(out, "rb") as fh:
        width, _height = struct.unpack(">II", fh.read(24)[16:24])
    assert width == 6 * style.DPI
    for bad, needle in ((["--font-size", "0"], "font size 0.0"), (["--width", "1"], "width=1 inches")):
        capsys.readouterr()
        assert main(["gantt", str(tmp_path / "trace.json"), "-o", str(out), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1
    assert json.loads((tmp_path / "trace.json").read_text())  # the trace itself is untouched


def test_font_size_scales_text_but_not_box_labels():
    sched = REGISTRY.generate("1f1b", 2, 2)
    trace = evaluate(sched, Costs.make(2, F=1.0, B=2.0)).trace()
    base, big = plot_gantt(trace), plot_gantt(trace, font_size=2 * style.FONT_SIZE)
    ticks = [t.get_fontsize() for t in base.axes[0].get_xticklabels()]
    assert [t.get_fontsize() for t in big.axes[0].get_xticklabels()] == [2 * s for s in ticks]
    boxes = sorted(t.get_fontsize() for t in base.axes[0].texts if t.get_gid() == "box-label")
    assert boxes and boxes == sorted(t.get_fontsize() for t in big.axes[0].texts if t.get_gid() == "box-label")


def test_schedule_table_empty_title_drops_its_space():
    trace = unit_trace(REGISTRY.generate("1f1b", 4, 8))
    full, bare = plot_schedule_table(trace), plot_schedule_table(trace, title="")
    assert full.get_size_inches()[1] - bare.get_size_inches()[1] == pytest.approx(0.24)
    assert "1f1b" not in {t.get_text() for t in bare.texts}
    # multi-chunk tables: one two-box swatch per chunk, in the shades of the kinds drawn
    zbv = plot_schedule_table(unit_trace(REGISTRY.generate("zb-v", 4, 8)))
    labels = [t.get_text() for t in zbv.legends[0].get_texts()]
    assert labels == ["forward (F)", "input grad (I)", "weight grad (W)", "chunk 0 (stages 0–3)", "chunk 1 (stages 4–7)"]
