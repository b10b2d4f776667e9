"""The README's Python API example runs as written (from the repository root)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    section = section[: section.index("\n## ", 3)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_python_api_example_runs(tmp_path, capsys):
    blocks = _python_blocks()
    assert len(blocks) == 1
    # Run from the repository root (the example names scenarios/...), writing under tmp_path.
    code = blocks[0].replace('"out/', f'"{tmp_path.as_posix()}/')
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and printed[0].endswith("%") and "simulated" in printed[2]
    assert (tmp_path / "zb-h1.png").stat().st_size > 0
    # The simulated run on 10 GbE is slower than the table level's free network.
    table_ms, sim_ms = (float(x) for x in re.findall(r"([\d.]+) ms", printed[2]))
    assert sim_ms > table_ms


def test_cli_tour_table_output_is_what_the_command_prints(capsys):
    from pipesim.cli import main

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("$ pipesim table 1f1b -p 4 -m 8\n"):]
    shown = block.split("\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert main(["table", "1f1b", "-p", "4", "-m", "8"]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.rstrip("\n").splitlines()]
    assert printed == shown
