"""Chart functions draw into a given Axes, so figures can be composed of panels."""

from __future__ import annotations

import matplotlib.pyplot as plt

from pipesim.plot import plot_bars, plot_heatmap, plot_lines

ROWS = [{"m": m, "t": 10.0 * m + k, "schedule": name} for k, name in enumerate(("1f1b", "gpipe")) for m in (4, 8, 16)]


def test_charts_draw_into_the_given_axes(tmp_path):
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(12, 3))
    before = set(plt.get_fignums())
    assert plot_lines(ROWS, "m", "t", hue="schedule", ax=left) is fig
    assert plot_bars(ROWS, "m", "t", hue="schedule", ax=middle) is fig
    assert plot_heatmap([[1.0, 2.0], [3.0, None]], ["a", "b"], ["x", "y"], ax=right) is fig
    assert set(plt.get_fignums()) == before  # no figure of their own
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in left.get_lines()}
    # schedule names are shown by their display names, in their colours from the style table
    assert lines == {"1F1B": ([4, 8, 16], [40.0, 80.0, 160.0]), "GPipe": ([4, 8, 16], [41.0, 81.0, 161.0])}
    assert {line.get_label(): line.get_color() for line in left.get_lines()} == {
        "1F1B": "#EE6677", "GPipe": "#4477AA"}
    heights = sorted(bar.get_height() for bar in middle.patches)
    assert heights == sorted(r["t"] for r in ROWS)
    assert right.get_images()[0].get_array().shape == (2, 2)
    fig.savefig(tmp_path / "panels.png")
    plt.close(fig)
