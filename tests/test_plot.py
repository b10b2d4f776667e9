"""Figures: every registered schedule renders, geometry is predictable, link lanes stack."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesim.costs import Costs
from pipesim.ideal import evaluate, unit_trace
from pipesim.plot import (
    Axis,
    Bars,
    Note,
    Panel,
    Rule,
    Series,
    assign_subrows,
    layout_gantt,
    link_load,
    output_paths,
    plot_bars,
    plot_gantt,
    plot_heatmap,
    plot_lines,
    plot_link_load,
    plot_memory,
    plot_panels,
    plot_schedule_table,
    style,
)
from pipesim.plot.gantt_layout import box_text, chunk_label, chunk_of, num_chunks
from pipesim.schedule.registry import Registry, RequirementError
from pipesim.trace import MemorySample, Message, Span, Trace

SIZES = ((4, 8), (4, 4), (2, 4), (4, 12), (8, 16), (2, 2))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR is the first chunk)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def first_accepted(gen):
    for p, m in SIZES:
        try:
            return gen(p, m)
        except RequirementError:
            continue
    return None


def link_trace() -> Trace:
    """Two devices, two link directions; three transfers overlap on the first link."""
    tr = Trace(devices=["gpu0", "gpu1"], links=["link:gpu0->gpu1", "link:gpu1->gpu0", "link:idle"],
               meta={"schedule": "synthetic", "devices": 2, "stages": 2, "microbatches": 3})
    for mb in range(3):
        tr.spans.append(Span("gpu0", "F", mb * 1e-3, (mb + 1) * 1e-3, stage=0, microbatch=mb, label=f"0F{mb}"))
        tr.spans.append(Span("gpu1", "F", 3e-3 + mb * 1e-3, 4e-3 + mb * 1e-3, stage=1, microbatch=mb))
        # transfers of 1, 2, 3 ms all starting at 1 ms: in flight together
        tr.messages.append(Message(mb, 0, 1, 1e6 * (mb + 1), 1e-3, 1e-3 + (mb + 1) * 1e-3, "act", 0, mb))
        tr.spans.append(Span("link:gpu0->gpu1", "xfer", 1e-3, 1e-3 + (mb + 1) * 1e-3, nbytes=1e6 * (mb + 1),
                             message=mb, queued=0.5e-3 * mb))
    tr.messages.append(Message(3, 1, 0, 5e5, 6e-3, 7e-3, "grad", 1, 0))
    tr.spans.append(Span("link:gpu1->gpu0", "xfer", 6e-3, 7e-3, nbytes=5e5, message=3))
    tr.spans.append(Span("gpu0", "allreduce", 6e-3, 8e-3))
    return tr


# --- every schedule renders -----------------------------------------------------------------

REGISTRY = Registry.default()


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_schedule_renders_gantt_png_of_expected_size(name, tmp_path):
    sched = first_accepted(REGISTRY.get(name))
    if sched is None:
        pytest.skip(f"{name}: no small (p, m) accepted")
    trace = evaluate(sched, Costs.make(sched.num_stages, F=1.0, B=2.0), reduce_time=1.0).trace()
    path = tmp_path / f"{name}.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_gantt(trace, path)
    w, h = layout_gantt(trace).figsize
    assert png_size(path) == (round(w * style.DPI), round(h * style.DPI))


def test_gantt_pixel_size_hand_derived(tmp_path):
    # p=4: rows of 0.34 in; top 0.62 in; axis 0.5 + one legend row 0.24 + 0.08 in; width 12 in.
    sched = REGISTRY.generate("1f1b", 4, 8)
    path = tmp_path / "g.png"
    plot_gantt(evaluate(sched).trace(), path)
    assert png_size(path) == (12 * 150, round((0.62 + 4 * 0.34 + 0.5 + 0.24 + 0.08) * 150))
    plot_gantt(evaluate(sched).trace(), path, width=8)
    assert png_size(path)[0] == 8 * 150


def test_png_and_svg_by_suffix_and_formats(tmp_path):
    tr = evaluate(REGISTRY.generate("1f1b", 2, 2)).trace()
    plot_gantt(tr, [tmp_path / "a.png", tmp_path / "a.svg"])
    plot_gantt(tr, tmp_path / "b", formats=("png", "svg"))
    for name in ("a.png", "a.svg", "b.png", "b.svg"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")


def test_svg_is_byte_stable(tmp_path):
    tr = evaluate(REGISTRY.generate("1f1b", 2, 3)).trace()
    plot_gantt(tr, tmp_path / "x.svg")
    plot_gantt(tr, tmp_path / "y.svg")
    assert (tmp_path / "x.svg").read_bytes() == (tmp_path / "y.svg").read_bytes()


def test_output_paths():
    assert output_paths("f.png") == [Path("f.png")]
    assert output_paths("f", ("png", "svg")) == [Path("f.png"), Path("f.svg")]
    assert output_paths("f.png", ("svg",)) == [Path("f.svg")]
    assert output_paths(None) == []
    with pytest.raises(ValueError, match="png"):
        output_paths("f.jpeg")
    with pytest.raises(ValueError, match="format"):
        output_paths("f", ("gif",))


# --- text fitting, units, zoom, shading -----------------------------------------------------

def test_labels_where_they_fit_and_none_when_tiny():
    tr = evaluate(REGISTRY.generate("1f1b", 4, 8)).trace()
    fig = plot_gantt(tr)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 4 * 16  # every F and B of every device is wide enough at 12 in
    assert sorted(texts, key=int)[:4] == ["0", "0", "0", "0"]
    fig = plot_gantt(tr, width=2.0)  # ~0.05 in per slot: nothing fits
    assert len(fig.axes[0].texts) == 0


def test_box_text():
    assert box_text(Span("g", "F", 0, 1, stage=0, microbatch=3)) == "3"
    assert box_text(Span("g", "F&B", 0, 1, stage=0, label="(0F3;5B1)OVERLAP_F_B", parts=("0F3", "5B1"))) == "3|1"
    assert box_text(Span("g", "REDUCE_GRAD", 0, 1, stage=2)) == "AR"


def test_time_axis_units_and_zoom():
    tr = evaluate(REGISTRY.generate("1f1b", 4, 8), Costs.make(4, F=1e-3, B=2e-3)).trace()
    fig = plot_gantt(tr, time_range=(0.005, 0.010))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (ms)"
    assert ax.get_xlim() == pytest.approx((5.0, 10.0))
    tr.meta["time_unit"] = "slot"
    assert plot_gantt(tr).axes[0].get_xlabel() == "time (slots)"
    assert style.time_scale(2e-5, False) == (1e6, "µs")
    assert style.time_scale(3.0, False) == (1.0, "s")
    assert style.format_duration(0.0386, False) == "38.6 ms"
    assert style.format_duration(22.0, True) == "22 slots"
    with pytest.raises(ValueError, match="after"):
        plot_gantt(tr, time_range=(2.0, 1.0))


def test_title_key_figures():
    tr = evaluate(REGISTRY.generate("1f1b", 4, 8)).trace()
    fig = plot_gantt(tr)
    texts = [t.get_text() for t in fig.texts]
    assert texts[0] == "1f1b"
    # 1F1B with F=1, B=2: makespan (m+p-1)*3 = 33; bubble (p-1)/(m+p-1) = 3/11
    assert "makespan 33 s" in texts[1] and f"bubble {100 * 3 / 11:.1f}%" in texts[1]


def test_chunk_shading_rule():
    # Chunks are facts of the spans: interleaved p=2, v=3 puts stages s, s+2, s+4 on device s.
    tr = evaluate(REGISTRY.generate("interleaved", 2, 4, v=3)).trace()
    assert num_chunks(tr) == 3
    assert {(s.stage, chunk_of(s)) for s in tr.spans} == {(s, s // 2) for s in range(6)}
    assert chunk_label(tr, 1) == "chunk 1 (stages 2–3)"
    # ZB-V's second arm runs back up the devices: chunk 1 holds stages p..2p-1.
    zbv = evaluate(REGISTRY.generate("zb-v", 3, 6)).trace()
    assert {(s.stage, s.chunk) for s in zbv.spans} == {(s, int(s >= 3)) for s in range(6)}
    assert num_chunks(Trace(devices=["gpu0"])) == 1
    assert style.chunk_tint(1, 0) == 0.0
    assert style.chunk_tint(2, 0) < 0 < style.chunk_tint(2, 1)  # lighter first, darker last
    assert style.text_color(style.to_rgb("#FFFFFF")) == style.TEXT_DARK
    assert style.text_color(style.to_rgb("#000000")) == style.TEXT_LIGHT


# --- link lanes -----------------------------------------------------------------------------

def test_assign_subrows_hand_cases():
    assert assign_subrows([]) == []
    assert assign_subrows([(0, 2), (1, 3), (2, 4)]) == [0, 1, 0]  # touching ends share a row
    assert assign_subrows([(0, 10), (1, 2), (3, 4), (1.5, 5)]) == [0, 1, 1, 2]
    assert assign_subrows([(5, 6), (0, 1)]) == [0, 0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 10)), max_size=40))
def test_assign_subrows_overlaps_never_share_and_depth_is_minimal(raw):
    iv = [(float(s), float(s + d)) for s, d in raw]
    rows = assign_subrows(iv)
    for i in range(len(iv)):
        for j in range(i + 1, len(iv)):
            if iv[i][0] < iv[j][1] and iv[j][0] < iv[i][1]:
                assert rows[i] != rows[j]
    # the least possible depth is the most intervals in flight at one instant
    most = max((sum(1 for a, b in iv if a <= t < b) for t, _ in iv), default=0)
    assert max(rows, default=-1) + 1 == most


def test_link_lanes_only_busy_links_and_stacked_depth(tmp_path):
    tr = link_trace()
    lay = layout_gantt(tr, links=True)
    assert [lane.name for lane in lay.lanes] == ["link:gpu0->gpu1", "link:gpu1->gpu0"]
    assert lay.lanes[0].depth == 3 and lay.lanes[1].depth == 1
    assert lay.height > layout_gantt(tr).height
    path = tmp_path / "links.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_gantt(tr, path, links=True)
    assert png_size(path) == (round(lay.figsize[0] * 150), round(lay.figsize[1] * 150))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["GPU 0", "GPU 1", "gpu0→gpu1", "gpu1→gpu0"]
    # zoomed past the last transfer of the first link: only the second lane is left
    assert [x.name for x in layout_gantt(tr, links=True, time_range=(5e-3, 8e-3)).lanes] == ["link:gpu1->gpu0"]


def test_big_trace_is_one_rasterised_collection_without_labels(tmp_path):
    # What keeps a 128,000-box chart cheap, checked directly (its speed is benchmarks/' business):
    # every box in one PolyCollection, rasterised in vector output, no per-box text or outline.
    from matplotlib.collections import PolyCollection

    p, n = 64, 2000
    tr = Trace(devices=[f"gpu{d}" for d in range(p)], meta={"schedule": "big", "devices": p, "stages": p})
    for d in range(p):
        tr.spans.extend(Span(f"gpu{d}", "F" if k % 2 else "B", k + d, k + d + 1, stage=d, microbatch=k // 2)
                        for k in range(n))
    fig = plot_gantt(tr, tmp_path / "big.png")
    ax = fig.axes[0]
    boxes = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(boxes) == 1 and len(boxes[0].get_paths()) == p * n
    assert boxes[0].get_rasterized()
    assert len(ax.texts) == 0  # boxes of 1/2000 of the width have no room for labels
    assert set(boxes[0].get_linewidths()) == {0.0}  # nor for outlines
    assert png_size(tmp_path / "big.png")[1] == round(layout_gantt(tr).height * 150)


# --- schedule table and charts ----------------------------------------------------------------

def test_schedule_table_from_schedule_and_trace(tmp_path):
    sched = REGISTRY.generate("1f1b", 4, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_schedule_table(unit_trace(sched), tmp_path / "t.png")
    # unit slots, F = B = 1: 2m + 2(p-1) = 22 columns
    assert fig.axes[0].get_xlim() == (0, 22)
    assert len(fig.axes[0].texts) == 4 * 16
    tr = evaluate(sched, Costs.make(4, F=1.0, B=1.0)).trace()
    assert plot_schedule_table(tr).axes[0].get_xlim() == (0, 22)
    assert png_size(tmp_path / "t.png")[0] > 0


def test_memory_chart_peak_and_limit(tmp_path):
    tr = evaluate(REGISTRY.generate("1f1b", 4, 8)).trace()
    fig = plot_memory(tr, tmp_path / "m.png")
    ax = fig.axes[0]
    # 1F1B: stage 0 holds min(p, m) = 4 microbatches' activations at its peak
    assert any(t.get_text() == "peak 4 (GPU 0)" for t in ax.texts)
    assert "microbatch" in ax.get_ylabel()
    tr2 = Trace(devices=["gpu0"], memory=[MemorySample(0, 0.0, 2e9, 3e9), MemorySample(0, 1.0, 5e9, 6e9)],
                meta={"memory_limit": 8e9})
    fig = plot_memory(tr2, tmp_path / "m2.png")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "memory (GB)"
    assert any(t.get_text() == "peak 6 GB (GPU 0)" for t in ax.texts)
    assert any(line.get_label() == "memory limit" for line in ax.get_lines())
    with pytest.raises(ValueError, match="field"):
        plot_memory(tr2, field="weights")


def test_link_load_numbers_and_chart(tmp_path):
    tr = link_trace()
    load = {r["link"]: r for r in link_load(tr)}
    assert set(load) == {"link:gpu0->gpu1", "link:gpu1->gpu0"}
    first = load["link:gpu0->gpu1"]
    assert first["bytes"] == pytest.approx(6e6)
    assert first["busy"] == pytest.approx(3e-3)  # union of [1,2], [1,3], [1,4] ms
    assert first["utilisation"] == pytest.approx(3e-3 / 8e-3)  # makespan: the all-reduce ends at 8 ms
    assert first["max_concurrent"] == 3 and first["queued"] == pytest.approx(1.5e-3)
    plot_link_load(tr, tmp_path / "l.png")
    assert png_size(tmp_path / "l.png")[0] > 0


def test_lines_and_bars(tmp_path):
    rows = [{"s": s, "m": m, "v": m * (1 + i)} for i, s in enumerate(("a", "b")) for m in (1, 2, 4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_lines(rows, "m", "v", "s", tmp_path / "l.png", "t", logx=True, logy=True)
        assert [line.get_ydata().tolist() for line in fig.axes[0].get_lines()] == [[1, 2, 4], [2, 4, 8]]
        fig = plot_bars(rows, "m", "v", "s", tmp_path / "b.png", "t")
        assert len(fig.axes[0].patches) == 6
        plot_bars(rows, "m", "v", None, tmp_path / "bh.png", horizontal=True)
    with pytest.raises(KeyError, match="columns"):
        plot_lines(rows, "m", "nope")


def test_panels_draw_what_they_describe(tmp_path):
    ok = Series([1, 2, 4], [3.0, 2.0, 1.0], label="s", marker="o", hollow=[False, True, False])
    marks = Series([2], [0.05], marker="x", line="none", y_in_axes=True)
    stacked = [Bars([0, 1], [1.0, 2.0], label="low"), Bars([0, 1], [3.0, 1.0], bottom=[1.0, 2.0], hatch="//")]
    panels = [
        Panel(series=[ok, marks], rules=[Rule(2.5, label="limit"), Rule(3, vertical=True)], legend="right",
              notes=[Note(1, 3.0, "first"), Note(0.5, 0.9, "corner", where="axes")], title="a",
              x=Axis("m", "log2", ticks=[1, 2, 4], ticklabels=["one", "two", "four"]),
              y=Axis("t", limits=(5, 0))),
        None,
        Panel(bars=stacked, grid="y", weight=2.0, x=Axis(ticks=[0, 1], fmt="{:g}x"), y=Axis("v", "log", fmt="{:g}k",
                                                                                         unit=1e3)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_panels(panels, tmp_path / "p.png", columns=2, width=8.0, row_height=3.0, title="T",
                          legend=[Series(label="key", line=":"), Bars(label="patch")])
    a, b = fig.axes
    assert a.get_xscale() == "log" and a.xaxis.get_transform().base == 2
    assert [t.get_text() for t in a.get_xticklabels()] == ["one", "two", "four"]
    assert a.get_ylim() == (5, 0)  # limits given high to low reverse the axis
    line = a.get_lines()[0]
    assert line.get_ydata().tolist() == [3.0, 2.0, 1.0]
    # mixed hollow markers: the line without markers, then one marker per point, white where hollow
    assert [m.get_markerfacecolor() for m in a.get_lines()[1:4]] == ["#222222", "white", "#222222"]
    assert {t.get_text() for t in a.texts} == {"first", "corner"}
    assert [t.get_text() for t in a.get_legend().get_texts()] == ["s", "limit"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["key", "patch"]
    # the empty cell is skipped; the second row's panel is twice as wide as a cell would be
    assert b.get_position().width > a.get_position().width
    heights = [(r.get_y(), r.get_height()) for r in b.patches]
    assert heights == [(0, 1.0), (0, 2.0), (1.0, 3.0), (2.0, 1.0)]
    assert b.patches[2].get_hatch() == "//"
    w, h = png_size(tmp_path / "p.png")
    assert w == 8.0 * 150 and abs(h - fig.get_size_inches()[1] * 150) <= 1
    with pytest.raises(ValueError, match="legend_at"):
        plot_panels(panels, legend_at="top")
    with pytest.raises(ValueError, match="scale"):
        plot_panels([Panel(x=Axis(scale="symlog"))])


def test_heatmap_cells_text_and_colour_bar(tmp_path):
    values = [[1e3, 2e3, None], [1e4, 2e4, 3e4]]
    text = [["a", "b", "c"], ["d", "e", "f"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_heatmap(values, ["x1", "x2", "x3"], ["y1", "y2"], tmp_path / "h.png", cell_text=text, log=True,
                           colorbar="tokens/s", tick_format="{:g}k", tick_unit=1e3)
    ax, cbar = fig.axes
    assert ax.images[0].get_array().shape == (2, 3)
    cells = {t.get_text(): t.get_color() for t in ax.texts}
    assert set(cells) == {"a", "b", "d", "e", "f"}  # the blank cell gets no text
    assert cells["a"] == "#FFFFFF" and cells["f"] == "#222222"  # light text on dark cells, dark on light
    assert cbar.get_ylabel() == "tokens/s"
    assert png_size(tmp_path / "h.png")[0] > 0
    with pytest.raises(ValueError, match="labels"):
        plot_heatmap(values, ["x1"], ["y1", "y2"])


def test_importing_pipesim_does_not_load_matplotlib():
    code = ("import sys, pipesim, pipesim.plot, pipesim.export, pipesim.plot.gantt; "
            "sys.exit(1 if 'matplotlib' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_max_links_keeps_the_busiest_lanes_in_trace_order():
    tr = link_trace()
    lay = layout_gantt(tr, links=True, max_links=1)
    assert [lane.name for lane in lay.lanes] == ["link:gpu0->gpu1"]  # 6 ms of transfers against 1 ms
    assert lay.hidden_lanes == 1
    fig = plot_gantt(tr, links=True, max_links=1)
    assert any("1 busiest of 2 busy links" in t.get_text() for t in fig.texts)
