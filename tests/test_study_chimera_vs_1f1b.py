"""Smoke test of scenarios/studies/chimera_vs_1f1b.py: runs --quick and checks feasibility marks,
traffic volumes against hand counts (pipeline messages, ring all-reduce of each part's replicas)
and the basic level ordering."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from studyrun import run_study

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scenarios" / "studies" / "chimera_vs_1f1b.py"
P = 8
MESSAGE = 2048 * 2048 * 2  # GPT-3 1.3B boundary: tokens x hidden x bf16 bytes


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chimera_vs_1f1b")
    run_study(SCRIPT, path)
    return path


def _rows(out: Path, name: str = "table.csv") -> list[dict[str, str]]:
    with open(out / name) as fh:
        return list(csv.DictReader(fh))


def _row(rows: list[dict[str, str]], net: str, sched: str, m: int) -> dict[str, str]:
    found = [r for r in rows if r["network"] == net and r["schedule"] == sched and int(r["m"]) == m]
    assert len(found) == 1, (net, sched, m)
    return found[0]


def test_outputs_exist(out: Path) -> None:
    for name in ("table.csv", "table.md", "bandwidth.csv", "bandwidth.md", "FINDINGS.md"):
        assert (out / name).stat().st_size > 0
    for stem in ("throughput_vs_m", "slowdown_bars", "throughput_vs_bandwidth"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0
    rows = _rows(out)
    # quick grid: 2 networks x 4 schedule variants x m in {4, 8, 16}
    assert len(rows) == 24
    assert {"samples_per_s", "slowdown", "allreduce_cost_ms", "feasible"} <= set(rows[0])


def test_feasibility(out: Path) -> None:
    rows = _rows(out)
    for net in ("nvlink", "eth10"):
        for m in (4, 8, 16):
            assert _row(rows, net, "1f1b", m)["feasible"] == "True"
            # Chimera (direct concatenation) needs m % p == 0, forward doubling m % 2p == 0
            assert _row(rows, net, "chimera", m)["feasible"] == str(m % P == 0)
            assert _row(rows, net, "chimera-double", m)["feasible"] == str(m % (2 * P) == 0)


def test_traffic_volumes(out: Path) -> None:
    from pipesim.workload import gpu_preset, model_preset, stage_costs

    rows = _rows(out)
    costs = stage_costs(model_preset("gpt3-1.3b"), gpu_preset("A100"), P, layers_per_stage=[3, 3, 3, 3, 3, 3, 4, 2])
    params = sum(costs.param_bytes)
    for net in ("nvlink", "eth10"):
        for m in (8, 16):
            # every microbatch crosses p-1 boundaries forward and p-1 backward
            pipeline = 2 * (P - 1) * m * MESSAGE
            for sched in ("gpipe", "1f1b"):
                assert float(_row(rows, net, sched, m)["bytes_moved_gb"]) * 1e9 == pytest.approx(pipeline, rel=1e-9)
            # plus a ring all-reduce between each part's two replicas: each sends the part's bytes once
            chimera = float(_row(rows, net, "chimera", m)["bytes_moved_gb"]) * 1e9
            assert chimera == pytest.approx(pipeline + 2 * params, rel=1e-9)


def test_levels(out: Path) -> None:
    rows = [r for r in _rows(out) if r["feasible"] == "True"]
    for r in rows:
        assert float(r["sim_ms"]) >= float(r["table_ms"]) * (1 - 1e-12)
        assert float(r["samples_per_s"]) == pytest.approx(int(r["m"]) / (float(r["sim_ms"]) / 1e3), rel=1e-9)
    # the table level ignores the network
    for r in rows:
        other = _row(rows, "eth10" if r["network"] == "nvlink" else "nvlink", r["schedule"], int(r["m"]))
        assert float(r["table_ms"]) == pytest.approx(float(other["table_ms"]), rel=1e-12)
    # a faster link never makes the simulation slower
    bw = _rows(out, "bandwidth.csv")
    for sched in ("gpipe", "1f1b", "chimera"):
        pts = sorted((r for r in bw if r["schedule"] == sched), key=lambda r: float(r["bandwidth_gbps"]))
        times = [float(r["sim_ms"]) for r in pts]
        assert times == sorted(times, reverse=True)


def test_communication_cost_splits_into_all_reduce_and_pipeline_traffic(out: Path) -> None:
    for r in (r for r in _rows(out) if r["feasible"] == "True"):
        allreduce, p2p = float(r["allreduce_cost_ms"]), float(r["p2p_cost_ms"])
        assert float(r["sim_ms"]) == pytest.approx(float(r["table_ms"]) + allreduce + p2p, rel=1e-9)
        assert allreduce >= -1e-9 and p2p >= -1e-9  # removing traffic never makes a run longer
        if r["schedule"] in ("gpipe", "1f1b"):
            assert allreduce == 0.0  # no replicas, no replica all-reduce


def test_fast_links_favour_chimera_and_slow_ones_1f1b(out: Path) -> None:
    rows = _rows(out)
    for variant in ("chimera", "chimera-double"):
        chimera, one = _row(rows, "nvlink", variant, 16), _row(rows, "nvlink", "1f1b", 16)
        assert float(chimera["samples_per_s"]) > float(one["samples_per_s"])
        chimera, one = _row(rows, "eth10", variant, 16), _row(rows, "eth10", "1f1b", 16)
        assert float(chimera["samples_per_s"]) < float(one["samples_per_s"])
        # on 10 GbE the all-reduce alone costs more than a whole free-network iteration
        assert float(chimera["allreduce_cost_ms"]) > float(chimera["table_ms"])
    bw = _rows(out, "bandwidth.csv")
    fast, slow = max(float(r["bandwidth_gbps"]) for r in bw), min(float(r["bandwidth_gbps"]) for r in bw)
    tput = {(r["schedule"], float(r["bandwidth_gbps"])): float(r["samples_per_s"]) for r in bw}
    assert tput[("chimera", fast)] > tput[("1f1b", fast)] and tput[("chimera", slow)] < tput[("1f1b", slow)]
