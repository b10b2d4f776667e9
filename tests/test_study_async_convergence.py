"""Smoke test of scenarios/studies/async_convergence.py (--quick: p = 2, 4; two links; a tiny
char LM): the files, the rows, and the facts the model fixes -- synchronous schedules train
identically, 2BW's penalty is the same at every depth, time to target is iterations x time."""

from __future__ import annotations

from pathlib import Path

import pytest
from studyrun import read_rows, run_study

SCRIPT = Path(__file__).resolve().parents[1] / "scenarios" / "studies" / "async_convergence.py"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("async_convergence")
    run_study(SCRIPT, path)
    return path



def test_files(out: Path) -> None:
    for name in ("table.csv", "table.md", "staleness_penalty.csv", "staleness_penalty.md", "FINDINGS.md"):
        assert (out / name).stat().st_size > 0
    for stem in ("time_to_target", "staleness_penalty", "loss_vs_time"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000


def test_rows(out: Path) -> None:
    rows = read_rows(out / "table.csv")
    schedules = {"1f1b", "zb-h1", "pipedream", "pipedream-2bw", "pipedream-2bw+predict"}
    assert {(r["link"], r["p"], r["schedule"]) for r in rows} == {
        (link, p, s) for link in ("ib-hdr", "eth10") for p in ("2", "4") for s in schedules}
    for r in rows:
        assert float(r["time_to_target_s"]) == pytest.approx(float(r["iterations"]) * float(r["time_per_iteration_s"]))
    by = {(r["link"], r["p"], r["schedule"]): r for r in rows}
    for link in ("ib-hdr", "eth10"):
        for p in ("2", "4"):
            assert by[(link, p, "1f1b")]["iterations"] == by[(link, p, "zb-h1")]["iterations"]  # both delay 0
            # no flush: the streamed schedules' iterations are shorter than 1F1B's
            assert float(by[(link, p, "pipedream")]["time_per_iteration_s"]) < float(by[(link, p, "1f1b")]["time_per_iteration_s"])
        # a slower network makes every iteration longer
        assert float(by[("eth10", "4", "1f1b")]["time_per_iteration_s"]) > float(by[("ib-hdr", "4", "1f1b")]["time_per_iteration_s"])


def test_2bw_penalty_is_the_same_at_every_depth(out: Path) -> None:
    pen = read_rows(out / "staleness_penalty.csv")
    bw = {r["p"]: r["penalty"] for r in pen if r["family"] == "pipedream-2bw"}
    assert set(bw) == {"2", "4"} and len(set(bw.values())) == 1
    assert {r["family"] for r in pen} == {"pipedream", "pipedream-2bw", "pipedream-2bw+predict", "pipedream-2bw+feedback"}
