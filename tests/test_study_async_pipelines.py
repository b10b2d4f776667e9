"""Smoke test of scenarios/studies/async_pipelines.py (--quick, p = 4): files, rows, and the
numbers the theory fixes -- PipeDream's S−s versions and S−s−1 delay, 2BW's 2 and 1, the memory
of stashed versions, and one streamed iteration being exactly 1F1B."""

from __future__ import annotations

from pathlib import Path

import pytest
from studyrun import read_rows, run_study

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "scenarios" / "studies" / "async_pipelines.py"
P = 4  # the quick grid


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("async_pipelines")
    run_study(SCRIPT, path)
    return path



def test_files(out: Path) -> None:
    for name in ("table.csv", "table.md", "staleness.csv", "iterations_sweep.csv", "FINDINGS.md"):
        assert (out / name).stat().st_size > 0
    for stem in ("iteration_time_and_memory", "staleness", "iteration_time_vs_iterations"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000


def test_main_rows(out: Path) -> None:
    rows = read_rows(out / "table.csv")
    assert {(r["schedule"], r["p"], r["level"]) for r in rows} == {
        (s, str(P), lvl) for s in ("1f1b", "pipedream", "pipedream-2bw") for lvl in ("sim", "table")}
    sim = {r["schedule"]: r for r in rows if r["level"] == "sim"}
    # same action order, so the weight-update policy cannot change the timing
    assert float(sim["pipedream"]["iteration_time_s"]) == pytest.approx(float(sim["pipedream-2bw"]["iteration_time_s"]))
    # no flush between the streamed iterations: strictly faster than 1F1B per iteration
    assert float(sim["pipedream"]["iteration_time_s"]) < float(sim["1f1b"]["iteration_time_s"])
    # memory: same activations in flight (1F1B order), plus (versions - 1) stashed weight copies on device 0
    w = float(sim["1f1b"]["weights_current_GB"])
    base = float(sim["1f1b"]["peak_memory_GB"])
    assert float(sim["pipedream"]["peak_memory_GB"]) - base == pytest.approx((P - 1) * w, rel=1e-6)
    assert float(sim["pipedream-2bw"]["peak_memory_GB"]) - base == pytest.approx(w, rel=1e-6)
    assert {r["peak_activations_dev0"] for r in sim.values()} == {str(P)}  # min(p, m) on stage 0


def test_staleness_matches_theory(out: Path) -> None:
    rows = read_rows(out / "staleness.csv")
    by = {(r["schedule"], int(r["stage"])): r for r in rows}
    for s in range(P):
        pd = by[("pipedream", s)]
        assert int(pd["versions"]) == P - s
        assert int(pd["max_delay"]) == P - s - 1
        bw = by[("pipedream-2bw", s)]
        assert (int(bw["versions"]), int(bw["max_delay"])) == (2, 1)
        sync = by[("1f1b", s)]
        assert (int(sync["versions"]), int(sync["max_delay"])) == (1, 0)


def test_one_streamed_iteration_is_1f1b(out: Path) -> None:
    sweep = {int(r["iterations"]): float(r["iteration_time_s"]) for r in read_rows(out / "iterations_sweep.csv")}
    flush = next(float(r["iteration_time_s"]) for r in read_rows(out / "table.csv")
                 if r["schedule"] == "1f1b" and r["level"] == "sim")
    assert sweep[1] == pytest.approx(flush, rel=1e-12)
    assert sweep[4] < sweep[1]


def test_memory_components_add_up_to_the_peak(out: Path) -> None:
    for r in (r for r in read_rows(out / "table.csv") if r["level"] == "sim"):
        parts = sum(float(r[k]) for k in ("weights_current_GB", "weights_stashed_GB", "grad_opt_GB", "activations_GB"))
        assert parts == pytest.approx(float(r["peak_memory_GB"]), rel=1e-9)
        assert float(r["weights_stashed_GB"]) == pytest.approx(
            (float(r["weight_versions_dev0"]) - 1) * float(r["weights_current_GB"]), rel=1e-9)
        assert float(r["activations_GB"]) > 0
