"""Convert the raw H200 measurements (h200_raw.json) into a pipesim profile file.

    python benchmarks/gpu/make_profile.py benchmarks/gpu/h200_raw.json \
        pipesim/workload/profiles/h200-bf16.json

Per layer record: the medians of forward, full backward and input-grad time, the allocator's
stash with the output included (the per-layer stash in a stack) and the linear layers' inputs
(what a deferred W keeps). Per head record: the same, at each measured vocabulary.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def convert(raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw["meta"]
    entries: list[dict[str, Any]] = []
    for r in raw["layers"]:
        if r.get("status") != "ok":
            continue
        sh = r["shape"]
        entries.append({
            "kind": "layer",
            "preset": r["preset"],
            "shape": {"hidden": sh["hidden"], "heads": sh["heads"], "kv_heads": sh["kv_heads"],
                      "seq_len": sh["seq_len"], "ffn_hidden": sh["ffn_hidden"],
                      "mlp": "gelu" if sh["style"] == "gpt" else "swiglu", "attention": r["attention"],
                      "rotary": sh["style"] != "gpt"},
            "microbatch_size": r["microbatch_size"],
            "forward_s": r["forward_s"], "backward_s": r["backward_s"], "input_grad_s": r["input_grad_s"],
            "activation_bytes": r["activation_bytes_incl_output"],
            "weight_keep_bytes": r["linear_input_bytes"],
        })
    for r in raw["heads"]:
        if r.get("status") != "ok":
            continue
        entries.append({
            "kind": "head",
            "preset": r["preset"],
            "shape": {"hidden": r["hidden"], "seq_len": r["seq_len"], "vocab": r["vocab"]},
            "microbatch_size": r["microbatch_size"],
            "forward_s": r["forward_s"], "backward_s": r["backward_s"], "input_grad_s": r["input_grad_s"],
            "activation_bytes": r["activation_bytes_incl_output"],
        })
    gpu = meta["gpu"]["name"].replace("NVIDIA ", "")
    return {
        "format": "pipesim-profile",
        "version": 1,
        "gpu": gpu,
        "dtype": DTYPES[meta["dtype"]],
        "source": f"benchmarks/gpu/measure_layers.py, torch {meta['torch']}, {meta['started_utc']}; medians",
        "entries": entries,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw")
    ap.add_argument("out")
    args = ap.parse_args(argv)
    with open(args.raw) as f:
        profile = convert(json.load(f))
    with open(args.out, "w") as f:
        json.dump(profile, f, indent=1)
        f.write("\n")
    print(f"{args.out}: {len(profile['entries'])} entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
