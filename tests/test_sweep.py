"""Sweeps: expansion, stable ids, results.csv (appended, resumable, crash-tolerant), executors, CLI.

Runs use tiny table-level scenarios with explicit costs (milliseconds each). Oracles are closed
forms: GPipe and 1F1B with uniform costs take (m + p - 1)(F + B) when the network is free.
Executions are counted in this process (serial executor) by wrapping ``pipesim.runner.run_built``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path

import pytest
import yaml

import pipesim.runner
from pipesim.cli import sweep_cmd
from pipesim.scenario import parse_override
from pipesim.sweep import (
    METRICS,
    NOT_COLUMNS,
    SweepError,
    expand,
    flatten_metrics,
    load_sweep,
    make_task,
    read_results,
    run_id_for,
    run_sweep,
    run_tasks,
)
from pipesim.sweep.columns import _REDUCE
from pipesim.sweep.expand import _yaml_value

ROOT = Path(__file__).resolve().parent.parent
P = 4  # pipeline devices of the tiny base scenario


def base(**costs: object) -> dict:
    return {"name": "tiny", "costs": {"F": 1, "B": 2, **costs}, "parallel": {"pp": P, "microbatches": 8},
            "schedule": "1f1b"}


def closed_form(m: int, F: float = 1, B: float = 2, p: int = P) -> float:
    return (m + p - 1) * (F + B)


def sweep(grid: dict | None = None, zip_: dict | None = None, **extra: object) -> dict:
    data: dict = {"base": extra.pop("base", base()), "level": "table", "grid": grid or {}}
    if zip_:
        data["zip"] = zip_
    data.update(extra)
    return data


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record every run executed in this process (serial executor) by its scenario overrides."""
    seen: list[list[str]] = []
    real = pipesim.runner.run_built

    def counting(built, level="sim", **kw):
        seen.append([built.scenario.schedule.name, built.microbatches])
        return real(built, level, **kw)

    monkeypatch.setattr(pipesim.runner, "run_built", counting)
    return seen


# --------------------------------------------------------------------------------------------
# Expansion and ids


def test_grid_times_zip_count_and_order() -> None:
    grid = {"schedule.name": ["gpipe", "1f1b"], "parallel.microbatches": [4, 8, 12]}
    zipped = {"costs.F": [1, 2], "costs.B": [2, 4]}
    points = expand(load_sweep(sweep(grid, zipped)))
    assert len(points) == 2 * 3 * 2
    expected = [
        {"schedule.name": s, "parallel.microbatches": m, "costs.F": f, "costs.B": b}
        for s in ("gpipe", "1f1b") for m in (4, 8, 12) for f, b in ((1, 2), (2, 4))
    ]
    assert [p.params for p in points] == expected
    assert [p.index for p in points] == list(range(12))
    assert points[0].overrides == ("schedule.name=gpipe", "parallel.microbatches=4", "costs.F=1", "costs.B=2")
    assert len({p.run_id for p in points}) == 12


def test_no_axes_is_one_run_of_the_base() -> None:
    spec = load_sweep(sweep())
    assert spec.num_runs == 1
    [point] = expand(spec)
    assert point.params == {} and point.overrides == ()


def test_ids_do_not_depend_on_key_order() -> None:
    a = sweep({"schedule.name": ["gpipe", "1f1b"], "parallel.microbatches": [4, 8]},
              {"costs.F": [1, 2], "costs.B": [2, 4]})
    b = sweep({"parallel.microbatches": [4, 8], "schedule.name": ["gpipe", "1f1b"]},
              {"costs.B": [2, 4], "costs.F": [1, 2]})
    ids_a = {tuple(sorted(p.params.items())): p.run_id for p in expand(load_sweep(a))}
    ids_b = {tuple(sorted(p.params.items())): p.run_id for p in expand(load_sweep(b))}
    assert ids_a == ids_b
    # ... while the expansion order follows the file.
    assert [p.params["parallel.microbatches"] for p in expand(load_sweep(b))] == [4] * 4 + [8] * 4
    # An id names the values: change one value, get another id.
    assert run_id_for({"parallel.microbatches": 8}) != run_id_for({"parallel.microbatches": 16})
    assert run_id_for({"parallel.microbatches": 8}) == run_id_for({"parallel .microbatches": 8})


@pytest.mark.parametrize("value", [1e-05, 0.5, 3, "1 MiB", "yes", "1f1b", "a: b", "", None, True,
                                   [1, 2], {"kind": "free", "devices": 4}])
def test_values_reach_set_unchanged(value: object) -> None:
    _, parsed = parse_override(f"x={_yaml_value(value, 'x')}")
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(("data", "words"), [
    (sweep(zip_={"costs.F": [1, 2], "costs.B": [2, 4, 6]}), ["sweep.zip", "costs.F: 2", "costs.B: 3"]),
    (sweep(gird={}), ["'gird'", "did you mean 'grid'"]),
    ({"level": "table"}, ["missing key 'base'"]),
    (sweep(level="simulation"), ["sweep.level", "'simulation'", "sim, table"]),
    (sweep({"schedule.nmae": ["gpipe"]}), ["sweep.grid.schedule.nmae", "did you mean 'name'"]),
    (sweep({"parallel.microbatches": 8}), ["sweep.grid.parallel.microbatches", "not a list", "[8]"]),
    (sweep({"parallel.microbatches": []}), ["sweep.grid.parallel.microbatches", "empty list"]),
    (sweep({"parallel.microbatches": [8, 8]}), ["sweep.grid.parallel.microbatches", "appears twice"]),
    (sweep(zip_={"costs.F": [1, 1], "costs.B": [2, 2]}), ["sweep.zip", "positions 0 and 1"]),
    (sweep({"topology": [{"kind": "free"}]}, {"topology.devices": [4]}), ["sweep.zip.topology.devices",
                                                                          "overlaps sweep.grid.topology"]),
    (sweep({"costs.F": [1]}, {"costs.F": [2]}), ["sweep.zip.costs.F", "overlaps"]),
    (sweep(metrics=["makspan"]), ["sweep.metrics[0]", "did you mean 'makespan'"]),
    (sweep(metrics=["bytes_moved"]), ["sweep.metrics[0]", "only measured at the sim level"]),
    (sweep(base="no_such_scenario.yaml"), ["sweep.base", "no_such_scenario.yaml", "not found"]),
    (sweep(base=base(), base_dir=7), ["sweep.base_dir", "not a string"]),
])
def test_spec_errors_are_one_line_and_say_what_is_valid(data: dict, words: list[str]) -> None:
    with pytest.raises(SweepError) as err:
        load_sweep(data)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_sweep_file_paths_are_relative_to_the_sweep_file(tmp_path: Path) -> None:
    (tmp_path / "scen").mkdir()
    (tmp_path / "scen" / "tiny.yaml").write_text(yaml.safe_dump({k: v for k, v in base().items() if k != "name"}))
    (tmp_path / "sweeps").mkdir()
    path = tmp_path / "sweeps" / "s.yaml"
    path.write_text(yaml.safe_dump({"base": "../scen/tiny.yaml", "level": "table",
                                    "grid": {"parallel.microbatches": [4]}}))
    spec = load_sweep(path)
    assert spec.name == "s"
    assert spec.scenario["name"] == "tiny"  # a base file without a name is named after the file
    assert spec.scenario_dir == (tmp_path / "scen").resolve()


# --------------------------------------------------------------------------------------------
# Running


def test_process_pool_end_to_end(tmp_path: Path) -> None:
    spec = load_sweep(sweep({"schedule.name": ["gpipe", "1f1b"], "parallel.microbatches": [4, 8, 12]}))
    path = run_sweep(spec, tmp_path / "out", jobs=2, progress=False)
    assert path == tmp_path / "out" / "results.csv"
    with path.open(newline="") as fh:
        assert next(csv.reader(fh)) == spec.columns
    rows = rows_of(path)
    assert [r["run_id"] for r in rows] == [p.run_id for p in expand(spec)]  # expansion order
    for row in rows:
        assert row["status"] == "ok" and row["error"] == ""
        m = int(row["parallel.microbatches"])
        assert float(row["makespan"]) == pytest.approx(closed_form(m))
        assert float(row["bubble_ratio"]) == pytest.approx((P - 1) / (m + P - 1))
        # 1F1B holds at most p microbatches on device 0; GPipe holds all m.
        assert int(row["max_peak_activations"]) == (m if row["schedule.name"] == "gpipe" else min(P, m))
    # The output folder reproduces the sweep: same runs, same ids.
    again = load_sweep(tmp_path / "out" / "sweep.yaml")
    assert [p.run_id for p in expand(again)] == [p.run_id for p in expand(spec)]
    assert again.scenario == spec.scenario and again.level == "table"


def test_metric_selection_fixes_the_columns(tmp_path: Path) -> None:
    spec = load_sweep(sweep({"parallel.microbatches": [4, 8]}, metrics=["bubble_ratio", "makespan"]))
    path = run_sweep(spec, tmp_path, executor="serial", progress=False)
    with path.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["run_id", "parallel.microbatches", "status", "error", "bubble_ratio", "makespan"]


def test_resume_runs_only_what_is_missing(tmp_path: Path, calls: list) -> None:
    spec = load_sweep(sweep({"schedule.name": ["gpipe", "1f1b"], "parallel.microbatches": [4, 8]}))
    path = run_sweep(spec, tmp_path, executor="serial", progress=False)
    assert len(calls) == 4
    before = path.read_text()
    lines = before.splitlines(keepends=True)
    removed = rows_of(path)[2]
    path.write_text("".join(lines[:3] + lines[4:]))  # delete the row of run 2 by hand
    calls.clear()
    run_sweep(spec, tmp_path, executor="serial", progress=False)
    assert calls == [[removed["schedule.name"], int(removed["parallel.microbatches"])]]
    assert path.read_text() == before  # the same rows, back in expansion order
    calls.clear()
    run_sweep(spec, tmp_path, executor="serial", progress=False)
    assert calls == []


def test_interrupt_keeps_finished_rows_and_resume_completes(tmp_path: Path, calls: list) -> None:
    spec = load_sweep(sweep({"parallel.microbatches": [4, 8, 12, 16, 20]}))
    seen: list[dict] = []

    def stop_after_two(row: dict) -> None:
        seen.append(row)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path, executor="serial", progress=False, on_result=stop_after_two)
    rows = rows_of(tmp_path / "results.csv")
    assert [r["parallel.microbatches"] for r in rows] == ["4", "8"]
    assert all(r["status"] == "ok" for r in rows)
    calls.clear()
    run_sweep(spec, tmp_path, executor="serial", progress=False)
    assert [m for _, m in calls] == [12, 16, 20]
    rows = rows_of(tmp_path / "results.csv")
    assert [float(r["makespan"]) for r in rows] == [closed_form(m) for m in (4, 8, 12, 16, 20)]


def test_interrupt_of_the_process_pool_keeps_finished_rows(tmp_path: Path) -> None:
    spec = load_sweep(sweep({"parallel.microbatches": list(range(4, 40))}))

    def stop(row: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path, jobs=2, progress=False, on_result=stop)
    header, rows = read_results(tmp_path / "results.csv")
    assert header == spec.columns
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    m = int(rows[0]["parallel.microbatches"])
    assert float(rows[0]["makespan"]) == closed_form(m)


@pytest.mark.parametrize("kept", ["half", "all but the last character"])
def test_partial_last_line_is_dropped_and_rerun(tmp_path: Path, calls: list, kept: str) -> None:
    spec = load_sweep(sweep({"parallel.microbatches": [4, 8, 12]}))
    path = run_sweep(spec, tmp_path, executor="serial", progress=False)
    complete = path.read_text()
    last = complete.splitlines(keepends=True)[-1]
    # A crash mid-write; the second cut leaves every field present, only the last one shortened.
    keep = len(last) // 2 if kept == "half" else len(last) - 2
    path.write_text(complete[: len(complete) - len(last) + keep])
    header, rows = read_results(path)
    assert header == spec.columns and [r["parallel.microbatches"] for r in rows] == ["4", "8"]
    calls.clear()
    run_sweep(spec, tmp_path, executor="serial", progress=False)
    assert [m for _, m in calls] == [12]
    assert path.read_text() == complete


def test_a_failing_point_is_recorded_and_the_rest_complete(tmp_path: Path, calls: list) -> None:
    spec = load_sweep(sweep({"schedule.name": ["gpipe", "nosuch", "1f1b"], "parallel.microbatches": [4, 0]}))
    path = run_sweep(spec, tmp_path, jobs=2, progress=False)
    rows = {(r["schedule.name"], r["parallel.microbatches"]): r for r in rows_of(path)}
    assert len(rows) == 6
    for name in ("gpipe", "1f1b"):
        assert rows[name, "4"]["status"] == "ok"
        assert float(rows[name, "4"]["makespan"]) == closed_form(4)
        bad = rows[name, "0"]
        assert bad["status"] == "error" and bad["makespan"] == ""
        assert "scenario.parallel.microbatches" in bad["error"] and ">= 1" in bad["error"]
    unknown = rows["nosuch", "4"]["error"]
    assert "unknown schedule 'nosuch'" in unknown and "1f1b" in unknown and "\n" not in unknown
    # Failed runs are retried on resume (and fail again here); successes are not.
    retried: list[dict] = []
    calls.clear()
    run_sweep(spec, tmp_path, executor="serial", progress=False, on_result=retried.append)
    assert calls == []  # the failures stop before running, the successes are skipped
    assert sorted((r["schedule.name"], r["parallel.microbatches"]) for r in retried) == [
        ("1f1b", "0"), ("gpipe", "0"), ("nosuch", "0"), ("nosuch", "4")]
    assert len(rows_of(path)) == 6


def test_results_of_another_sweep_are_kept_or_refused(tmp_path: Path, calls: list) -> None:
    run_sweep(load_sweep(sweep({"parallel.microbatches": [4, 8]})), tmp_path, executor="serial", progress=False)
    calls.clear()
    run_sweep(load_sweep(sweep({"parallel.microbatches": [8, 12]})), tmp_path, executor="serial", progress=False)
    assert [m for _, m in calls] == [12]
    # This sweep's rows in its order, then the earlier sweep's row it no longer has.
    assert [r["parallel.microbatches"] for r in rows_of(tmp_path / "results.csv")] == ["8", "12", "4"]
    with pytest.raises(SweepError, match=r"different base scenario .*base\.costs\.F"):
        run_sweep(load_sweep(sweep({"parallel.microbatches": [8]}, base=base(F=2))), tmp_path, progress=False)
    with pytest.raises(SweepError, match=r"columns differ.*schedule\.name"):
        run_sweep(load_sweep(sweep({"parallel.microbatches": [8], "schedule.name": ["gpipe"]})), tmp_path,
                  progress=False)


def test_bad_run_options(tmp_path: Path) -> None:
    spec = load_sweep(sweep())
    with pytest.raises(SweepError, match=r"'threads'.*process, dask, serial"):
        run_sweep(spec, tmp_path, executor="threads")
    with pytest.raises(SweepError, match="--jobs"):
        run_sweep(spec, tmp_path, jobs=0)
    with pytest.raises(SweepError, match="--executor dask"):
        run_sweep(spec, tmp_path, address="tcp://127.0.0.1:8786")


def test_dask_missing_is_one_line_saying_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if not installed
    with pytest.raises(SweepError, match=r"pip install -e '\.\[dask\]'"):
        run_sweep(load_sweep(sweep({"parallel.microbatches": [4]})), tmp_path, executor="dask", progress=False)


def test_dask_on_a_local_cluster(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed", reason="dask is an optional extra: pip install -e '.[dask]'")
    from dask.distributed import LocalCluster

    spec = load_sweep(sweep({"schedule.name": ["gpipe", "1f1b"], "parallel.microbatches": [4, 8]}))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        path = run_sweep(spec, tmp_path, executor="dask", address=cluster.scheduler_address, progress=False)
    rows = rows_of(path)
    assert [r["run_id"] for r in rows] == [p.run_id for p in expand(spec)]
    assert [float(r["makespan"]) for r in rows] == [closed_form(m) for m in (4, 8, 4, 8)]


# --------------------------------------------------------------------------------------------
# run_tasks: the same executors for scripts (the studies), results in task order


def schedule_and_peak(built, outcome) -> dict:
    """A measure function: runs in the worker, sees built objects, returns plain data."""
    return {"schedule": built.schedule.name, "level": outcome.level, "peak": max(outcome.metrics["peak_activations"])}


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_tasks_keeps_task_order_and_full_metrics(jobs: int) -> None:
    ms = [12, 4, 8, 0, 16]  # 0 microbatches: an error in the middle, which must not shift the rest
    tasks = [make_task(base(), [f"parallel.microbatches={m}"], "table", run_id=f"m{m}") for m in ms]
    results = run_tasks(tasks, jobs=jobs, progress=False, measure=schedule_and_peak)
    assert [r["run_id"] for r in results] == [f"m{m}" for m in ms]
    assert [r["status"] for r in results] == ["ok", "ok", "ok", "error", "ok"]
    assert "parallel.microbatches" in results[3]["error"] and "measured" not in results[3]
    for m, r in zip(ms, results, strict=True):
        if m:
            assert r["metrics"]["makespan"] == closed_form(m)
            # lists come back whole (a sweep row keeps only their maximum)
            assert r["metrics"]["peak_activations"] == [min(P - d, m) for d in range(P)]
            assert r["measured"] == {"schedule": "1f1b", "level": "table", "peak": min(P, m)}


def test_run_tasks_and_a_sweep_give_the_same_numbers(tmp_path: Path) -> None:
    spec = load_sweep(sweep({"schedule.name": ["gpipe", "1f1b"], "parallel.microbatches": [4, 8]}))
    rows = rows_of(run_sweep(spec, tmp_path, executor="serial", progress=False))
    results = run_tasks([make_task(base(), p.overrides, "table") for p in expand(spec)], jobs=2, progress=False)
    assert [float(r["makespan"]) for r in rows] == [r["metrics"]["makespan"] for r in results]


def test_make_task_checks_level_and_overrides() -> None:
    with pytest.raises(SweepError, match="'simulation' is not a level"):
        make_task(base(), [], "simulation")
    with pytest.raises(SweepError, match="one string"):
        make_task(base(), "parallel.microbatches=4")
    with pytest.raises(SweepError, match="--jobs"):
        run_tasks([make_task(base())], jobs=0)


# --------------------------------------------------------------------------------------------
# Simulation level


SIM_BASE = {"name": "tiny-sim", "costs": {"F": "1 ms", "B": "2 ms", "message_bytes": "8 MiB"},
            "parallel": {"pp": P, "microbatches": 8}, "schedule": "1f1b",
            "topology": {"kind": "free", "devices": P}}


def test_sim_level_sweep_over_topologies(tmp_path: Path) -> None:
    # Free network: the simulation equals the closed form; a 10 GbE star (8 MiB at 1.25 GB/s is
    # ~6.7 ms per hop, more than F + B) must be slower.
    data = {"base": SIM_BASE, "level": "sim",
            "grid": {"topology": [{"kind": "free", "devices": P}, {"kind": "single_node", "gpus": P, "link": "eth10"}]},
            "metrics": ["makespan", "bytes_moved", "busiest_link_utilisation"]}
    spec = load_sweep(data)
    path = run_sweep(spec, tmp_path, jobs=2, progress=False)
    free, slow = rows_of(path)
    assert free["status"] == slow["status"] == "ok"
    assert float(free["makespan"]) == pytest.approx(closed_form(8, F=1e-3, B=2e-3))
    assert float(slow["makespan"]) > closed_form(8, F=1e-3, B=2e-3) * 1.5
    # Every microbatch crosses p - 1 boundaries forward and back: 2 (p - 1) m messages.
    assert float(slow["bytes_moved"]) == 2 * (P - 1) * 8 * 8 * 2**20
    assert 0 < float(slow["busiest_link_utilisation"]) <= 1


@pytest.mark.parametrize("level", ["table", "sim"])
def test_every_runner_metric_is_a_column_or_deliberately_left_out(level: str) -> None:
    from pipesim.scenario import build, load_scenario

    for overrides in ([], ["schedule.name=pipedream"], ["parallel.dp=2", "topology.devices=8"]):
        metrics = pipesim.runner.run_built(build(load_scenario(SIM_BASE, overrides)), level).metrics
        unknown = set(metrics) - set(METRICS[level]) - set(_REDUCE) - NOT_COLUMNS
        assert not unknown, f"add {sorted(unknown)} to METRICS, _REDUCE or NOT_COLUMNS in pipesim.sweep.columns"
        flat = flatten_metrics(metrics)
        assert set(flat) <= set(METRICS[level]) | NOT_COLUMNS
        assert all(v is None or isinstance(v, bool | int | float | str) for v in flat.values())


# --------------------------------------------------------------------------------------------
# Command line and example files


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sweep_cmd.add_arguments(parser)
    return sweep_cmd.run(parser.parse_args(argv))


def test_cli_runs_prints_and_defaults_the_out_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "my_sweep.yaml"
    path.write_text(yaml.safe_dump(sweep({"schedule.name": ["gpipe", "1f1b"], "parallel.microbatches": [4]})))
    monkeypatch.chdir(tmp_path)
    assert cli([str(path), "--executor", "serial", "--no-progress"]) == 0
    out = capsys.readouterr().out
    results = Path("out") / "my_sweep" / "results.csv"
    assert results.exists() and str(results) in out
    assert "gpipe" in out and "1f1b" in out and "21" in out  # makespan (4 + 4 - 1) x 3 slots
    path.write_text(yaml.safe_dump(sweep({"schedule.name": ["gpipe", "nosuch"]})))
    assert cli([str(path), "--out", "other", "--jobs", "2", "--no-progress"]) == 1
    assert "unknown schedule 'nosuch'" in " ".join(capsys.readouterr().out.split())


def test_cli_errors_reach_main_as_value_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sweep({"parallel.microbatches": [4]})))
    with pytest.raises(ValueError, match="--jobs"):
        cli([str(path), "--jobs", "0"])
    with pytest.raises(ValueError, match="not found"):
        cli([str(tmp_path / "missing.yaml")])


def test_example_sweeps_run_cleanly(tmp_path: Path) -> None:
    files = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
    assert {f.name for f in files} >= {"schedules_vs_m.yaml", "inter_bandwidth.yaml"}
    levels = set()
    for f in files:
        spec = load_sweep(f)
        levels.add(spec.level)
        path = run_sweep(spec, tmp_path / f.stem, executor="serial", progress=False)
        rows = rows_of(path)
        assert len(rows) == spec.num_runs
        assert [r["error"] for r in rows if r["status"] != "ok"] == []
    assert levels == {"table", "sim"}


def test_schedules_vs_m_matches_the_closed_form_for_gpipe_and_1f1b(tmp_path: Path) -> None:
    spec = load_sweep(ROOT / "scenarios" / "sweeps" / "schedules_vs_m.yaml")
    rows = rows_of(run_sweep(spec, tmp_path, executor="serial", progress=False))
    p, F, B = 8, 1e-3, 2e-3
    for row, (name, m) in zip(rows, itertools.product(spec.grid["schedule.name"], spec.grid["parallel.microbatches"]),
                              strict=True):
        assert (row["schedule.name"], int(row["parallel.microbatches"])) == (name, m)
        if name in ("gpipe", "1f1b"):
            assert float(row["makespan"]) == pytest.approx((m + p - 1) * (F + B))


def test_sweep_errors_carry_a_tuple_path_under_sweep(tmp_path):
    from pipesim.inputs import InputError

    with pytest.raises(InputError) as exc:
        load_sweep({"base": {"name": "x"}, "grid": {"parallel.microbatches": [8, 8]}}, base_dir=tmp_path)
    assert exc.value.path == ("sweep", "grid", "parallel.microbatches")
    assert str(exc.value).startswith("sweep.grid.parallel.microbatches: 8 appears twice")
    with pytest.raises(InputError) as exc:
        load_sweep({"base": {"name": "x"}, "metrics": ["makespan", "bubble"]}, base_dir=tmp_path)
    assert exc.value.path == ("sweep", "metrics", 1)
