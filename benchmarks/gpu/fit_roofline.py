"""Derive the roofline model's GPU constants from the committed H200 measurements.

Each constant comes from one named part of ``h200_raw.json``; the layer and head times that
``tests/test_workload_roofline.py`` compares the model with are used only where a constant
says so (the host time per kernel, the unaligned-GEMM rate), and then from one record each:

* ``matmul_efficiency``: median rate, as a fraction of the 989 TFLOP/s data-sheet peak, of the
  grid GEMMs with at least 3e12 FLOPs (they run for milliseconds, at the power-limited clock).
* ``matmul_overhead_s``: median of ``t - FLOPs / (e * peak)`` over the grid GEMMs below 2e11
  FLOPs (the fixed cost per GEMM: wave quantisation, prologue and epilogue).
* ``memory_efficiency``: the copy benchmark's rate over the 4.8 TB/s data-sheet bandwidth.
* ``kernel_gap_s``: one-element kernel replayed from a CUDA graph.
* ``host_op_s``: the gpt3-1.3b layer forward at microbatch 1 (flash), the one pass whose GPU
  work the model puts below its issue time, divided by its kernel count.
* ``unaligned_matmul_efficiency``: the gpt3-1.3b head forward at microbatch 1 with V = 50257
  minus the same at V = 50304 is the extra time of the unaligned LM-head GEMM; added to the
  model's aligned GEMM time it gives the unaligned rate.

It also prints a diagnostic that is not a model constant: the share of the copy bandwidth at
which PyTorch's eager masking and softmax run on the H200 (median over the eager layers' F of
the measured time left after the model's other ops, against those ops' bytes). A constant of
that size, checked on the Zero Bubble A100 layers (Megatron-LM's fused softmax), put their
input-gradient pass 28% long, so the model keeps those kernels at the copy rate
(docs/workload.md).

Usage: PYTHONPATH=. python benchmarks/gpu/fit_roofline.py [benchmarks/gpu/h200_raw.json]
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path

from pipesim.workload import gpu_preset, model_preset
from pipesim.workload.layer_cost import layer_shape
from pipesim.workload.roofline import LayerShape, head_ops, layer_ops

PEAK = 989e12
BANDWIDTH = 4800e9


def fit(raw: dict) -> dict[str, float]:
    gemm = raw["gemm"]
    long_rates = [g["flops"] / g["median_s"] / PEAK for g in gemm if g["flops"] >= 3e12]
    e = statistics.median(long_rates)
    overhead = statistics.median(g["median_s"] - g["flops"] / (e * PEAK) for g in gemm if g["flops"] < 2e11)
    copy = next(b for b in raw["bandwidth"] if b["op"] == "copy")
    launch = raw["launch"][0]
    graph = statistics.median(launch["graph_replay_samples_s"]) / launch["back_to_back_launches"]

    layer = next(r for r in raw["layers"]
                 if (r["preset"], r["microbatch_size"], r["attention"]) == ("gpt3-1.3b", 1, "flash"))
    sh = layer["shape"]
    x = LayerShape(1, sh["seq_len"], sh["hidden"], sh["heads"], sh["kv_heads"], sh["ffn_hidden"], "gelu", "flash")
    kernels = sum(op.kernels for op in layer_ops(x, "F"))
    host = layer["forward_s"] / kernels

    heads = {r["vocab"]: r for r in raw["heads"] if (r["preset"], r["microbatch_size"]) == ("gpt3-1.3b", 1)}
    b, s, h = 1, sh["seq_len"], sh["hidden"]
    gpu = gpu_preset("h200")
    lm = next(op for op in head_ops(b, s, h, 50304, "bf16", "F") if op.name == "lm")
    aligned_s = lm.seconds(gpu, "bf16") * 50257 / 50304
    unaligned_s = aligned_s + heads[50257]["forward_s"] - heads[50304]["forward_s"]
    flops = 2.0 * b * s * h * 50257
    unaligned = flops / (PEAK * (unaligned_s - gpu.kernel_gap_s - gpu.matmul_overhead_s))
    return {"matmul_efficiency": e, "matmul_overhead_s": overhead,
            "memory_efficiency": copy["gb_per_s"] * 1e9 / BANDWIDTH, "kernel_gap_s": graph,
            "host_op_s": host, "unaligned_matmul_efficiency": unaligned}


def eager_scores_share(raw: dict) -> float:
    """Median over the eager layers' forwards of (the s × s mask and softmax bytes at the copy
    rate) / (the measured forward minus the model's time for every other op)."""
    gpu = gpu_preset("h200")
    shares = []
    for r in raw["layers"]:
        if r["attention"] != "eager" or r["status"] != "ok":
            continue
        model = dataclasses.replace(model_preset(r["preset"]), cost_model="roofline", attention="eager")
        ops = layer_ops(layer_shape(model, r["microbatch_size"]), "F")
        scores = [op for op in ops if op.name in ("mask", "softmax")]
        rest = sum(op.seconds(gpu, "bf16") for op in ops if op not in scores)
        at_copy = sum(op.bytes for op in scores) / (gpu.bandwidth() * gpu.memory_efficiency)
        shares.append(at_copy / (r["forward_s"] - rest))
    return statistics.median(shares)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).with_name("h200_raw.json")
    raw = json.loads(path.read_text())
    for key, value in fit(raw).items():
        print(f"{key:30s} {value:.4g}")
    print(f"{'(diagnostic) eager s×s share':30s} {eager_scores_share(raw):.3g} of the copy rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
