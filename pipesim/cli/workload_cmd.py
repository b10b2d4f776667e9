"""`pipesim workload`: one layer's and the head's times and stored bytes, and per-stage totals.

The roofline model is this command's default (``--cost-model closed-form`` gives the paper
formulas); ``--profile`` overrides it with measured data where the profile has the shape.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from pipesim.budget import MAX_SHAPE
from pipesim.workload import (
    ATTENTIONS,
    COST_MODELS,
    DTYPES,
    RECOMPUTE_MODES,
    WorkloadError,
    gpu_preset,
    head_cost,
    known_models,
    layer_cost,
    load_profile,
    model_preset,
    summarize,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=f"model preset ({', '.join(known_models())})")
    p.add_argument("--gpu", required=True, help="GPU preset (h200, a100, ...)")
    p.add_argument("-b", "--microbatch-size", type=int, default=1, help="sequences per microbatch (default 1)")
    p.add_argument("--seq-len", type=int, default=None, help="sequence length (default: the preset's)")
    p.add_argument("--dtype", default="bf16", choices=list(DTYPES), help="training dtype (default bf16)")
    p.add_argument("--attention", default=None, choices=list(ATTENTIONS), help="attention kernel (default flash)")
    p.add_argument("--recompute", default="none", choices=list(RECOMPUTE_MODES), help="activation recomputation")
    p.add_argument("--cost-model", default="roofline", choices=list(COST_MODELS),
                   help="per-op roofline (default) or the closed-form paper formulas")
    p.add_argument("--profile", default=None, metavar="FILE", help="measured profile (file or bundled name)")
    p.add_argument("-p", "--stages", type=int, default=None, help="also print per-stage totals for P stages")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def report(args: argparse.Namespace) -> dict[str, Any]:
    """The numbers the command prints, as plain data."""
    try:
        model = model_preset(args.model)
    except WorkloadError as exc:
        raise ValueError(f"MODEL: {exc}") from None
    changes: dict[str, Any] = {"cost_model": args.cost_model}
    if args.attention is not None:
        changes["attention"] = args.attention
    if args.seq_len is not None:
        if not 1 <= args.seq_len <= MAX_SHAPE:
            raise ValueError(f"--seq-len: {args.seq_len}; must be a whole number in [1, {MAX_SHAPE:,}]")
        changes["seq_len"] = args.seq_len
    model = dataclasses.replace(model, **changes)
    try:
        gpu = gpu_preset(args.gpu)
    except WorkloadError as exc:
        raise ValueError(f"--gpu: {exc}") from None
    b = args.microbatch_size
    if not 1 <= b <= MAX_SHAPE:
        raise ValueError(f"--microbatch-size: {b}; must be a whole number in [1, {MAX_SHAPE:,}] (as model.microbatch_size)")
    profile = load_profile(args.profile) if args.profile else None
    layer = layer_cost(model, gpu, b, args.dtype, args.recompute, profile)
    head = head_cost(model, gpu, b, args.dtype, profile)
    out: dict[str, Any] = {
        "model": model.name, "gpu": gpu.name, "microbatch_size": b, "seq_len": model.seq_len,
        "dtype": args.dtype, "attention": model.attention, "recompute": args.recompute,
        "cost_model": model.cost_model, "profile": args.profile,
        "layer": layer.as_dict(), "head": head.as_dict(),
    }
    if args.stages is not None:
        if args.stages < 1:
            raise ValueError(f"-p/--stages: {args.stages}; must be a whole number >= 1")
        summary = summarize(model, gpu, args.stages, microbatch_size=b, dtype=args.dtype,
                            recompute=args.recompute, profile=profile)
        out["stages"] = [{"stage": s.stage, "layers": s.layers, "forward_s": s.time.F, "backward_s": s.time.B,
                          "input_grad_s": s.time.I, "weight_grad_s": s.time.W,
                          "activation_bytes": s.activation_bytes} for s in summary.stages]
    return out


def run(args: argparse.Namespace) -> int:
    data = report(args)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{data['model']} on {data['gpu']}, b={data['microbatch_size']}, s={data['seq_len']}, {data['dtype']}, "
          f"{data['attention']} attention, recompute {data['recompute']}")
    print(f"{'':8s} {'F ms':>9s} {'B ms':>9s} {'I ms':>9s} {'W ms':>9s} {'stash MiB':>10s}  source")
    for name in ("layer", "head"):
        c = data[name]
        print(f"{name:8s} {1e3 * c['forward_s']:9.3f} {1e3 * c['backward_s']:9.3f} {1e3 * c['input_grad_s']:9.3f} "
              f"{1e3 * c['weight_grad_s']:9.3f} {c['activation_bytes'] / 2**20:10.1f}  {c['source']}")
    for s in data.get("stages", []):
        print(f"stage {s['stage']:<2d} {1e3 * s['forward_s']:9.3f} {1e3 * s['backward_s']:9.3f} "
              f"{1e3 * s['input_grad_s']:9.3f} {1e3 * s['weight_grad_s']:9.3f} "
              f"{s['activation_bytes'] / 2**20:10.1f}  {s['layers']} layers")
    return 0
