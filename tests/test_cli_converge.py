"""`pipesim converge`: the JSON shape, the ranked table, the plot and one-line errors."""

from __future__ import annotations

import json

import pytest

from pipesim.cli import main
from pipesim.convergence import mean_ci
from pipesim.plot.convergence import LossSeries, plot_loss_curves

SCENARIO = "scenarios/paper_costs.yaml"  # p = 8, m = 16, uniform F = 1 ms, B = 2 ms
ARGS = [SCENARIO, "--problem", "quadratic", "--target", "1e-3", "--schedules", "1f1b,zb-h1,pipedream-2bw",
        "--seeds", "2", "--iterations", "120"]


def test_json_shape_and_arithmetic(capsys):
    assert main(["converge", *ARGS, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["results"]
    assert {r["schedule"] for r in rows} == {"1f1b", "zb-h1", "pipedream-2bw"}
    times = [r["time_to_target_s"] for r in rows]
    assert times == sorted(times)  # ranked by time to target
    for r in rows:
        assert {"schedule", "iterations_to_target", "time_per_iteration_s", "time_to_target_s",
                "iterations_to_target_ci", "time_to_target_ci_s", "reached", "seeds", "max_delay"} <= r.keys()
        assert r["time_to_target_s"] == pytest.approx(r["iterations_to_target"] * r["time_per_iteration_s"])
        assert r["reached"] == r["seeds"] == 2
    by = {r["schedule"]: r for r in rows}
    # synchronous schedules train identically (delay 0); only their time per iteration differs
    assert by["1f1b"]["iterations_to_target_per_seed"] == by["zb-h1"]["iterations_to_target_per_seed"]
    assert by["zb-h1"]["time_per_iteration_s"] < by["1f1b"]["time_per_iteration_s"]
    assert (by["pipedream-2bw"]["max_delay"], by["1f1b"]["max_delay"]) == (1, 0)
    # 2BW streams 8 iterations without a flush (--stream default): faster per iteration than 1F1B
    assert by["pipedream-2bw"]["iterations_simulated"] == 8
    assert by["pipedream-2bw"]["time_per_iteration_s"] < by["1f1b"]["time_per_iteration_s"]


def test_table_and_plot(capsys, tmp_path):
    plot = tmp_path / "curves.png"
    assert main(["converge", *ARGS, "--plot", str(plot)]) == 0
    text = capsys.readouterr().out
    assert "quadratic (dim=64" in text and "time to target (95% CI)" in text
    lines = text.splitlines()
    ranked = [line.split()[1] for line in lines[3:6]]
    assert ranked.index("zb-h1") < ranked.index("1f1b")  # same iterations, shorter iterations
    assert plot.stat().st_size > 5000


@pytest.mark.parametrize("extra,message", [
    (["--problem", "mnist"], "--problem: 'mnist' is not known"),
    (["--schedules", "pipedream-2bw", "--set", "parallel.microbatches=4"], "--schedules pipedream-2bw:"),
    (["-P", "blocks=100"], "blocks=100: must be between 1 and the dimension 64"),
    (["--seeds", "0"], "--seeds: 0; must be >= 1"),
])
def test_errors_are_one_line(capsys, extra, message):
    assert main(["converge", *ARGS, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_mean_ci():
    assert mean_ci([3.0]) == (3.0, 3.0, 3.0)
    mean, _, hi = mean_ci([1.0, 3.0])
    assert mean == 2.0 and hi - mean == pytest.approx(12.706 * 2 ** 0.5 / 2 ** 0.5)  # t(1) * sd / sqrt(n)


def test_plot_loss_curves_reads_plain_arrays(tmp_path):
    fig = plot_loss_curves([LossSeries("a", [0, 1, 2], [3, 2, 1], [2.5, 1.5, 0.5], [3.5, 2.5, 1.5]),
                            LossSeries("b", [0, 2], [3, 2])], tmp_path / "c", target=1.5, formats=("png", "svg"))
    assert len(fig.axes[0].lines) == 3  # two series and the target
    assert (tmp_path / "c.png").exists() and (tmp_path / "c.svg").exists()
    with pytest.raises(ValueError, match="series 'x' has 2 x values and 1 y values"):
        plot_loss_curves([LossSeries("x", [0, 1], [1])])


def test_a_diverging_schedule_ranks_last(capsys):
    # lr x lambda_max = 1.5: stable without delay (limit 2), unstable with 2BW's delay of 1 (limit 1)
    args = [SCENARIO, "--problem", "quadratic", "--target", "1e-3", "--lr", "1.5", "--schedules", "pipedream-2bw,1f1b",
            "--seeds", "2", "--iterations", "80"]
    assert main(["converge", *args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["schedule"] for r in rows] == ["1f1b", "pipedream-2bw"]
    assert rows[1]["diverged"] == 2 and rows[1]["iterations_to_target"] is None and rows[1]["time_to_target_s"] is None
    assert main(["converge", *args]) == 0
    assert "diverged (2/2 seeds)" in capsys.readouterr().out
