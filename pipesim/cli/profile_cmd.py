"""`pipesim profile`: measure a preset's layer and head on this machine's GPU into a profile
file, or import per-pass times from a PyTorch profiler (Kineto) trace.

Without PyTorch or a GPU it says so on one line and exits 2 (the CLI's error path).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from pipesim.workload import ATTENTIONS, DTYPES, WorkloadError, known_models, model_preset
from pipesim.workload.measure import from_kineto, measure, write


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=f"model preset ({', '.join(known_models())})")
    p.add_argument("-o", "--out", required=True, metavar="FILE", help="profile file to write (JSON)")
    p.add_argument("-b", "--microbatch-sizes", default="1,2,4", help="comma-separated (default 1,2,4)")
    p.add_argument("--attention", default=None, choices=list(ATTENTIONS), help="attention kernel (default flash)")
    p.add_argument("--seq-len", type=int, default=None, help="sequence length (default: the preset's)")
    p.add_argument("--dtype", default="bf16", choices=[d for d in DTYPES if d != "fp8"], help="default bf16")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default 3)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls; the median is kept (default 10)")
    p.add_argument("--from-trace", default=None, metavar="TRACE_JSON",
                   help="import from a Kineto trace instead of measuring (see docs/workload.md)")
    p.add_argument("--gpu", default=None, help="GPU name to record with --from-trace")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--microbatch-sizes: {text!r}; give whole numbers such as 1,2,4") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--microbatch-sizes: {text!r}; give whole numbers >= 1 such as 1,2,4")
    return sizes


def _model(args: argparse.Namespace) -> Any:
    try:
        model = model_preset(args.model)
    except WorkloadError as exc:
        raise ValueError(f"MODEL: {exc}") from None
    changes: dict[str, Any] = {}
    if args.attention is not None:
        changes["attention"] = args.attention
    if args.seq_len is not None:
        changes["seq_len"] = args.seq_len
    return dataclasses.replace(model, **changes) if changes else model


def run(args: argparse.Namespace, backend: Any = None, timer: Any = None) -> int:
    """``backend``/``timer`` are for tests (a fake backend runs the loop without torch)."""
    model = _model(args)
    sizes = _sizes(args.microbatch_sizes)
    if args.from_trace:
        if args.gpu is None:
            raise ValueError("--gpu: needed with --from-trace (the trace does not name the GPU reliably)")
        try:
            with open(args.from_trace) as f:
                trace = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--from-trace: {args.from_trace}: not JSON ({exc.msg}, line {exc.lineno})") from None
        if len(sizes) != 1:
            raise ValueError("--microbatch-sizes: give the one size the trace was taken at")
        doc = from_kineto(trace, model, sizes[0], args.gpu, args.dtype, args.from_trace)
    else:
        if backend is None:
            from pipesim.workload.torch_backend import TorchBackend

            backend = TorchBackend("cuda", args.dtype)
            timer = backend.timer
        doc = measure(model, backend, timer, sizes, warmup=args.warmup, repeats=args.repeats,
                      log=lambda msg: print(msg, file=sys.stderr))
    write(doc, args.out)
    print(f"{args.out}: {len(doc['entries'])} entries for {model.name} on {doc['gpu']} ({doc['dtype']})")
    return 0
