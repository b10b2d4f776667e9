"""Smoke test of scenarios/studies/compression_wan.py (--quick): files, rows, and numbers that
follow from the compression model and from counting messages, not from earlier runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from studyrun import run_study

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "scenarios" / "studies" / "compression_wan.py"
P, M, H, SEQ = 8, 16, 2048, 2048  # the study's pipeline and GPT-3 1.3B shape


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compression_wan")
    run_study(SCRIPT, path)
    return path


@pytest.fixture(scope="module")
def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "table.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_files(out: Path) -> None:
    for name in ("table.csv", "table.md", "FINDINGS.md"):
        assert (out / name).stat().st_size > 0
    for stem in ("heatmap_tokens_per_s", "throughput_vs_ratio", "throughput_vs_latency"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000


def test_rows_and_columns(rows: list[dict[str, str]]) -> None:
    for col in ("topology", "policy", "bandwidth", "ratio", "tokens_per_s", "compute_ceiling_tokens_per_s",
                "latency_ceiling_tokens_per_s", "wire_bytes_per_token", "bytes_moved"):
        assert col in rows[0]
    assert not any(r["error"] for r in rows)
    chain = [r for r in rows if r["topology"] == "wan_chain" and r["latency_ms"] == "50.0" and r["schedule"] == "1f1b"]
    # quick grid: 2 policies x 2 bandwidths x 3 ratios (the latency sweep's 50 ms 1F1B point repeats one)
    keys = {(r["policy"], r["bandwidth"], float(r["ratio"])) for r in chain}
    assert keys == {(pol, bw, ratio) for pol in ("fair", "fifo") for bw in ("200 Mb/s", "10 Gb/s")
                    for ratio in (1.0, 8.0, 100.0)}
    assert {r["schedule"] for r in rows if r["latency_ms"] == "0.0"} == {"1f1b", "gpipe"}


def test_bytes_follow_the_compression_model(rows: list[dict[str, str]]) -> None:
    for r in rows:
        ratio = float(r["ratio"])
        # k = round(h / r) bf16 coordinates + a 2-byte token id; uncompressed h bf16 values
        per_token = 2 * H if ratio == 1 else 2 * round(H / ratio) + 2
        assert float(r["wire_bytes_per_token"]) == per_token
        # 1F1B over p-1 boundaries: every microbatch crosses each boundary once forward (activation)
        # and once backward (gradient), one hop each on a chain
        expected = 2 * (P - 1) * M * SEQ * per_token
        assert float(r["bytes_moved"]) == pytest.approx(expected, rel=1e-9)


def test_sim_never_beats_the_free_network(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert float(r["tokens_per_s"]) <= float(r["compute_ceiling_tokens_per_s"]) * (1 + 1e-9)


def test_compression_helps_on_the_slow_link(rows: list[dict[str, str]]) -> None:
    fair = {float(r["ratio"]): float(r["tokens_per_s"]) for r in rows
            if r["topology"] == "wan_chain" and r["policy"] == "fair" and r["bandwidth"] == "200 Mb/s"
            and r["latency_ms"] == "50.0" and r["schedule"] == "1f1b"}
    # 8 MiB per message at 25 MB/s is ~0.34 s, far above a stage's ~11 ms forward: bandwidth bound
    assert fair[8.0] > 3 * fair[1.0]
    assert fair[100.0] >= fair[8.0]


def _chain(rows: list[dict[str, str]], policy: str = "fair", topology: str = "wan_chain") -> dict:
    return {(r["bandwidth"], float(r["ratio"])): float(r["tokens_per_s"]) for r in rows
            if r["topology"] == topology and r["policy"] == policy and r["latency_ms"] == "50.0"
            and r["schedule"] == "1f1b"}


def test_ceilings_and_policies_bound_the_simulation(rows: list[dict[str, str]]) -> None:
    fair, fifo, internet = _chain(rows), _chain(rows, "fifo"), _chain(rows, topology="internet")
    for r in rows:
        if r["schedule"] == "1f1b":  # the latency ceiling is 1F1B's table with a fixed delay per message
            assert float(r["tokens_per_s"]) <= float(r["latency_ceiling_tokens_per_s"]) * (1 + 1e-9)
    for key, value in fair.items():
        # fifo delivers the warm-up forwards one by one instead of all late: never slower here
        assert fifo[key] >= value * (1 - 1e-9)
    for key, value in internet.items():
        # one access link carrying both directions can only be slower than a link per boundary
        assert value <= fair[key] * (1 + 1e-9)


def test_latency_bounds_1f1b_and_gpipe_trades_memory_for_it(rows: list[dict[str, str]]) -> None:
    lat = {(r["schedule"], r["latency_ms"]): r for r in rows if r["ratio"] == "100" and r["bandwidth"] == "200 Mb/s"
           and r["topology"] == "wan_chain" and r["policy"] == "fair"}
    assert float(lat[("1f1b", "50.0")]["tokens_per_s"]) < float(lat[("1f1b", "0.0")]["tokens_per_s"])
    assert float(lat[("gpipe", "50.0")]["tokens_per_s"]) > float(lat[("1f1b", "50.0")]["tokens_per_s"])
    assert lat[("gpipe", "50.0")]["fits_in_memory"] == "False" and lat[("1f1b", "50.0")]["fits_in_memory"] == "True"
