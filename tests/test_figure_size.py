"""Figure sizes: `--title ""` leaves out the title line and its space; a schedule table too
large to read is refused before anything is drawn."""

from __future__ import annotations

import struct

import pytest

from pipesim.cli import main
from pipesim.plot import layout_gantt, plot_gantt
from pipesim.plot.gantt_layout import HEADLINE, TOP_MARGIN
from pipesim.trace import Span, Trace


def trace() -> Trace:
    tr = Trace(devices=["gpu0", "gpu1"], meta={"schedule": "demo", "time_unit": "s"})
    tr.spans += [Span("gpu0", "F", 0.0, 1.0, stage=0, microbatch=0), Span("gpu1", "F", 1.0, 2.0, stage=1, microbatch=0)]
    return tr


def png_height(path) -> int:
    return struct.unpack(">II", path.read_bytes()[16:24])[1]


def test_empty_title_removes_the_title_line_and_its_space(tmp_path):
    with_title, without = layout_gantt(trace()), layout_gantt(trace(), title="")
    assert with_title.top == TOP_MARGIN and without.top == TOP_MARGIN - HEADLINE
    assert with_title.height - without.height == pytest.approx(HEADLINE)  # the plot and legend keep their size
    fig = plot_gantt(trace(), tmp_path / "t.png", title="")
    assert "demo" not in [t.get_text() for t in fig.texts]  # no default title either
    assert png_height(tmp_path / "t.png") == round(without.height * 150)
    plot_gantt(trace(), tmp_path / "d.png", title="custom")
    assert png_height(tmp_path / "d.png") == round(with_title.height * 150)


def test_gantt_command_with_an_empty_title(tmp_path, capsys):
    from pipesim.export import write_chrome_trace

    write_chrome_trace(trace(), tmp_path / "trace.json")
    assert main(["gantt", str(tmp_path / "trace.json"), "-o", str(tmp_path / "g.png"), "--title", ""]) == 0
    assert png_height(tmp_path / "g.png") == round(layout_gantt(trace(), title="").height * 150)


def test_a_schedule_table_too_large_to_read_is_refused_before_drawing():
    import matplotlib.pyplot as plt
    import pytest

    from pipesim.plot import plot_schedule_table

    tr = Trace(devices=["gpu0", "gpu1"], meta={"schedule": "long"})
    tr.spans += [Span("gpu0", "F", 0.0, 1.0, stage=0, microbatch=0),
                 Span("gpu1", "B", 19_999.0, 20_000.0, stage=1, microbatch=0)]
    before = plt.get_fignums()
    with pytest.raises(ValueError, match=r"2 devices x 20,000 slots would be [\d,]+ px wide"):
        plot_schedule_table(tr)
    assert plt.get_fignums() == before
