"""Time to target: when do asynchronous pipelines pay for their stale weights?

PipeDream and PipeDream-2BW never flush the pipeline, so an iteration is shorter than 1F1B's
(study async_pipelines), but their gradients are stale. This study multiplies the two sides:
iterations to a target loss, by real training of a small character-level language model with
each schedule's exact staleness pattern (pipesim.convergence), times the simulated time per
iteration of the same schedule on a cluster.

Timing: a LLaMA-class 7B model (bf16, 4096-token sequences, microbatch 1, selective
recomputation) on A100s, one GPU per node so that every stage boundary crosses the network,
p = 2..16 stages, m = 16 microbatches per iteration; the per-node link is InfiniBand HDR,
100, 25 or 10 GbE. Asynchronous schedules stream 8 iterations without a flush (per-iteration
time = makespan / 8).

Convergence: the charlm problem with 16 layers (so every depth up to 16 splits it), Adam,
8 sequences per microbatch, 150 iterations, 4 seeds. Staleness lowers the largest usable step,
so each training family gets its best learning rate from a small grid (fewest mean iterations
to the target): synchronous training and 2BW (one update per iteration) from LR_BATCH,
PipeDream (one update per microbatch, lr scaled by 1/m) from LR_MICRO. Every synchronous
schedule trains identically (bit for bit; tested), and so does 2BW at every depth (each stage
replays the same delay-1 pattern), so they are trained once. PipeDream's delays grow with depth
and it is trained per depth; p = 1 is its delay-free counterpart (one update per microbatch,
no staleness), which separates the staleness penalty from the effect of updating m times per
iteration.

    python scenarios/studies/async_convergence.py [--quick] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
from _common import out_dir, run_many, study_args, write_table

from pipesim.plot.style import schedule_color, schedule_label
from pipesim.sweep import map_items

STUDY = "async_convergence"
SCHEDULES = ("1f1b", "zb-h1", "pipedream", "pipedream-2bw", "pipedream-2bw+predict")
# "+predict" is PipeDream-2BW with weight prediction: the 2BW colour, darker and dashed.
LABELS = {s: schedule_label(s) for s in SCHEDULES[:-1]} | {
    "pipedream-2bw+predict": schedule_label("pipedream-2bw") + " + weight prediction"}
COLORS = {s: schedule_color(s) for s in SCHEDULES[:-1]} | {
    "pipedream-2bw+predict": schedule_color("pipedream-2bw", 1, 2)}
LINK_LABELS = {"ib-hdr": "IB HDR 200 Gb/s", "eth100": "100 GbE", "eth25": "25 GbE", "eth10": "10 GbE"}
M, STREAM, TARGET = 16, 8, 1.8
FULL: dict[str, Any] = {"ps": (2, 4, 8, 16), "links": ("ib-hdr", "eth100", "eth25", "eth10"), "iterations": 150,
                        "seeds": 4, "problem": {"layers": 16}, "target": TARGET,
                        "lr_batch": (0.00125, 0.0025, 0.005, 0.01, 0.02), "lr_micro": (0.01, 0.02, 0.04, 0.08)}
QUICK: dict[str, Any] = {"ps": (2, 4), "links": ("ib-hdr", "eth10"), "iterations": 30, "seeds": 2,
         "problem": {"layers": 4, "width": 16, "embed": 4, "chars": 3000}, "target": 2.9,
         "lr_batch": (0.01,), "lr_micro": (0.04,)}
# training families: (kind, depth, compensation); depth matters only for PipeDream
BATCH_FAMILIES = (("sync", 0, "none"), ("2bw", 0, "none"), ("2bw", 0, "predict"), ("2bw", 0, "feedback"))


def scenario(schedule: str, p: int, link: str) -> dict[str, Any]:
    return {
        "name": f"{STUDY}-{schedule}-p{p}-{link}",
        "model": {"preset": "7b", "microbatch_size": 1, "dtype": "bf16", "recompute": "selective"},
        "hardware": {"gpu": "A100"},
        "topology": {"kind": "cluster", "nodes": p, "gpus_per_node": 1, "intra": "nvlink3", "inter": link},
        "parallel": {"pp": p, "microbatches": M},
        "schedule": {"name": schedule},
        "iterations": STREAM,
    }


def train(job: tuple[str, int, str, float, int, dict[str, Any], bool]) -> dict[str, Any]:
    """One training run (a process-pool job): the evaluation loss after every iteration; with
    ``stop`` the run ends at the target (the learning-rate search needs only that count)."""
    from pipesim.convergence import (
        Optimizer,
        Training,
        for_schedule,
        make_problem,
        run_stale,
        synchronous,
    )

    kind, p, comp, lr, seed, cfg, stop = job
    n = cfg["iterations"]
    pattern = {"sync": lambda: synchronous("sync", 1, M, n), "2bw": lambda: for_schedule("pipedream-2bw", 2, M, n),
               "pipedream": lambda: for_schedule("pipedream", p, M, n)}[kind]()
    curve = run_stale(make_problem("charlm", **cfg["problem"]), pattern,
                      Training(Optimizer("adam", lr), microbatch_size=8, compensation=comp,
                               stop_below=cfg["target"] if stop else None), seed)
    return {"loss": curve.loss.tolist(), "iterations": curve.iterations.tolist(),
            "reached": curve.iterations_to(cfg["target"]), "diverged": curve.diverged}


def mean_ci(values: list[float]) -> tuple[float, float]:
    from pipesim.convergence import mean_ci as ci

    mean, lo, _ = ci(values)
    return mean, mean - lo


def choose(runs: dict[tuple[Any, ...], list[dict[str, Any]]], family: tuple[str, int, str], lrs: tuple[float, ...]
           ) -> tuple[float, list[dict[str, Any]]]:
    """The learning rate with the fewest mean iterations to the target (all seeds must reach
    it); on a tie the smaller rate."""
    def key(lr: float) -> tuple[float, float]:
        its = [r["reached"] for r in runs[(*family, lr)]]
        return (float(np.mean(its)) if None not in its else math.inf, lr)

    best = min(lrs, key=key)
    return best, runs[(*family, best)]


def family_of(schedule: str, p: int) -> tuple[str, int, str]:
    return {"1f1b": ("sync", 0, "none"), "zb-h1": ("sync", 0, "none"), "pipedream": ("pipedream", p, "none"),
            "pipedream-2bw": ("2bw", 0, "none"), "pipedream-2bw+predict": ("2bw", 0, "predict")}[schedule]


# --- figures -------------------------------------------------------------------------------

def time_figure(rows: list[dict[str, Any]], ps: tuple[int, ...], links: tuple[str, ...], path: Path) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from pipesim.plot import style

    left, panel, gap, legend = 0.75, 2.7, 0.2, 3.2  # inches (the legend's longest label is ~3 in)
    width = left + len(links) * (panel + gap) + legend
    with style.style_context():
        fig = style.new_figure(width, 4.2)
        axes = [fig.add_axes(((left + i * (panel + gap)) / width, 0.13, panel / width, 0.66))
                for i in range(len(links))]
        low = min(max(r["time_to_target_s"] - r["time_to_target_ci_s"], r["time_to_target_s"] / 3) for r in rows)
        high = max(r["time_to_target_s"] + r["time_to_target_ci_s"] for r in rows)
        for ax, link in zip(axes, links, strict=True):
            for sched in SCHEDULES:
                pts = sorted((r["p"], r["time_to_target_s"], r["time_to_target_ci_s"]) for r in rows
                             if r["link"] == link and r["schedule"] == sched)
                ax.errorbar([x for x, _, _ in pts], [y for _, y, _ in pts], yerr=[e for _, _, e in pts],
                            color=COLORS[sched], marker="o", markersize=3.5, linewidth=1.4, capsize=2,
                            linestyle=(0, (4, 2)) if "+" in sched else "-", label=LABELS[sched])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(ps)
            ax.set_xticklabels([str(p) for p in ps])
            ax.set_ylim(low * 0.8, high * 1.2)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("pipeline depth p")
            ax.set_title(LINK_LABELS.get(link, link), loc="left", fontweight="bold", fontsize=style.FONT_SIZE)
            ax.grid(True, which="both", color=style.GRID_COLOR, linewidth=0.6)
            ax.set_axisbelow(True)
            if ax is not axes[0]:
                ax.tick_params(labelleft=False)
        axes[0].set_ylabel("time to target (s, 95% CI)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1 - (legend - 0.15) / width, 0.79),
                   frameon=False)
        fig.text(left / width, 0.95, f"Time to a held-out loss of {rows[0]['target']:g} (character LM) x simulated "
                 "time per iteration", fontweight="bold", fontsize=style.FONT_SIZE + 1, va="top")
        fig.text(left / width, 0.895, f"7B on A100s, one GPU per node, m = {M}; each family at its best "
                 "learning rate",
                 fontsize=style.FONT_SIZE, va="top", color="#444444")
    style.save_figure(fig, path, ("png", "svg"))


def penalty_figure(pen: list[dict[str, Any]], ps: tuple[int, ...], path: Path) -> None:
    from pipesim.plot import style

    two = schedule_label("pipedream-2bw")
    series = (("pipedream", schedule_label("pipedream") + " (vs. the same per-microbatch\nupdates without delay)", "-",
               schedule_color("pipedream")),
              ("pipedream-2bw", f"{two} (vs. synchronous)", "-", schedule_color("pipedream-2bw")),
              ("pipedream-2bw+predict", f"{two} + weight prediction", (0, (4, 2)), schedule_color("pipedream-2bw", 1, 2)),
              ("pipedream-2bw+feedback", f"{two} + error feedback", (0, (1, 1.5)), schedule_color("pipedream-2bw", 0, 2)))
    with style.style_context():
        fig = style.new_figure(9.0, 4.0)
        ax = fig.add_axes((0.08, 0.13, 0.58, 0.74))
        for name, label, ls, color in series:
            pts = sorted((r["p"], r["penalty"], r["penalty_ci"]) for r in pen if r["family"] == name)
            x, y, e = (np.array([t[k] for t in pts]) for k in range(3))
            ax.fill_between(x, y - e, y + e, color=color, alpha=0.15, linewidth=0)
            ax.plot(x, y, color=color, marker="o", markersize=3.5, linewidth=1.5, linestyle=ls,
                    label=label)
        ax.axhline(1.0, color="#222222", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ps)
        ax.set_xticklabels([str(p) for p in ps])
        ax.set_xlabel("pipeline depth p (PipeDream's delays: p − s − 1 at stage s; 2BW: 1)")
        ax.set_ylabel("iterations to target, relative (paired by seed)")
        ax.set_ylim(0.8, None)
        ax.set_title("Staleness penalty: iterations to target against the same training without delay", loc="left",
                     fontweight="bold", fontsize=style.FONT_SIZE)
        ax.grid(True, color=style.GRID_COLOR, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, labelspacing=0.8)
    style.save_figure(fig, path, ("png", "svg"))


def curves_figure(chosen: dict[tuple[str, int, str], Any], times: dict[tuple[str, int, str], float], p: int, link: str,
                  target: float, path: Path) -> None:
    from pipesim.plot.convergence import LossSeries, plot_loss_curves

    series = []
    for sched in SCHEDULES:
        seeds = chosen[family_of(sched, p)][1]
        grid = np.array([r["loss"] for r in seeds])
        x = np.array(seeds[0]["iterations"]) * times[(sched, p, link)]
        series.append(LossSeries(LABELS[sched], x, np.median(grid, axis=0), grid.min(axis=0), grid.max(axis=0),
                                 color=COLORS[sched]))
    plot_loss_curves(series, path, target=target, formats=("png", "svg"), ylabel="held-out loss (nats/char)", width=9.5,
                     title=f"Char LM, p = {p}, {LINK_LABELS.get(link, link)}: median and range over seeds")


# --- findings ------------------------------------------------------------------------------

def advantage(rows: list[dict[str, Any]], sched: str, link: str, p: int) -> float:
    """How many times sooner `sched` reaches the target than the faster of 1F1B and ZB-H1."""
    at = {r["schedule"]: r["time_to_target_s"] for r in rows if r["link"] == link and r["p"] == p}
    return min(at["1f1b"], at["zb-h1"]) / at[sched]


def crossing(points: list[tuple[str, float]]) -> str:
    """A verb phrase for where an advantage crosses 1 along ``points`` (label, advantage)."""
    if all(a > 1 for _, a in points):
        return f"is ahead everywhere ({points[0][1]:.2f}x at {points[0][0]}, {points[-1][1]:.2f}x at {points[-1][0]})"
    if all(a <= 1 for _, a in points):
        best = max(points, key=lambda x: x[1])
        return f"is never ahead (at best {best[1]:.2f}x, at {best[0]})"
    for (l1, a1), (l2, a2) in itertools.pairwise(points):
        if (a1 > 1) != (a2 > 1):
            side = "falls behind" if a1 > 1 else "pulls ahead"
            return f"{side} between {l1} ({a1:.2f}x) and {l2} ({a2:.2f}x)"
    return "crosses more than once"


def findings(rows: list[dict[str, Any]], pen: list[dict[str, Any]], lrs: dict[str, float], cfg: dict[str, Any]) -> str:
    ps, links = cfg["ps"], cfg["links"]
    get = {(r["schedule"], r["p"], r["link"]): r for r in rows}
    pg = {(r["family"], r["p"]): r for r in pen}
    out = []
    pd = [pg[("pipedream", p)]["penalty"] for p in ps]
    trend = "grows" if pd[-1] > pd[0] + 0.05 else "does not grow measurably"
    bw = [pg[(f, ps[0])]["penalty"] for f in ("pipedream-2bw", "pipedream-2bw+predict", "pipedream-2bw+feedback")]
    out.append(f"Staleness penalty (iterations to held-out loss {cfg['target']:g}, paired by seed, each family at its "
               f"best learning rate): PipeDream's, against its own delay-free per-microbatch run, {trend} with depth ("
               + ", ".join(f"p = {p}: {v:.2f}" for p, v in zip(ps, pd, strict=True)) + "). 2BW's, against synchronous "
               f"training, is one number at every depth because every stage replays the same delay-1 pattern: "
               f"{bw[0]:.2f}, and {bw[1]:.2f} with weight prediction, {bw[2]:.2f} with error feedback.")
    sync_its = get[("1f1b", ps[0], links[0])]["iterations"]
    pd_its = [get[("pipedream", p, links[0])]["iterations"] for p in ps]
    why = (" — fewer than synchronous where its staleness is small, because it updates once per microbatch "
           f"(m = {M} smaller steps per iteration)" if min(pd_its) < sync_its else "")
    out.append(f"In iterations, synchronous training needs {sync_its:.1f} and 2BW "
               f"{get[('pipedream-2bw', ps[0], links[0])]['iterations']:.1f}; PipeDream needs "
               + ", ".join(f"{v:.1f}" for v in pd_its) + f" (p = {', '.join(map(str, ps))}){why}. Best learning rates: "
               + ", ".join(f"{k} {v:g}" for k, v in lrs.items()) + ".")
    for link in links:
        t = {s: get[(s, ps[-1], link)] for s in SCHEDULES}
        along = {s: crossing([(f"p = {p}", advantage(rows, s, link, p)) for p in ps]) for s in SCHEDULES[2:]}
        out.append(f"{LINK_LABELS.get(link, link)}, p = {ps[-1]}: time to target 1F1B {t['1f1b']['time_to_target_s']:.0f} s, "
                   f"ZB-H1 {t['zb-h1']['time_to_target_s']:.0f} s, PipeDream {t['pipedream']['time_to_target_s']:.0f} s, "
                   f"2BW {t['pipedream-2bw']['time_to_target_s']:.0f} s (with prediction "
                   f"{t['pipedream-2bw+predict']['time_to_target_s']:.0f} s); per iteration "
                   f"{t['1f1b']['time_per_iteration_s']:.2f} / {t['zb-h1']['time_per_iteration_s']:.2f} / "
                   f"{t['pipedream']['time_per_iteration_s']:.2f} s (1F1B / ZB-H1 / async). Along depth, against the "
                   f"faster of 1F1B and ZB-H1: PipeDream {along['pipedream']}; 2BW {along['pipedream-2bw']}; 2BW with "
                   f"prediction {along['pipedream-2bw+predict']}.")
    bits = []
    for sched in SCHEDULES[2:]:
        bits.append(f"{LABELS[sched]} " + crossing([(LINK_LABELS.get(link, link), advantage(rows, sched, link, ps[-1]))
                                                    for link in links]))
    fast, slow = advantage(rows, "pipedream", links[0], ps[-1]), advantage(rows, "pipedream", links[-1], ps[-1])
    more = ("A slower network lengthens the flushed schedules' iterations more than the streamed ones', so "
            "asynchrony pays more on slow links" if slow > fast else "Network speed moves the flushed and the streamed "
            "schedules' iterations alike here, so it hardly shifts the balance")
    out.append(f"Along network speed at p = {ps[-1]} (fast to slow), against the faster synchronous schedule: "
               + "; ".join(bits) + f". {more}.")
    out.append("What this can and cannot say: the staleness patterns are exactly the schedules' and the penalties "
               "above are measured by training, not assumed. The sizes are not LLM sizes: a character-level model "
               f"of {cfg['parameters'] / 1e3:.0f} thousand parameters on a generated corpus, trained for "
               f"{cfg['iterations']} iterations with Adam, stands in for a 7B model trained for days, and the two meet "
               "only through the iteration count. How large a one-step delay's penalty is depends on the optimiser "
               "and the scale (docs/convergence.md); read the crossovers as where the trade-off turns for a problem "
               "this sensitive to staleness, not as a prediction for LLM pre-training.")
    return "# async_convergence — findings\n\n" + "\n".join(f"- {x}" for x in out) + "\n"


def main() -> None:
    args = study_args(__doc__.splitlines()[0])
    out = out_dir(args, STUDY)
    cfg = QUICK if args.quick else FULL
    ps, links = cfg["ps"], cfg["links"]

    timing_jobs = [(scenario(s, p, link), (), "sim") for link in links for p in ps for s in SCHEDULES[:4]]
    metrics = run_many(timing_jobs, args.jobs, label=f"{STUDY}: timing")
    times: dict[tuple[str, int, str], float] = {}
    for (sc, _, _), res in zip(timing_jobs, metrics, strict=True):
        if "error" in res:
            raise SystemExit(f"{sc['name']}: {res['error']}")
        times[(sc["schedule"]["name"], sc["parallel"]["pp"], sc["topology"]["inter"])] = res["iteration_time"]
    for link in links:
        for p in ps:
            times[("pipedream-2bw+predict", p, link)] = times[("pipedream-2bw", p, link)]

    families = [*BATCH_FAMILIES, *(("pipedream", p, "none") for p in (1, *ps))]
    lr_of = {f: cfg["lr_micro"] if f[0] == "pipedream" else cfg["lr_batch"] for f in families}
    jobs = [(*f, lr, seed, cfg, True) for f in families for lr in lr_of[f] for seed in range(cfg["seeds"])]
    results = map_items(train, jobs, jobs=args.jobs, label=f"{STUDY}: learning-rate search")
    runs: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for job, res in zip(jobs, results, strict=True):
        runs.setdefault(job[:4], []).append(res)
    chosen = {f: choose(runs, f, lr_of[f]) for f in families}
    # whole curves (the full budget) for the families the loss-vs-time figure draws
    mid = ps[len(ps) // 2]
    drawn = sorted({family_of(s, mid) for s in SCHEDULES})
    full = [(*f, chosen[f][0], seed, cfg, False) for f in drawn for seed in range(cfg["seeds"])]
    curves = map_items(train, full, jobs=args.jobs, label=f"{STUDY}: curves")
    for f in drawn:
        chosen[f] = (chosen[f][0], [c for j, c in zip(full, curves, strict=True) if tuple(j[:3]) == f])
    from pipesim.convergence import make_problem

    cfg = {**cfg, "parameters": sum(w.size for w in make_problem("charlm", **cfg["problem"]).init(0))}
    for f, (_, seeds) in chosen.items():
        if any(r["reached"] is None for r in seeds):
            raise SystemExit(f"{f} misses loss {cfg['target']} within {cfg['iterations']} iterations at every lr")

    rows = []
    for link in links:
        for p in ps:
            for sched in SCHEDULES:
                lr, seeds = chosen[family_of(sched, p)]
                its, its_ci = mean_ci([r["reached"] for r in seeds])
                t = times[(sched, p, link)]
                rows.append({"schedule": sched, "p": p, "link": link, "lr": lr, "iterations": its,
                             "iterations_ci": its_ci, "time_per_iteration_s": t, "time_to_target_s": its * t,
                             "time_to_target_ci_s": its_ci * t, "target": cfg["target"]})
    for r in rows:
        ref = next(x for x in rows if x["link"] == r["link"] and x["p"] == r["p"] and x["schedule"] == "1f1b")
        r["speedup_vs_1f1b"] = ref["time_to_target_s"] / r["time_to_target_s"]

    pen = []
    refs = {"pipedream": lambda p: ("pipedream", 1, "none"), "pipedream-2bw": lambda p: ("sync", 0, "none"),
            "pipedream-2bw+predict": lambda p: ("sync", 0, "none"), "pipedream-2bw+feedback": lambda p: ("sync", 0, "none")}
    fams = {"pipedream": lambda p: ("pipedream", p, "none"), "pipedream-2bw": lambda p: ("2bw", 0, "none"),
            "pipedream-2bw+predict": lambda p: ("2bw", 0, "predict"), "pipedream-2bw+feedback": lambda p: ("2bw", 0, "feedback")}
    for name in fams:
        for p in ps:
            a, b = chosen[fams[name](p)][1], chosen[refs[name](p)][1]
            ratio, ci = mean_ci([x["reached"] / y["reached"] for x, y in zip(a, b, strict=True)])
            pen.append({"family": name, "p": p, "penalty": ratio, "penalty_ci": ci,
                        "iterations": float(np.mean([x["reached"] for x in a])),
                        "reference_iterations": float(np.mean([y["reached"] for y in b])),
                        "lr": chosen[fams[name](p)][0]})

    fmt = {"time_to_target_s": lambda v: f"{v:.1f}", "time_per_iteration_s": lambda v: f"{v:.3f}",
           "iterations": lambda v: f"{v:.1f}", "iterations_ci": lambda v: f"±{v:.1f}",
           "time_to_target_ci_s": lambda v: f"±{v:.1f}", "speedup_vs_1f1b": lambda v: f"{v:.2f}x"}
    write_table(rows, ("link", "p", "schedule", "lr", "iterations", "iterations_ci", "time_per_iteration_s",
                       "time_to_target_s", "time_to_target_ci_s", "speedup_vs_1f1b"), out / "table", fmt)
    write_table(pen, ("family", "p", "lr", "iterations", "reference_iterations", "penalty", "penalty_ci"),
                out / "staleness_penalty", {"penalty": lambda v: f"{v:.2f}", "penalty_ci": lambda v: f"±{v:.2f}"})
    time_figure(rows, ps, links, out / "time_to_target")
    penalty_figure(pen, ps, out / "staleness_penalty")
    curves_figure(chosen, times, mid, links[len(links) // 2], cfg["target"], out / "loss_vs_time")
    lrs = {"synchronous": chosen[("sync", 0, "none")][0], "2BW": chosen[("2bw", 0, "none")][0],
           f"PipeDream at p = {ps[-1]}": chosen[("pipedream", ps[-1], "none")][0]}
    (out / "FINDINGS.md").write_text(findings(rows, pen, lrs, cfg))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
