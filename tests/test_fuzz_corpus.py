"""Every malformed input in ``tests/fuzz_corpus.py`` ends in a result or pipesim's own one-line
error: no traceback, no hang, no memory blow-up, and nothing that must be refused is accepted.

Most cases run through ``cli.main`` in this process (a subprocess each would cost a second of
interpreter start-up); a small sample runs as real subprocesses under an address-space limit.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_corpus import TINY, Case, all_cases

from pipesim.cli import main

ROOT = Path(__file__).resolve().parents[1]
CASES = all_cases()
SECONDS_PER_CASE = 20  # far above what any refusal needs; a hang shows as this timeout
SUBPROCESS_MEMORY = 2 << 30  # address space of a sampled subprocess
RSS_CEILING_KB = 3 << 20  # this worker's peak resident set (ru_maxrss is in KiB on Linux)


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def fire(*_: Any) -> None:
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@functools.cache
def valid_trace() -> dict[str, Any]:
    """A real trace.json of the tiny scenario, which the trace cases mutate."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(TINY), encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", str(path), "--out", tmp, "--trace"]) == 0
        return json.loads((Path(tmp) / "trace.json").read_text(encoding="utf-8"))


def materialise(case: Case, folder: Path) -> list[str]:
    for name, content in case.files:
        data = content(valid_trace()) if callable(content) else content
        target = folder / name
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data, encoding="utf-8", errors="surrogateescape")
    return [arg.replace("{d}", str(folder)) for arg in case.argv]


def check_outcome(case: Case, code: int, err: str) -> None:
    """A result, or pipesim's own error: exit status 1 or 2 and a first line ``pipesim CMD:
    error: ...`` (schedule errors add the grid with the bad cell marked below it; argparse
    prints its usage line first)."""
    assert "Traceback" not in err, err
    if code == 0:
        assert not case.must_fail, f"accepted, but this input must be refused: {case.argv}"
        return
    assert code in (1, 2), f"exit status {code}: {err}"
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("usage:")
             and not line.startswith(" " * 15)]  # argparse's wrapped usage lines
    assert lines, "failed without saying why"
    head = lines[0]
    assert head.startswith(f"pipesim {case.argv[0]}: error: ") or head.startswith("pipesim: error: "), err
    assert len(head) < 1000, "an error line no one can read"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_in_process(case: Case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = materialise(case, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline(SECONDS_PER_CASE):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            code = int(exc.code or 0)
    check_outcome(case, code, err.getvalue())
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < RSS_CEILING_KB


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_MEMORY, SUBPROCESS_MEMORY))


SAMPLE = [c for c in CASES if c.subprocess]


@pytest.mark.parametrize("case", SAMPLE, ids=[c.id for c in SAMPLE])
def test_malformed_input_in_a_subprocess_under_a_memory_limit(case: Case, tmp_path):
    argv = materialise(case, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pipesim", *argv], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=60, preexec_fn=_limit_memory, check=False)
    check_outcome(case, proc.returncode, proc.stderr)


def test_the_corpus_covers_every_format_and_command():
    assert len(CASES) >= 300
    prefixes = {c.id.split("-")[0] for c in CASES}
    assert {"scenario", "model", "set", "flows", "sweep", "csv", "trace", "table", "validate", "workload",
            "converge", "compare", "levels", "cli"} <= prefixes
    commands = {c.argv[0] for c in CASES}
    assert {"run", "levels", "compare", "sweep", "net", "gantt", "workload", "profile", "converge", "table",
            "validate"} <= commands
