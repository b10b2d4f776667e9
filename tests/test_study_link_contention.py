"""Smoke test of scenarios/studies/link_contention.py (--quick): files, rows, and identities that
hold by construction (table level ignores the network; GPipe and 1F1B have equal makespans)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from studyrun import run_study

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "scenarios" / "studies" / "link_contention.py"


def test_quick_run(tmp_path: Path) -> None:
    run_study(SCRIPT, tmp_path)
    for name in ("table.csv", "table.md", "FINDINGS.md", "contention.csv", "flips.csv",
                 "nic.png", "nic.svg", "dp.png", "dp.svg", "spine.png", "spine.svg"):
        assert (tmp_path / name).is_file(), name
    with open(tmp_path / "table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for col in ("sweep", "value", "schedule", "level", "policy", "iteration_time_s", "tokens_per_s_per_gpu",
                "rank", "busiest_link", "busiest_utilisation", "worst_msg_extra_s"):
        assert col in rows[0], col
    schedules = {"1f1b", "gpipe", "interleaved", "chimera"}
    assert {r["schedule"] for r in rows} == schedules
    # Per sweep and schedule: one table-level reference, two fair-sharing points, one FIFO point.
    assert len(rows) == 3 * len(schedules) * 4

    table = [r for r in rows if r["level"] == "table"]
    # GPipe and 1F1B: equal makespans on a free network, hence equal rank
    # (docs/reference.md#exact-checks).
    for sweep in ("nic", "dp", "spine"):
        t = {r["schedule"]: r for r in table if r["sweep"] == sweep}
        assert abs(float(t["gpipe"]["iteration_time_s"]) - float(t["1f1b"]["iteration_time_s"])) < 1e-12
        assert t["gpipe"]["rank"] == t["1f1b"]["rank"]
    # The table level ignores topology and replicas: per-GPU throughput is the same in every sweep.
    for s in schedules:
        vals = {round(float(r["tokens_per_s_per_gpu"]), 6) for r in table if r["schedule"] == s}
        assert len(vals) == 1, (s, vals)
    # Links can only delay: every simulated point is at least as long as its table level.
    ref = {(r["sweep"], r["schedule"]): float(r["iteration_time_s"]) for r in table}
    for r in rows:
        if r["level"] == "sim":
            assert float(r["iteration_time_s"]) >= ref[(r["sweep"], r["schedule"])] * (1 - 1e-9)
    # Fair sharing starts every transfer at once: no queueing delay by construction.
    for r in rows:
        if r["policy"] == "fair":
            assert float(r["max_queueing_delay_s"]) == 0.0
    # Ranks follow throughput within every column (the free network, each fair-sharing point).
    columns: dict[tuple, list[dict[str, str]]] = {}
    for r in rows:
        if r["level"] == "table" or r["policy"] == "fair":
            columns.setdefault((r["sweep"], r["value"], r["level"]), []).append(r)
    for members in columns.values():
        for a in members:
            for b in members:
                if float(a["tokens_per_s_per_gpu"]) > float(b["tokens_per_s_per_gpu"]) * (1 + 1e-9):
                    assert int(a["rank"]) < int(b["rank"])
    # More contention never helps: the most contended point of each sweep is the slowest.
    for sweep in ("nic", "dp", "spine"):
        for s in schedules:
            fair = sorted((int(r["value"]), float(r["tokens_per_s_per_gpu"])) for r in rows
                          if r["sweep"] == sweep and r["schedule"] == s and r["policy"] == "fair")
            assert fair[-1][1] <= fair[0][1]
    # The contention summary: contention only delays a message, and FIFO links queue somewhere.
    with open(tmp_path / "contention.csv", newline="") as fh:
        for c in csv.DictReader(fh):
            assert float(c["worst_msg_extra_s"]) >= 0 and float(c["worst_msg_stretch"]) >= 1
            assert float(c["fifo_queueing_delay_s"]) > 0
    # Every reported flip is a real reversal of the two schedules' throughputs.
    with open(tmp_path / "flips.csv", newline="") as fh:
        for f in csv.DictReader(fh):
            before = [float(x) for x in f["before"].split(" vs ")]
            after = [float(x) for x in f["after"].split(" vs ")]
            assert before[0] < before[1] and after[0] > after[1]
