"""Smoke test of scenarios/studies/search_network.py (--quick): files, and the claims its
findings make, checked on its own table."""

from __future__ import annotations

from pathlib import Path

import pytest
from studyrun import read_rows, run_study

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "scenarios" / "studies" / "search_network.py"


def test_quick_run(tmp_path: Path) -> None:
    run_study(SCRIPT, tmp_path)
    for name in ("table.csv", "table.md", "FINDINGS.md", "search_network.png", "search_network.svg"):
        assert (tmp_path / name).is_file(), name
    rows = read_rows(tmp_path / "table.csv")
    assert [(r["case"], r["memory_limit"]) for r in rows] == [("wan", "none"), ("wan", "1p")]
    for r in rows:
        free, net = float(r["free_on_network_s"]), float(r["net_on_network_s"])
        # The network-aware choice is never slower on the network than the free-network choice.
        assert net <= free * (1 + 1e-12)
        assert float(r["gain_pct"]) == pytest.approx(100 * (1 - net / free), abs=1e-9)
        # A free network is a lower bound on any network (table level <= simulation).
        assert float(r["free_table_s"]) <= free * (1 + 1e-12)
        # Same order means the same time; a different order is there only because it is faster.
        if r["same_order"] == "True":
            assert net == free
        else:
            assert net < free
    # The must-show: on the WAN without a memory limit the order found with the network differs and is faster.
    wan = rows[0]
    assert wan["same_order"] == "False" and float(wan["net_on_network_s"]) < float(wan["free_on_network_s"])
