"""Work budgets: runs are estimated before they start, refused over budget in one line that
names the knob, and the knobs raise the budget. Estimates are checked against counts made by
hand from the schedule's definition, not against the estimator."""

from __future__ import annotations

import itertools

import pytest
import yaml

from pipesim.budget import BYTES_PER_EVENT, Budget, BudgetError, chunks_per_message
from pipesim.cli import main
from pipesim.schedule import Registry
from pipesim.schedule.action import compute_parts
from pipesim.schedule.registry import least_actions

TINY = {
    "name": "tiny",
    "costs": {"F": "1 ms", "B": "2 ms", "message_bytes": "8 MiB"},
    "topology": {"kind": "single_node", "gpus": 2, "fabric": "nvswitch", "link": "nvlink4"},
    "parallel": {"pp": 2, "microbatches": 2},
    "schedule": "1f1b",
    "network": {"chunk_bytes": None},
    "outputs": {"gantt": False},
}
# 1F1B with p = 2, m = 2: a forward and a backward per stage and microbatch (2·2·2 = 8 actions)
# and one activation and one gradient message per microbatch across the one boundary (4).
ACTIONS, MESSAGES = 8, 4


def run(tmp_path, capsys, *extra: str, doc=TINY) -> tuple[int, str]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code = main(["run", str(path), "--no-files", "--json", *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("limit", "ok"), [(ACTIONS + MESSAGES - 1, False), (ACTIONS + MESSAGES, True)])
def test_the_simulation_estimate_counts_actions_and_messages(tmp_path, capsys, limit, ok):
    code, err = run(tmp_path, capsys, "--max-events", str(limit))
    if ok:
        assert code == 0
    else:
        assert code == 2
        assert f"about {ACTIONS + MESSAGES} events, over the budget of {limit}" in err
        assert "--max-events" in err and err.count("\n") == 1


def test_chunks_count_once_each(tmp_path, capsys):
    doc = {**TINY, "network": {"chunk_bytes": "1 MiB"}}  # 8 MiB messages: 8 chunks each
    events = ACTIONS + MESSAGES * 8
    assert run(tmp_path, capsys, "--max-events", str(events - 1), doc=doc)[0] == 2
    assert run(tmp_path, capsys, "--max-events", str(events), doc=doc)[0] == 0


def test_memory_budget_names_its_knob(tmp_path, capsys):
    need = (ACTIONS + MESSAGES) * BYTES_PER_EVENT
    code, err = run(tmp_path, capsys, "--max-memory", f"{need - 1} B")
    assert code == 2 and "--max-memory SIZE" in err
    assert run(tmp_path, capsys, "--max-memory", f"{need} B")[0] == 0


def test_huge_microbatch_count_is_refused_before_generating(tmp_path, capsys):
    code, err = run(tmp_path, capsys, "--set", "parallel.microbatches=1000000000")
    assert code == 2
    assert "schedule '1f1b' with p=2, m=1000000000: about 4,000,000,000 events, over the budget" in err


def test_scenario_limits_section_is_the_same_knob(tmp_path, capsys):
    doc = {**TINY, "limits": {"max_events": ACTIONS + MESSAGES - 1}}
    assert run(tmp_path, capsys, doc=doc)[0] == 2
    assert run(tmp_path, capsys, "--max-events", str(ACTIONS + MESSAGES), doc=doc)[0] == 0


def test_bad_budget_values_are_one_line_errors(tmp_path, capsys):
    code, err = run(tmp_path, capsys, "--max-events", "lots")
    assert code == 2 and "scenario.limits.max_events: 'lots' is not a whole number" in err
    code, err = run(tmp_path, capsys, "--max-memory", "-1 GB")
    assert code == 2 and "scenario.limits.max_memory: '-1 GB' is negative" in err


def test_table_and_validate_take_max_events(capsys):
    assert main(["table", "1f1b", "-p", "4", "-m", "8", "--max-events", "63"]) == 2
    assert "p=4, m=8: about 64 events, over the budget of 63" in capsys.readouterr().err
    assert main(["validate", "1f1b", "-p", "4", "-m", "8", "--max-events", "64"]) == 0


def _compute_actions(schedule) -> int:
    return sum(len(compute_parts(a)) for row in schedule.actions for a in row if compute_parts(a))


GRID = [(name, p, m, opts) for name, opts in [
    ("gpipe", {}), ("1f1b", {}), ("interleaved", {"v": 2}), ("interleaved", {"v": 3}), ("zb-h1", {}), ("zb-v", {}),
    ("chimera", {}), ("hanayo", {"waves": 2}), ("dualpipe", {}), ("pipedream", {"iterations": 2}),
] for p, m in itertools.product((2, 4), (4, 8))]


@pytest.mark.parametrize(("name", "p", "m", "opts"), GRID)
def test_least_actions_is_a_lower_bound(name, p, m, opts):
    try:
        schedule = Registry.default().get(name)(p, m, **opts)
    except ValueError:
        pytest.skip(f"{name} does not take p={p}, m={m}")
    assert least_actions(p, m, opts) <= _compute_actions(schedule)


def test_flows_budget(tmp_path, capsys):
    flows = {"topology": {"kind": "graph", "devices": ["a", "b"], "links": [{"a": "a", "b": "b", "preset": "eth10"}]},
             "chunk_bytes": "1 B", "flows": [{"src": "a", "dst": "b", "bytes": "1 GB"}]}
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(flows), encoding="utf-8")
    assert main(["net", str(path)]) == 2
    assert "about 1,000,000,000 events" in capsys.readouterr().err


def test_sweep_runs_budget(tmp_path, capsys):
    sweep = {"base": TINY, "level": "table", "grid": {"parallel.microbatches": [2, 4, 6]}, "max_runs": 2}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    assert main(["sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "o")]) == 2
    assert "sweep.grid: 3 runs, over the budget of 2; raise it with max_runs: N" in capsys.readouterr().err


def test_chunks_per_message():
    assert chunks_per_message(8.0, None) == 1 and chunks_per_message(8.0, 3.0) == 3
    assert chunks_per_message(2.0, 3.0) == 1 and chunks_per_message(8.0, float("inf")) == 1


def test_budget_object():
    Budget(max_events=10).check(10, "x")
    with pytest.raises(BudgetError, match="x: about 11 events, over the budget of 10"):
        Budget(max_events=10).check(11, "x")


def test_auto_chunking_counts_one_transfer_per_message(tmp_path, capsys):
    # ``auto`` is simulated as whole-message flows, so it must not be estimated as 4 MiB chunks.
    doc = {**TINY, "network": {"chunk_bytes": "auto"}, "costs": {**TINY["costs"], "message_bytes": "64 MiB"}}
    assert run(tmp_path, capsys, "--max-events", str(ACTIONS + MESSAGES), doc=doc)[0] == 0
