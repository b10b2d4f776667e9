"""Rough edges a new user hit on the command line, each pinned by a test that fails without its fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipesim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_schedules_reads_at_80_columns_without_losing_brackets(capsys):
    assert main(["schedules"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "in [p, m]" in out  # rich used to take "[p, m]" for markup and drop it
    assert "reduce_grad=VALUE (default True)" in out  # option names are never truncated


def test_a_closed_pipe_is_not_an_error():
    proc = subprocess.run(f"{sys.executable} -m pipesim schedules | head -1", shell=True, capture_output=True,
                          text=True, cwd=ROOT, check=False)
    assert proc.stdout.strip() == "gpipe" and proc.stderr == ""


def test_costs_accept_units_and_match_plain_seconds(capsys):
    assert main(["table", "1f1b", "--costs", "F=1 ms,B=2 ms", "--format", "json"]) == 0
    with_units = json.loads(capsys.readouterr().out)
    assert main(["table", "1f1b", "--costs", "F=0.001,B=0.002", "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert with_units["metrics"]["makespan"] == plain["metrics"]["makespan"] == pytest.approx(0.033)


@pytest.mark.parametrize(("argv", "needle"), [
    (["table", "1f1b", "--split-backward", "I=1,W=1"], "--split-backward: schedule '1f1b' runs no split backward"),
    (["table", "1f1b", "--delay", "inf"], "--delay: 'inf' must be a finite duration >= 0"),
    (["table", "1f1b", "--costs", "F=fast"], "--costs: 'fast' is not a duration"),
])
def test_bad_flags_are_one_line_errors(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_run_writes_a_trace_on_request_and_records_the_version(tmp_path, capsys):
    from pipesim import __version__

    out = tmp_path / "run"
    assert main(["run", str(ROOT / "scenarios" / "paper_costs.yaml"), "--out", str(out), "--trace"]) == 0
    assert (out / "trace.json").stat().st_size > 0
    assert json.loads((out / "metrics.json").read_text())["pipesim_version"] == __version__
    assert main(["run", str(ROOT / "scenarios" / "paper_costs.yaml"), "--out", str(tmp_path / "b"), "--no-trace"]) == 0
    assert not (tmp_path / "b" / "trace.json").exists()


def test_python_dash_m_pipesim():
    proc = subprocess.run([sys.executable, "-m", "pipesim", "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("pipesim ")


@pytest.mark.parametrize(("argv", "needle"), [
    (["table", "--from-csv", "no/such.csv"], "--from-csv: file 'no/such.csv' not found"),
    (["table", "1f1b", "--from-csv", "scenarios/schedules/example_1f1b.csv"], "not both"),
])
def test_csv_file_errors_are_file_errors(capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(ROOT)
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_table_from_csv_needs_no_schedule_name(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["table", "--from-csv", "scenarios/schedules/example_1f1b.csv", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["makespan"] == 33.0


@pytest.mark.parametrize("name", ["../a/escaped", "..", "a/b", "c:\\\\d", "' x'"])
def test_a_scenario_name_cannot_leave_the_output_folder(capsys, name):
    assert main(["run", str(ROOT / "scenarios" / "paper_costs.yaml"), "--set", f"name={name}", "--no-files"]) == 2
    assert "cannot name an output folder" in capsys.readouterr().err


@pytest.mark.parametrize(("doc", "needle"), [
    ('{"traceEvents": [1, 2]}', "traceEvents[0]: it is int"),
    ('{"traceEvents": [{"ph": "X", "args": [1]}]}', "traceEvents[0]: its args are list"),
    ('{"traceEvents": [{"ph": "X", "ts": "abc", "args": {}}]}', "not a trace pipesim can read"),
    ('[1, 2]', "expected a JSON object"),
])
def test_gantt_refuses_what_is_not_a_trace_in_one_line(tmp_path, capsys, doc, needle):
    path = tmp_path / "t.json"
    path.write_text(doc, encoding="utf-8")
    assert main(["gantt", str(path), "-o", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
