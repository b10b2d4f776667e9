"""Smoke test of scenarios/studies/hanayo_bandwidth.py: runs --quick and checks message counts
(Hanayo sends 2W times 1F1B's), the interleaved closed form at the table level and that the
table level does not depend on bandwidth."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from studyrun import run_study

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scenarios" / "studies" / "hanayo_bandwidth.py"
P, M = 8, 8


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hanayo_bandwidth")
    run_study(SCRIPT, path)
    return path


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "table.csv") as fh:
        return list(csv.DictReader(fh))


def test_outputs_exist(out: Path) -> None:
    for name in ("table.csv", "table.md", "FINDINGS.md", "speedup_vs_bandwidth.png", "speedup_vs_bandwidth.svg"):
        assert (out / name).stat().st_size > 0
    rows = _rows(out)
    # quick grid: 5 schedules x 4 bandwidths at m = p
    assert len(rows) == 20
    assert {"speedup_vs_1f1b", "table_speedup_vs_1f1b", "bandwidth_gbps", "messages"} <= set(rows[0])


def test_message_counts(out: Path) -> None:
    rows = _rows(out)
    msgs = {r["schedule"]: int(r["messages"]) for r in rows}
    assert msgs["1f1b"] == 2 * (P - 1) * M
    # Hanayo: 2W chunks per device in a zig-zag, turns are local: 2W(p-1) crossings each way
    assert msgs["hanayo-w1"] == 2 * msgs["1f1b"]
    assert msgs["hanayo-w2"] == 4 * msgs["1f1b"]
    # interleaved v chunks in a loop: v*p - 1 crossings each way
    assert msgs["interleaved-v2"] == 2 * (2 * P - 1) * M
    assert msgs["interleaved-v4"] == 2 * (4 * P - 1) * M


def test_table_level(out: Path) -> None:
    rows = _rows(out)
    for r in rows:
        if r["schedule"] == "1f1b":
            assert float(r["speedup_vs_1f1b"]) == pytest.approx(1.0, rel=1e-12)
            assert float(r["table_speedup_vs_1f1b"]) == pytest.approx(1.0, rel=1e-12)
        assert float(r["sim_ms"]) >= float(r["table_ms"]) * (1 - 1e-12)
    # interleaved 1F1B with v chunks (F, B split evenly): makespan m(F+B) + (p-1)(F+B)/v vs 1F1B (m+p-1)(F+B)
    for v in (2, 4):
        r = next(r for r in rows if r["schedule"] == f"interleaved-v{v}")
        assert float(r["table_speedup_vs_1f1b"]) == pytest.approx((M + P - 1) / (M + (P - 1) / v), rel=1e-9)
    # the table level ignores the network; the simulation slows down as links slow down
    for sched in {r["schedule"] for r in rows}:
        pts = sorted((r for r in rows if r["schedule"] == sched), key=lambda r: -float(r["bandwidth_gbps"]))
        assert len({r["table_ms"] for r in pts}) == 1
        times = [float(r["sim_ms"]) for r in pts]
        assert times == sorted(times)


def test_speedups_are_ratios_of_the_rows_and_delays_only_add(out: Path) -> None:
    rows = _rows(out)
    base = {r["bandwidth_gbps"]: r for r in rows if r["schedule"] == "1f1b"}
    for r in rows:
        ref = base[r["bandwidth_gbps"]]
        assert float(r["speedup_vs_1f1b"]) == pytest.approx(float(ref["sim_ms"]) / float(r["sim_ms"]), rel=1e-9)
        assert float(r["table_speedup_vs_1f1b"]) == pytest.approx(float(ref["table_ms"]) / float(r["table_ms"]),
                                                                  rel=1e-9)
        assert float(r["delay_speedup_vs_1f1b"]) == pytest.approx(
            float(ref["delay_table_ms"]) / float(r["delay_table_ms"]), rel=1e-9)
        # a fixed delay per message can only lengthen the free-network table
        assert float(r["delay_table_ms"]) >= float(r["table_ms"])
        assert float(r["slowdown"]) == pytest.approx(float(r["sim_ms"]) / float(r["table_ms"]), rel=1e-12)
        # Hanayo moves 2W times 1F1B's bytes
        if r["schedule"].startswith("hanayo-w"):
            w = int(r["schedule"][-1])
            assert float(r["bytes_moved_gb"]) == pytest.approx(2 * w * float(ref["bytes_moved_gb"]), rel=1e-9)


def test_slow_links_reverse_the_free_network_order(out: Path) -> None:
    rows = _rows(out)
    slowest = min(float(r["bandwidth_gbps"]) for r in rows)
    fastest = max(float(r["bandwidth_gbps"]) for r in rows)
    at = {(r["schedule"], float(r["bandwidth_gbps"])): float(r["speedup_vs_1f1b"]) for r in rows}
    # ahead of 1F1B on the fastest link, behind on the slowest, W = 2 further behind than W = 1
    assert at[("hanayo-w1", fastest)] > 1.0 and at[("hanayo-w2", fastest)] > 1.0
    assert at[("hanayo-w2", slowest)] < at[("hanayo-w1", slowest)] < 1.0
