"""`pipesim converge`: which schedule reaches a target loss first on this cluster.

Time to target = iterations to the target (real training of a small problem with the
schedule's exact weight staleness, over several seeds) x simulated time per iteration of the
same schedule on the scenario's cluster. See docs/convergence.md for what this can and cannot
say about LLM pre-training.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pipesim.budget import MAX_SHAPE
from pipesim.cli.common import add_figure_arguments
from pipesim.units import format_time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file (see scenarios/); its cluster times each schedule")
    p.add_argument("--problem", required=True, metavar="NAME", help="quadratic | logistic | mlp | charlm")
    p.add_argument("--target", required=True, type=float, metavar="LOSS",
                   help="evaluation loss to reach (the problem's optimum is printed with the table)")
    p.add_argument("--schedules", default="1f1b,zb-h1,pipedream,pipedream-2bw", metavar="A,B,C",
                   help="schedules to compare (default 1f1b,zb-h1,pipedream,pipedream-2bw)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per schedule (initialisation and data order; default 3)")
    p.add_argument("--iterations", type=int, default=None, help="training budget in iterations (default: the problem's)")
    p.add_argument("-P", "--problem-option", action="append", default=[], metavar="KEY=VALUE",
                   help="problem option, repeatable (e.g. -P layers=16)")
    p.add_argument("--optimizer", default=None, help="sgd | momentum | adam | adamw (default: the problem's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate per iteration (default: the problem's)")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum coefficient (momentum optimizer)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay (L2; decoupled for adamw)")
    p.add_argument("--microbatch-size", type=int, default=None, help="samples per microbatch (default: the problem's)")
    p.add_argument("--no-stashing", action="store_true",
                   help="backwards use the newest weights instead of the forward's stashed version")
    p.add_argument("--compensation", choices=("none", "predict", "feedback"), default="none",
                   help="delay remedy: weight prediction or error feedback (default none)")
    p.add_argument("--stream", type=int, default=8, metavar="K",
                   help="simulate asynchronous schedules as K iterations without a flush (sets iterations=K; "
                        "default 8); 0 keeps the scenario's value")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario field, repeatable")
    p.add_argument("--level", choices=("table", "sim"), default="sim", help="level that times an iteration")
    p.add_argument("--json", action="store_true",
                   help='print {"results": [{"schedule", "iterations_to_target", "time_per_iteration_s", '
                        '"time_to_target_s", ...}]}')
    p.add_argument("--plot", metavar="FILE", default=None, help="draw loss against simulated wall-clock time")
    add_figure_arguments(p)


def _training(args: argparse.Namespace, defaults: Any) -> Any:
    from pipesim.convergence import Optimizer, Training

    kind = args.optimizer or defaults["optimizer"]
    opt = Optimizer(kind, args.lr if args.lr is not None else defaults["lr"], momentum=args.momentum,
                    weight_decay=args.weight_decay)
    return Training(opt, microbatch_size=args.microbatch_size or defaults["microbatch_size"],
                    stashing=not args.no_stashing, compensation=args.compensation)


def _ci(pair: list[float] | None, fmt: Any) -> str:
    return f"[{fmt(pair[0])}, {fmt(pair[1])}]" if pair else ""


def format_table(rows: list[dict[str, Any]]) -> str:
    head = ("rank", "schedule", "max delay", "time/iter", "iterations to target (95% CI)", "time to target (95% CI)",
            "final loss")
    lines = []
    for i, r in enumerate(rows, 1):
        its = r["iterations_to_target"]
        if its is None:
            its_text = f"not reached ({r['reached']}/{r['seeds']} seeds)"
            ttt = "-"
        else:
            its_text = f"{its:.1f} {_ci(r['iterations_to_target_ci'], lambda x: f'{x:.1f}')}"
            ttt = f"{format_time(r['time_to_target_s'])} {_ci(r['time_to_target_ci_s'], format_time)}"
        lines.append((str(i), r["schedule"], str(r["max_delay"]), format_time(r["time_per_iteration_s"]), its_text,
                      ttt, f"diverged ({r['diverged']}/{r['seeds']} seeds)" if r["diverged"] or r["final_loss"] is None
                      else f"{r['final_loss']:.4g}"))
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join(out)


# Training steps one command may run: the executor keeps per-step arrays, and 10^7 steps of
# even the smallest problem take hours.
MAX_ITERATIONS = 10_000_000


def run(args: argparse.Namespace) -> int:
    from pipesim.cli.common import parse_pairs
    from pipesim.convergence import make_problem, time_to_target

    options: dict[str, str] = {}
    for item in args.problem_option:
        options.update(parse_pairs(item, flag="--problem-option"))
    problem = make_problem(args.problem, **options)
    iterations = args.iterations if args.iterations is not None else int(problem.defaults["iterations"])
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"--iterations: {iterations}; must be in [1, {MAX_ITERATIONS:,}] (each is a real training step)")
    if args.microbatch_size is not None and not 1 <= args.microbatch_size <= MAX_SHAPE:
        raise ValueError(f"--microbatch-size: {args.microbatch_size}; must be a whole number in [1, {MAX_SHAPE:,}]")
    if args.stream < 0:
        raise ValueError(f"--stream: {args.stream}; must be >= 1, or 0 to keep the scenario's iterations")
    schedules = [s.strip() for s in args.schedules.split(",") if s.strip()]
    overrides = list(args.overrides) + ([f"iterations={args.stream}"] if args.stream else [])
    training = _training(args, problem.defaults)

    def progress(text: str) -> None:
        if not args.json:
            print(f"  {text} ...", file=sys.stderr, flush=True)

    outcomes = time_to_target(args.scenario, problem, args.target, training, schedules=schedules, seeds=args.seeds,
                              iterations=iterations, overrides=overrides, level=args.level, progress=progress)
    rows = [o.row() for o in outcomes]
    if args.plot:
        from pipesim.plot.convergence import LossSeries, plot_loss_curves
        from pipesim.plot.style import series_style

        styles = [series_style(o.schedule, i) for i, o in enumerate(outcomes)]
        series = [LossSeries(name, *o.band(), color=color) for o, (name, color) in zip(outcomes, styles, strict=True)]
        title = f"{problem.name} on {args.scenario}: median and range over {args.seeds} seeds"
        plot_loss_curves(series, args.plot, target=args.target, ylabel=f"{problem.name} evaluation loss",
                         title=title if args.title is None else args.title, font_size=args.font_size,
                         **({"width": args.width} if args.width is not None else {}))
    if args.json:
        print(json.dumps({"scenario": args.scenario, "problem": problem.describe(), "target": args.target,
                          "optimizer": training.optimizer.kind, "lr": training.optimizer.lr,
                          "iterations": iterations, "results": rows}, indent=2))
        return 0
    opt = training.optimizer
    print(f"{problem.describe()}\n{opt.kind}, lr {opt.lr:g}, {training.microbatch_size} samples per microbatch, "
          f"budget {iterations} iterations, {args.seeds} seeds; target loss {args.target:g}; "
          f"{'weight stashing' if training.stashing else 'no weight stashing'}; compensation {training.compensation}")
    print(format_table(rows))
    return 0
