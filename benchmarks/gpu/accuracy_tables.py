"""Print the accuracy tables of docs/workload.md: the analytic models against the committed
measurements (H200 layers and heads from h200_raw.json, Zero Bubble's A100 Table 9).

Usage: PYTHONPATH=. python benchmarks/gpu/accuracy_tables.py [benchmarks/gpu/h200_raw.json]
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path

from pipesim.workload import ModelSpec, gpu_preset, layer_cost, model_preset
from pipesim.workload.layer_cost import head_cost

# Zero Bubble (Qi et al., ICLR 2024) Table 3 shapes and Table 9 per-stage times in ms
# (docs/reference.md#zero-bubble-paper-data): name, layers, heads, hidden, p, b, T_F, T_B, T_W.
ZB_TABLE9 = (
    ("1.5B", 22, 24, 2304, 8, 6, 18.522, 18.086, 9.337),
    ("6.2B", 30, 32, 4096, 8, 3, 29.718, 29.444, 19.927),
    ("14.6B", 46, 40, 5120, 16, 1, 11.347, 11.248, 8.132),
    ("28.3B", 62, 48, 6144, 32, 1, 10.419, 10.207, 7.715),
)


def _pct(pred: float, meas: float) -> str:
    return f"{100 * (pred / meas - 1):+.1f}%"


def layers(raw: dict) -> None:
    gpu = gpu_preset("h200")
    print("| preset | b | F | B | I | W | stash | eager F | eager B | eager stash |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = {(r["preset"], r["microbatch_size"], r["attention"]): r for r in raw["layers"]}
    errs: dict[str, list[float]] = {"F": [], "B": []}
    for name, b, att in rows:
        if att != "flash":
            continue
        cells = []
        for attention in ("flash", "eager"):
            m = rows[(name, b, attention)]
            c = layer_cost(dataclasses.replace(model_preset(name), cost_model="roofline", attention=attention), gpu, b)
            pairs = [(c.forward_s, m["forward_s"]), (c.backward_s, m["backward_s"])]
            if attention == "flash":
                pairs += [(c.input_grad_s, m["input_grad_s"]), (c.weight_grad_s, m["weight_grad_s"])]
                errs["F"].append(abs(c.forward_s / m["forward_s"] - 1))
                errs["B"].append(abs(c.backward_s / m["backward_s"] - 1))
            pairs.append((c.activation_bytes, m["activation_bytes_incl_output"]))
            cells += [_pct(p, q) for p, q in pairs]
        print(f"| {name} | {b} | " + " | ".join(cells) + " |")
    for key, e in errs.items():
        print(f"\nflash {key}: median {100 * statistics.median(e):.1f}%, max {100 * max(e):.1f}%")


def heads(raw: dict) -> None:
    gpu = gpu_preset("h200")
    print("\n| preset | b | V | F | B | stash |")
    print("|---|---|---|---|---|---|")
    for r in raw["heads"]:
        model = dataclasses.replace(model_preset(r["preset"]), cost_model="roofline", vocab=r["vocab"])
        c = head_cost(model, gpu, r["microbatch_size"])
        print(f"| {r['preset']} | {r['microbatch_size']} | {r['vocab']} | {_pct(c.forward_s, r['forward_s'])} | "
              f"{_pct(c.backward_s, r['backward_s'])} | {_pct(c.activation_bytes, r['activation_bytes_incl_output'])} |")


def zero_bubble() -> None:
    print("\n| model | b | layers/stage | T_F ms (paper / model) | T_B = I | T_W | closed form T_F / T_B / T_W |")
    print("|---|---|---|---|---|---|---|")
    for name, n_layers, n_heads, hidden, p, b, tf, tb, tw in ZB_TABLE9:
        n = (n_layers + 2) // p
        cells = []
        for cost_model in ("roofline", "closed-form"):
            model = ModelSpec(n_layers, hidden, n_heads, 1024, 50257, name, attention="eager", dropout=0.1,
                              cost_model=cost_model)
            c = layer_cost(model, gpu_preset("a100"), b)
            got = (n * c.forward_s * 1e3, n * c.input_grad_s * 1e3, n * c.weight_grad_s * 1e3)
            if cost_model == "roofline":
                cells += [f"{want:.2f} / {g:.2f} ({_pct(g, want)})" for g, want in zip(got, (tf, tb, tw), strict=True)]
            else:
                cells.append(" / ".join(_pct(g, want) for g, want in zip(got, (tf, tb, tw), strict=True)))
        print(f"| {name} | {b} | {n} | " + " | ".join(cells) + " |")


def closed_form_h200(raw: dict) -> None:
    gpu = gpu_preset("h200")
    f, bwd, stash = [], [], []
    for r in raw["layers"]:
        if r["attention"] != "flash":
            continue
        c = layer_cost(model_preset(r["preset"]), gpu, r["microbatch_size"])
        f.append(c.forward_s / r["forward_s"] - 1)
        bwd.append(c.backward_s / r["backward_s"] - 1)
        stash.append(c.activation_bytes / r["activation_bytes_incl_output"])
    print(f"\nclosed form on the H200 flash layers: F median {100 * statistics.median(map(abs, f)):.0f}% "
          f"({100 * min(f):+.0f}% to {100 * max(f):+.0f}%), B median {100 * statistics.median(map(abs, bwd)):.0f}% "
          f"({100 * min(bwd):+.0f}% to {100 * max(bwd):+.0f}%), stash {min(stash):.1f}-{max(stash):.1f}x")


def main(argv: list[str]) -> int:
    raw = json.loads((Path(argv[0]) if argv else Path(__file__).with_name("h200_raw.json")).read_text())
    layers(raw)
    heads(raw)
    zero_bubble()
    closed_form_h200(raw)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
