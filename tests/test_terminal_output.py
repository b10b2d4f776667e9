"""Terminal output keeps user text as written: brackets survive rich (no markup), names are
folded at 80 columns instead of cut with an ellipsis, and a closed pipe is not an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipesim.cli import main

ROOT = Path(__file__).resolve().parents[1]
GPU = "gpu[p,m]-in-rack-seven-of-the-east-hall"  # one long token with brackets

GRAPH = {
    "name": "brackets",
    "costs": {"F": "1 ms", "B": "2 ms", "message_bytes": "64 MiB"},
    "topology": {"kind": "graph", "devices": ["a", GPU], "switches": ["sw"],
                 "links": [{"a": "a", "b": "sw", "preset": "eth10"}, {"a": GPU, "b": "sw", "preset": "eth10"}]},
    "parallel": {"pp": 2, "microbatches": 2},
    "schedule": "1f1b",
    "outputs": {"gantt": False},
}


def cell(text: str, label: str) -> str:
    """The value cell of the row labelled ``label`` in a two-column table, its folded lines
    joined again."""
    parts, inside = [], False
    for line in text.splitlines():
        cols = line.split("│")
        if len(cols) != 4:
            continue
        if cols[1].strip():
            inside = cols[1].strip() == label
        if inside:
            parts.append(cols[2].strip())
    return "".join(parts)


def test_run_summary_keeps_brackets_and_whole_link_names(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(GRAPH), encoding="utf-8")
    out_dir = tmp_path / "out[1]"
    assert main(["run", str(path), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines() if line[:1] in "┌│├└") <= 80  # paths stay unwrapped
    assert "…" not in out
    assert cell(out, "busiest link").startswith(f"sw->{GPU}:")  # folded onto more lines, but whole
    assert f"wrote {out_dir / 'metrics.json'}" in out


def test_table_from_csv_prints_a_bracketed_file_name(tmp_path, capsys):
    path = tmp_path / "order[v2].csv"
    path.write_text("0F0,0B0\n1F0,1B0\n", encoding="utf-8")
    assert main(["table", "--from-csv", str(path)]) == 0
    assert capsys.readouterr().out.startswith("order[v2]: p=2, m=1, 2 stages")


def test_sweep_table_shows_bracketed_values_and_failures(tmp_path, capsys):
    base = {k: v for k, v in GRAPH.items() if k != "topology"}
    sweep = {"base": base, "level": "table", "grid": {"description": ["[p, m] first", "second"],
                                                       "schedule.name": ["1f1b", "nosuch"]}}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    assert main(["sweep", str(path), "--executor", "serial", "--no-progress", "--out", str(tmp_path / "o")]) == 1
    captured = capsys.readouterr()
    assert "[p, m] first" in captured.out
    assert "unknown schedule 'nosuch'" in captured.out
    assert captured.err.startswith("pipesim sweep: error: 2 of 4 runs failed")


def test_table_output_into_a_closed_pipe():
    proc = subprocess.run(f"{sys.executable} -m pipesim table 1f1b -p 8 -m 64 | head -1", shell=True,
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.stdout.startswith("1f1b: p=8, m=64") and proc.stderr == ""


@pytest.mark.parametrize(("value", "text"), [(48.4321, "48.43"), (99190.4, "99,190"), (1234567.0, "1,234,567"),
                                             (0.5, "0.5"), (999.94, "999.9")])
def test_throughput_reads_without_exponents(value: float, text: str) -> None:
    from pipesim.cli.run_cmd import per_second, summary_rows

    assert per_second(value) == text
    rows = dict(summary_rows({"makespan": 1.0, "samples_per_s": 2.0, "tokens_per_s": value,
                              "bubble_ratio": 0.1, "span_bubble_ratio": 0.1, "peak_activations": [1]}))
    assert rows["throughput"] == f"2 samples/s, {text} tokens/s" and "e+" not in rows["throughput"]
