"""`pipesim compare`: every schedule on one scenario at equal work, infeasible ones with a reason."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipesim.cli import main
from pipesim.compare import CompareError, compare, parse_schedules
from pipesim.schedule import Registry

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def test_quickstart_all_runs_or_says_why(tmp_path, capsys):
    out_csv = tmp_path / "cmp.csv"
    assert main(["compare", str(QUICKSTART), "--schedules", "all", "--json", "--csv", str(out_csv)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["schedule"] for r in records} == set(Registry.default().names())
    for r in records:
        if r["feasible"]:
            assert r["iteration_time"] >= r["table_time"] * (1 - 1e-9)  # a network only delays
            assert r["peak_memory"] <= r["memory_limit"]
        else:
            assert r["reason"]
    feasible = [r for r in records if r["feasible"]]
    assert [r["rank"] for r in feasible] == list(range(1, len(feasible) + 1))
    times = [r["iteration_time"] for r in feasible]
    assert times == sorted(times)
    with open(out_csv, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(records)


def test_memory_limit_marks_oom():
    from pipesim.scenario import build, load_scenario

    # A limit halfway between what the first device holds under 1F1B (p microbatches' stash in
    # flight) and under GPipe (all m), on top of its weights, gradients and optimizer state, on
    # the balanced split compare gives both (p parts for each).
    built = build(load_scenario(QUICKSTART, ["model.layers_per_stage=balanced"]))
    costs, p, m = built.costs, built.schedule.num_devices, built.schedule.num_microbatches
    static = 2 * costs.param_bytes[0] + costs.optimizer_bytes[0]
    limit = static + (p + m) / 2 * costs.activation_bytes[0]
    rows = compare(QUICKSTART, ["gpipe", "1f1b"], overrides=[f"hardware.memory={limit:.0f} B"], simulate=False)
    by = {r.schedule: r for r in rows}
    assert not by["gpipe"].feasible and "out of memory" in by["gpipe"].reason
    assert by["1f1b"].feasible
    assert rows[0].schedule == "1f1b"  # feasible rows rank first


def test_requirement_is_a_reason_not_a_crash():
    rows = compare(QUICKSTART, ["hanayo"], microbatches=12, simulate=False)
    assert not rows[0].feasible and "multiple of p" in rows[0].reason


def test_equal_work_across_split_shapes():
    # The same model on the same devices: total compute per iteration is the same whatever the cut.
    for split in ("balanced", "scenario"):
        rows = {r.schedule: r for r in compare(QUICKSTART, ["1f1b", "interleaved", "zb-v"], simulate=False,
                                               split=split)}
        assert all(r.feasible for r in rows.values())
        assert sum(rows["zb-v"].extra["layers_per_part"]) == 24 and len(rows["zb-v"].extra["layers_per_part"]) == 16
        base = rows["1f1b"].extra["compute_time"]
        for r in rows.values():
            assert r.extra["compute_time"] == pytest.approx(base, rel=1e-9), r.schedule
    # The quickstart's hand-written 1F1B split is kept only when asked, and only where it fits.
    assert rows["1f1b"].extra["layers_per_part"] == [4, 4, 4, 3, 2, 3, 3, 1] and rows["1f1b"].note == ""
    assert "balanced layer split" in rows["interleaved"].note


def test_bad_schedule_names():
    reg = Registry.default()
    with pytest.raises(CompareError, match="--schedules"):
        parse_schedules("1f1b,nope", reg)
    assert parse_schedules("1F1B,zb1p", reg) == ["1f1b", "zb-h1"]


def test_plot(tmp_path, capsys):
    out = tmp_path / "cmp.png"
    assert main(["compare", str(QUICKSTART), "--schedules", "1f1b,zb-h1", "--plot", str(out)]) == 0
    assert out.stat().st_size > 0


def test_per_stage_costs_are_flagged_for_chunked_schedules():
    scenario = ROOT / "scenarios" / "paper_costs.yaml"
    rows = {r.schedule: r for r in compare(scenario, ["1f1b", "zb-v"], simulate=False)}
    assert "not equal work" in rows["zb-v"].note
    assert "not equal work" not in rows["1f1b"].note
    fair = {r.schedule: r for r in compare(scenario, ["1f1b", "zb-v"], overrides=["costs.per=device"],
                                           simulate=False)}
    assert "not equal work" not in fair["zb-v"].note
    assert fair["zb-v"].extra["compute_time"] == pytest.approx(fair["1f1b"].extra["compute_time"])


def test_compare_adds_time_to_target_with_a_problem(capsys):
    scenario = str(Path(__file__).resolve().parents[1] / "scenarios" / "paper_costs.yaml")
    argv = ["compare", scenario, "--schedules", "1f1b,pipedream-2bw", "--table-only",
            "--problem", "quadratic", "--target", "1e-3", "--seeds", "2", "--json"]
    assert main(argv) == 0
    rows = {r["schedule"]: r for r in json.loads(capsys.readouterr().out)}
    for r in rows.values():
        # time to target = iterations to target x the simulated time per iteration
        assert r["time_to_target_s"] == pytest.approx(r["iterations_to_target"] * r["iteration_time"], rel=1e-9)
    assert main(["compare", scenario, "--target", "1"]) == 2
    assert "--target: give --problem too" in capsys.readouterr().err


def test_memory_without_sizes_is_in_model_stage_units():
    # per: device and no activation sizes: a chunk of 1/v of a device's share counts 1/v, so the
    # peaks compare across shapes. 1F1B's and ZB-V's first device hold p = 8 shares (their papers'
    # "same memory as 1F1B"); Hanayo at its default budget no more.
    scenario = ROOT / "scenarios" / "paper_costs.yaml"
    ov = ["costs.per=device", "costs.activation_bytes=null", "costs.param_bytes=0", "costs.optimizer_bytes=0"]
    rows = {r.schedule: r for r in compare(scenario, ["1f1b", "zb-v", "hanayo"], overrides=ov, simulate=False)}
    assert {r.memory_unit for r in rows.values()} == {"model-stage"}
    assert rows["1f1b"].peak_memory == 8 and rows["zb-v"].peak_memory == 8
    assert rows["hanayo"].peak_memory <= 8
