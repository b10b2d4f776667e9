"""Progress on long simulations: the hook only reads, so a run reports the same with or without
it, and the terminal line shows only after its delay and is erased at the end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import pipesim.sim.engine as engine
from pipesim.cli.run_cmd import ProgressLine
from pipesim.export import to_chrome_trace
from pipesim.runner import run_built
from pipesim.scenario import build, load_scenario

QUICK = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"


@pytest.mark.parametrize("overrides", [[], ["network.policy=fifo"], ["network.chunk_bytes=1MiB"]])
def test_progress_calls_change_nothing(monkeypatch: pytest.MonkeyPatch, overrides: list[str]) -> None:
    built = build(load_scenario(QUICK, overrides))
    plain = run_built(built, "sim")
    monkeypatch.setattr(engine, "PROGRESS_STEPS", 97)  # many calls, at odd points of the run
    seen: list[tuple[int, int, float]] = []
    watched = run_built(built, "sim", progress=lambda *a: seen.append(a))
    assert json.dumps(watched.metrics, sort_keys=True, default=str) == json.dumps(plain.metrics, sort_keys=True, default=str)
    assert json.dumps(to_chrome_trace(watched.trace)) == json.dumps(to_chrome_trace(plain.trace))
    total = built.schedule.num_actions
    assert len(seen) > 10 and all(t == total for _, t, _ in seen)
    done = [d for d, _, _ in seen]
    times = [now for _, _, now in seen]
    assert done == sorted(done) and times == sorted(times) and 0 < done[-1] <= total
    assert times[-1] <= watched.metrics["makespan"]


def test_progress_line_waits_then_erases() -> None:
    now = [0.0]
    out = io.StringIO()
    line = ProgressLine(out, after=2.0, clock=lambda: now[0])
    line(10, 100, 0.5)  # before the delay: nothing
    assert out.getvalue() == ""
    now[0] = 3.0
    line(50, 100, 1.5)
    text = out.getvalue()
    assert text.startswith("\r") and "50.0% of 100 actions" in text and "3 s elapsed" in text
    line.close()
    assert out.getvalue().endswith("\r\033[K")


def test_short_run_prints_nothing() -> None:
    out = io.StringIO()
    line = ProgressLine(out, after=2.0, clock=lambda: 0.0)
    line(1, 2, 0.1)
    line.close()
    assert out.getvalue() == ""
