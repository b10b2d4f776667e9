"""Smoke test of scenarios/studies/gpipe_vs_1f1b.py: runs --quick and checks its numbers against
theory (equal free-network makespans, (m+p-1)(F+B) scaling, activation peaks, GPipe's fixed
latency cost 2(p-1)d)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from studyrun import run_study

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scenarios" / "studies" / "gpipe_vs_1f1b.py"
P = 8
NETS, MS = ("nvlink", "eth10"), (4, 16)  # the quick grid


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("gpipe_vs_1f1b")
    run_study(SCRIPT, out)
    with open(out / "table.csv") as fh:
        return out, list(csv.DictReader(fh))


def _row(rows: list[dict[str, str]], net: str, sched: str, m: int, policy: str = "fair") -> dict[str, str]:
    found = [r for r in rows if r["network"] == net and r["schedule"] == sched and int(r["m"]) == m
             and r["policy"] == policy]
    assert len(found) == 1, (net, sched, m, policy)
    return found[0]


def test_outputs_exist(rows: tuple[Path, list[dict[str, str]]]) -> None:
    out, table = rows
    for name in ("table.csv", "table.md", "FINDINGS.md"):
        assert (out / name).stat().st_size > 0
    for stem in ("makespan_vs_m", "slowdown_vs_m", "activation_peak_vs_m"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0
    # quick grid: 2 networks x 2 schedules x m in {4, 16} (fair), plus the fifo side check on 10 GbE
    assert len(table) == 12
    assert {"sim_ms", "table_ms", "delay_table_ms", "peak_inflight", "slowdown"} <= set(table[0])


def test_free_network_gpipe_equals_1f1b_and_scales_as_closed_form(rows: tuple[Path, list[dict[str, str]]]) -> None:
    _, table = rows
    for net in ("nvlink", "eth10"):
        for m in (4, 16):
            g, o = _row(table, net, "gpipe", m), _row(table, net, "1f1b", m)
            assert float(g["table_ms"]) == pytest.approx(float(o["table_ms"]), rel=1e-12)
        # (m + p - 1)(F + B): m = 4 -> 11 slots, m = 16 -> 23 slots of F + B
        ratio = float(_row(table, net, "gpipe", 16)["table_ms"]) / float(_row(table, net, "gpipe", 4)["table_ms"])
        assert ratio == pytest.approx(23 / 11, rel=1e-12)


def test_activation_peaks(rows: tuple[Path, list[dict[str, str]]]) -> None:
    _, table = rows
    for m in (4, 16):
        assert int(_row(table, "nvlink", "gpipe", m)["peak_inflight"]) == m
        assert int(_row(table, "nvlink", "1f1b", m)["peak_inflight"]) == min(P, m)


def test_message_delay_and_gpipe_latency_cost(rows: tuple[Path, list[dict[str, str]]]) -> None:
    _, table = rows
    # 10 GbE, one GPU per node: 8 MiB / 1.25 GB/s plus the 25 us preset latency (two half hops)
    d = 8 * 2**20 / 1.25e9 + 25e-6
    for m in (4, 16):
        g = _row(table, "eth10", "gpipe", m)
        assert float(g["message_delay_ms"]) == pytest.approx(1e3 * d, rel=1e-9)
        # GPipe with a fixed delay d pays it once per boundary on the way down and once back up
        assert float(g["latency_cost_ms"]) == pytest.approx(1e3 * 2 * (P - 1) * d, rel=1e-9)
    for r in table:
        assert float(r["sim_ms"]) >= float(r["table_ms"]) * (1 - 1e-12)


def test_one_f_one_b_never_stashes_more_than_gpipe(rows: tuple[Path, list[dict[str, str]]]) -> None:
    _, table = rows
    for net in NETS:
        for m in MS:
            g, o = _row(table, net, "gpipe", m), _row(table, net, "1f1b", m)
            assert int(o["peak_inflight"]) <= int(g["peak_inflight"])
            assert float(o["peak_memory_bytes"]) <= float(g["peak_memory_bytes"])
    # both stash all m microbatches while m <= p; beyond, GPipe keeps m and 1F1B p
    assert _row(table, "nvlink", "gpipe", 4)["peak_memory_bytes"] == _row(table, "nvlink", "1f1b", 4)["peak_memory_bytes"]
    assert float(_row(table, "nvlink", "gpipe", 16)["peak_memory_bytes"]) > float(
        _row(table, "nvlink", "1f1b", 16)["peak_memory_bytes"])


def test_costs_add_up_and_levels_are_ordered(rows: tuple[Path, list[dict[str, str]]]) -> None:
    _, table = rows
    for r in table:
        free, delayed, sim = float(r["table_ms"]), float(r["delay_table_ms"]), float(r["sim_ms"])
        assert free == pytest.approx(float(r["closed_form_ms"]), rel=1e-9)
        assert delayed >= free
        # sim - table splits into latency (delayed - table) and contention (sim - delayed)
        assert float(r["latency_cost_ms"]) == pytest.approx(delayed - free, abs=1e-6)
        assert float(r["contention_cost_ms"]) == pytest.approx(sim - delayed, abs=1e-6)
        assert float(r["slowdown"]) == pytest.approx(sim / free, rel=1e-12)
        assert r["fits_a100_80gb"] == str(float(r["peak_memory_bytes"]) <= 80e9)
    # a lone 8 MiB message: microseconds on NVLink, milliseconds on 10 GbE
    assert float(_row(table, "nvlink", "gpipe", 4)["message_delay_ms"]) < 0.1 < float(
        _row(table, "eth10", "gpipe", 4)["message_delay_ms"])
    # 1F1B pays a neighbour round trip per microbatch: its latency cost grows with m, GPipe's does not
    assert float(_row(table, "eth10", "1f1b", 16)["latency_cost_ms"]) > float(
        _row(table, "eth10", "1f1b", 4)["latency_cost_ms"])
    # fifo links serve a backlog one whole message at a time, fair ones delay all of it: less contention
    for sched in ("gpipe", "1f1b"):
        for m in MS:
            assert float(_row(table, "eth10", sched, m, "fifo")["contention_cost_ms"]) <= float(
                _row(table, "eth10", sched, m)["contention_cost_ms"])
