"""Asynchronous pipelines: PipeDream and PipeDream-2BW against 1F1B (PipeDream-Flush).

1F1B flushes the pipeline at every iteration boundary, so each iteration pays the fill and
drain bubble, (p-1)/(m+p-1) of the time. PipeDream and PipeDream-2BW never flush: iteration
i+1's forwards start while iteration i's backwards drain. The price is weight staleness and
memory (docs/reference.md#asynchronous-pipelines-and-staleness): PipeDream updates after every
microbatch and stashes the version each in-flight microbatch used (stage s keeps p-s versions,
gradients p-s-1 updates old); 2BW accumulates m microbatches per update and keeps two
versions (delay exactly 1).

Setup (the same for every schedule): a LLaMA-class 7B model (bf16, 4096-token sequences,
microbatch 1, selective recomputation, Adam) on A100 80 GB nodes of 4 GPUs (NVLink3 inside,
InfiniBand HDR between nodes); p = 4 (one node) and p = 8 (two nodes), m = 16 microbatches
per iteration. The async schedules run ``iterations`` iterations as one continuous stream;
per-iteration time is makespan / iterations simulated (``metrics["iteration_time"]``). 1F1B
iterations are identical, so one is simulated. Memory is the simulation level's per-device peak:
weight versions x weight bytes + one gradient buffer + optimizer state + activations in flight.

    python scenarios/studies/async_pipelines.py [--quick] [--out DIR] [--jobs N]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import out_dir, run_many, study_args, write_table

STUDY = "async_pipelines"
SCHEDULES = ("1f1b", "pipedream", "pipedream-2bw")
LABELS = {"1f1b": "1F1B (flush)", "pipedream": "PipeDream", "pipedream-2bw": "PipeDream-2BW"}
PS = (4, 8)
M = 16
ITERATIONS = 4  # the main comparison
ITERATION_SWEEP = (1, 2, 4, 8, 16)
QUICK_PS = (4,)
QUICK_SWEEP = (1, 4)
GPUS_PER_NODE = 4
MEMORY_GB = 80.0


def scenario(schedule: str, p: int, iterations: int = ITERATIONS) -> dict[str, Any]:
    return {
        "name": f"{STUDY}-{schedule}-p{p}-it{iterations}",
        "model": {"preset": "7b", "microbatch_size": 1, "dtype": "bf16", "recompute": "selective"},
        "hardware": {"gpu": "A100"},
        "topology": {"kind": "cluster", "nodes": max(1, p // GPUS_PER_NODE), "gpus_per_node": min(p, GPUS_PER_NODE),
                     "intra": "nvlink3", "inter": "ib-hdr"},
        "parallel": {"pp": p, "microbatches": M},
        "schedule": {"name": schedule},
        "iterations": iterations,
    }


def static_parts(schedule: str, p: int) -> list[dict[str, float]]:
    """Per device: weight bytes of one version, versions kept (the generator's notes), gradient
    and optimizer bytes -- the static part of the simulator's memory account."""
    from pipesim.scenario import build, load_scenario

    built = build(load_scenario(scenario(schedule, p, 1), []))
    lay, costs = built.schedule.layout, built.costs
    versions = lay.notes.get("weight_versions") or [1] * lay.num_stages
    out = []
    for d in range(lay.num_devices):
        stages = lay.device_stages[d]
        out.append({
            "weight_bytes": sum(costs.param_bytes[s] for s in stages),
            "versions": max(float(versions[s]) for s in stages),
            "weights_all_versions": sum(costs.param_bytes[s] * float(versions[s]) for s in stages),
            "grad_opt_bytes": sum(costs.param_bytes[s] + costs.optimizer_bytes[s] for s in stages),
        })
    return out


# --- figures -------------------------------------------------------------------------------

def _bar_positions(n_groups: int, n_bars: int) -> tuple[list[list[float]], float]:
    width = 0.8 / n_bars
    return [[g + (i - (n_bars - 1) / 2) * width for g in range(n_groups)] for i in range(n_bars)], width


def time_memory_figure(main: list[dict[str, Any]], ps: list[int], path: Path) -> None:
    from pipesim.plot import style

    sims = [r for r in main if r["level"] == "sim"]
    table = {(r["schedule"], r["p"]): r["iteration_time_s"] for r in main if r["level"] == "table"}
    with style.style_context():
        fig = style.new_figure(12.0, 4.4)
        a1 = fig.add_axes((0.055, 0.13, 0.33, 0.72))
        a2 = fig.add_axes((0.45, 0.13, 0.33, 0.72))
        pos, width = _bar_positions(len(ps), len(SCHEDULES))
        for i, sched in enumerate(SCHEDULES):
            color = style.SERIES_COLORS[i]
            vals = [next(r["iteration_time_s"] for r in sims if r["schedule"] == sched and r["p"] == p) for p in ps]
            bars = a1.bar(pos[i], vals, width=width * 0.95, color=color, label=LABELS[sched])
            for b, v in zip(bars, vals, strict=True):
                a1.annotate(f"{v:.2f}", (b.get_x() + b.get_width() / 2, v), xytext=(0, 4), textcoords="offset points",
                            ha="center", va="bottom", fontsize=style.FONT_SIZE - 1.5)
            a1.plot(pos[i], [table[(sched, p)] for p in ps], linestyle="none", marker="_", markersize=14,
                    color="#222222", markeredgewidth=1.4, label="table level\n(free network)" if i == 0 else None)
        a1.set_xticks(range(len(ps)))
        a1.set_xticklabels([f"p = {p}" for p in ps])
        a1.set_ylabel("time per iteration (s)")
        a1.set_title(f"(a) time per iteration (m = {M}, {ITERATIONS} iterations streamed)", loc="left",
                     fontweight="bold", fontsize=style.FONT_SIZE)
        a1.grid(True, axis="y", color=style.GRID_COLOR, linewidth=0.6)
        a1.set_axisbelow(True)
        top = max(r["iteration_time_s"] for r in sims)
        a1.set_ylim(0, top * 1.15)

        parts = (("weights_current_GB", "weights (current version)", 1.0),
                 ("weights_stashed_GB", "stashed weight versions", 0.55),
                 ("grad_opt_GB", "gradients + Adam state", 0.3),
                 ("activations_GB", "activations in flight", 0.8))
        for i, sched in enumerate(SCHEDULES):
            base = [0.0] * len(ps)
            color = style.SERIES_COLORS[i]
            for key, _label, tint in parts:
                vals = [next(r[key] for r in sims if r["schedule"] == sched and r["p"] == p) for p in ps]
                face = style.mix(color, (1.0, 1.0, 1.0), 1 - tint)
                hatch = "////" if key == "weights_stashed_GB" else None
                a2.bar(pos[i], vals, bottom=base, width=width * 0.95, color=face, edgecolor="white",
                       linewidth=0.4, hatch=hatch)
                base = [b + v for b, v in zip(base, vals, strict=True)]
            for x, v in zip(pos[i], base, strict=True):
                a2.text(x, v, f"{v:.1f}", ha="center", va="bottom", fontsize=style.FONT_SIZE - 1.5)
        a2.axhline(MEMORY_GB, color="#CC3311", linestyle=(0, (4, 2)), linewidth=1.0)
        a2.text(len(ps) - 0.5, MEMORY_GB, f"A100 {MEMORY_GB:g} GB ", ha="right", va="bottom",
                fontsize=style.FONT_SIZE - 1.5, color="#CC3311")
        a2.set_xticks(range(len(ps)))
        a2.set_xticklabels([f"p = {p}" for p in ps])
        a2.set_ylabel("peak memory of the fullest GPU (GB)")
        a2.set_ylim(0, MEMORY_GB * 1.12)
        a2.set_title("(b) peak memory (device 0), by component", loc="left", fontweight="bold",
                     fontsize=style.FONT_SIZE)
        a2.grid(True, axis="y", color=style.GRID_COLOR, linewidth=0.6)
        a2.set_axisbelow(True)
        # one legend: schedule colours, then the component shades (in grey)
        from matplotlib.patches import Patch

        handles, labels = a1.get_legend_handles_labels()
        for key, label, tint in reversed(parts):
            handles.append(Patch(facecolor=style.mix("#555555", (1.0, 1.0, 1.0), 1 - tint),
                                 hatch="////" if key == "weights_stashed_GB" else None, edgecolor="white"))
            labels.append(label)
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.80, 0.86), frameon=False,
                   fontsize=style.FONT_SIZE - 0.5)
        fig.text(0.055, 0.95, "Async pipelines: no flush buys time, stashed weights cost memory "
                 "(7B, A100, NVLink3 + IB HDR)", fontweight="bold", fontsize=style.FONT_SIZE + 1)
    style.save_figure(fig, path, ("png", "svg"))


def staleness_figure(stale: list[dict[str, Any]], ps: list[int], path: Path) -> None:
    from pipesim.plot import style

    with style.style_context():
        height = 2.5 * len(ps) + 0.9
        fig = style.new_figure(11.5, height)
        grid = fig.add_gridspec(len(ps), 2, left=0.06, right=0.79, top=1 - 0.75 / height, bottom=0.5 / height,
                                hspace=0.5, wspace=0.22)
        for row, p in enumerate(ps):
            axes = (fig.add_subplot(grid[row, 0]), fig.add_subplot(grid[row, 1]))
            for ax, key, offset, what in (
                    (axes[0], "versions", 0, "weight versions kept"),
                    (axes[1], "max_delay", 1, "max gradient delay (local updates)")):
                pos, width = _bar_positions(p, len(SCHEDULES))
                for i, sched in enumerate(SCHEDULES):
                    vals = [next(r[key] for r in stale if r["schedule"] == sched and r["p"] == p and r["stage"] == s)
                            for s in range(p)]
                    ax.bar(pos[i], vals, width=width * 0.95, color=style.SERIES_COLORS[i],
                           label=LABELS[sched] if row == 0 and key == "versions" else None)
                xs = list(range(p))
                ax.plot(xs, [p - s - offset for s in xs], linestyle="none", marker="_", markersize=22 - p,
                        markeredgewidth=1.5, color="#222222",
                        label=("PipeDream theory:\nversions p−s, delay p−s−1" if row == 0 and key == "versions" else None))
                ax.set_xticks(xs)
                ax.set_xlabel("stage s" if row == len(ps) - 1 else "")
                ax.set_ylabel(what)
                ax.set_ylim(0, p + 0.6)
                ax.yaxis.get_major_locator().set_params(integer=True)
                ax.grid(True, axis="y", color=style.GRID_COLOR, linewidth=0.6)
                ax.set_axisbelow(True)
                ax.set_title(f"p = {p}: {what}", loc="left", fontweight="bold", fontsize=style.FONT_SIZE)
        handles, labels = [], []
        for ax in fig.axes:
            hs, ls = ax.get_legend_handles_labels()
            handles += hs
            labels += ls
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.80, 1 - 0.75 / height), frameon=False,
                   fontsize=style.FONT_SIZE - 0.5)
        fig.text(0.06, 1 - 0.2 / height, "Staleness per stage (2BW: two versions and delay 1 everywhere; 1F1B: one version, "
                 "no delay)", fontweight="bold", fontsize=style.FONT_SIZE + 1, va="top")
    style.save_figure(fig, path, ("png", "svg"))


def sweep_figure(sweep: list[dict[str, Any]], main: list[dict[str, Any]], ps: list[int], path: Path) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from pipesim.plot import style

    with style.style_context():
        fig = style.new_figure(8.4, 4.0)
        ax = fig.add_axes((0.09, 0.13, 0.62, 0.74))
        its = sorted({r["iterations"] for r in sweep})
        for i, p in enumerate(ps):
            color = style.SERIES_COLORS[i * 2]
            pts = sorted((r["iterations"], r["iteration_time_s"]) for r in sweep if r["p"] == p)
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", markersize=4, linewidth=1.4, color=color,
                    label=f"PipeDream / 2BW, p = {p}")
            flush = next(r["iteration_time_s"] for r in main
                         if r["level"] == "sim" and r["schedule"] == "1f1b" and r["p"] == p)
            ax.axhline(flush, color=color, linestyle=(0, (5, 3)), linewidth=1.1, label=f"1F1B (flush), p = {p}")
            steady = next((r["steady_state_s"] for r in sweep if r["p"] == p and r.get("steady_state_s")), None)
            if steady:
                ax.axhline(steady, color=color, linestyle=(0, (1, 1.5)), linewidth=1.3,
                           label=f"steady state, p = {p}")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(its))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.set_xlabel("iterations streamed without a flush")
        ax.set_ylabel("time per iteration (s)")
        ax.set_ylim(0, None)
        ax.set_title(f"One fill and one drain amortised over the stream (7B, m = {M})", loc="left",
                     fontweight="bold", fontsize=style.FONT_SIZE)
        ax.grid(True, color=style.GRID_COLOR, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, labelspacing=0.7)
    style.save_figure(fig, path, ("png", "svg"))


def gantt(path: Path) -> None:
    """Two streamed iterations of PipeDream, p = 4: iteration 2 fills while iteration 1 drains."""
    from pipesim.plot import plot_gantt
    from pipesim.runner import run_built
    from pipesim.scenario import build, load_scenario

    out = run_built(build(load_scenario(scenario("pipedream", 4, 2), [])), "sim")
    plot_gantt(out.trace, path, formats=("png", "svg"), width=12.0,
               title=f"PipeDream, p = 4, 2 iterations of m = {M} streamed: iteration 2 (microbatches {M}–{2 * M - 1}) "
                     "follows with no flush")


# --- findings ------------------------------------------------------------------------------

def findings(main: list[dict[str, Any]], stale: list[dict[str, Any]], sweep: list[dict[str, Any]],
             ps: list[int]) -> str:
    def get(sched: str, p: int, key: str, level: str = "sim") -> Any:
        return next(r[key] for r in main if r["schedule"] == sched and r["p"] == p and r["level"] == level)

    out = []
    parts = []
    for p in ps:
        t1, t2, t3 = (get(s, p, "iteration_time_s") for s in SCHEDULES)
        parts.append(f"p = {p}: {t1:.3f} s → {t2:.3f} s ({100 * (1 - t2 / t1):.1f}% less; 2BW {t3:.3f} s, identical "
                     f"order)")
    out.append(f"Dropping the flush shortens an iteration ({ITERATIONS} iterations streamed, m = {M}, sim level): "
               + "; ".join(parts) + ". The table level (free network) agrees within "
               f"{max(abs(get(s, p, 'iteration_time_s') / get(s, p, 'iteration_time_s', 'table') - 1) for s in SCHEDULES for p in ps) * 100:.2f}%.")
    if sweep:
        bits = []
        for p in ps:
            st = next((r["steady_state_s"] for r in sweep if r["p"] == p and r.get("steady_state_s")), None)
            one = next((r["iteration_time_s"] for r in sweep if r["p"] == p and r["iterations"] == 1), None)
            flush = get("1f1b", p, "iteration_time_s")
            if st and one:
                bits.append(f"p = {p}: {100 * (1 - st / flush):.1f}% below 1F1B in steady state (bound "
                            f"{100 * (1 - M / (M + p - 1)):.1f}% = 1 − m/(m+p−1) for uniform stages); one streamed "
                            f"iteration equals 1F1B exactly ({one:.3f} s vs {flush:.3f} s)")
        if bits:
            out.append("The gain grows with the number of iterations streamed, since one fill and one drain are "
                       "amortised over them — " + "; ".join(bits) + ".")
    mem = []
    for p in ps:
        m1, m2, m3 = (get(s, p, "peak_memory_GB") for s in SCHEDULES)
        w = get("1f1b", p, "weights_current_GB")
        mem.append(f"p = {p}: 1F1B {m1:.1f} GB, PipeDream {m2:.1f} GB (+{m2 - m1:.1f} = {p - 1} stashed versions × "
                   f"{w:.2f} GB), 2BW {m3:.1f} GB (+{m3 - m1:.1f}, one extra version)")
    out.append("The memory price is paid on device 0, which stashes the most versions (activations in flight are "
               "the same p − d for all three, as the order is 1F1B's): " + "; ".join(mem) + ".")
    st_bits = []
    for p in ps:
        pd_ = sorted((r for r in stale if r["schedule"] == "pipedream" and r["p"] == p), key=lambda r: r["stage"])
        bw_ = [r for r in stale if r["schedule"] == "pipedream-2bw" and r["p"] == p]
        st_bits.append(f"p = {p}: PipeDream versions {[r['versions'] for r in pd_]} and max delays "
                       f"{[r['max_delay'] for r in pd_]} by stage (mean delay on stage 0 "
                       f"{pd_[0]['mean_delay']:.2f}, lower than {p - 1} only because the first updates are fresher), "
                       f"2BW versions {sorted({r['versions'] for r in bw_})} and max delay "
                       f"{sorted({r['max_delay'] for r in bw_})} on every stage")
    out.append("Staleness is exactly the theory (S−s−1 for PipeDream, 1 for 2BW): " + "; ".join(st_bits) + ".")
    upd = {s: next(r["updates"] for r in stale if r["schedule"] == s and r["p"] == ps[0] and r["stage"] == 0)
           for s in ("pipedream", "pipedream-2bw")}
    out.append("So PipeDream buys its throughput with memory that grows linearly towards the first stage and "
               "gradients up to p−1 updates old; 2BW gets the same throughput for one extra weight copy and a "
               f"one-step delay, updating once per iteration ({upd['pipedream-2bw']} updates in {ITERATIONS} "
               f"iterations against PipeDream's {upd['pipedream']}) and requiring m ≥ p.")
    return "# async_pipelines — findings\n\n" + "\n".join(f"- {x}" for x in out) + "\n"


def main() -> None:
    args = study_args(__doc__.splitlines()[0])
    out = out_dir(args, STUDY)
    ps = list(QUICK_PS if args.quick else PS)
    its = list(QUICK_SWEEP if args.quick else ITERATION_SWEEP)

    jobs, meta = [], []
    for p in ps:
        for sched in SCHEDULES:
            for level in ("sim", "table"):
                jobs.append((scenario(sched, p), (), level))
                meta.append(("main", sched, p, ITERATIONS, level))
        for n in its:
            if n != ITERATIONS:
                jobs.append((scenario("pipedream", p, n), (), "sim"))
                meta.append(("sweep", "pipedream", p, n, "sim"))
    results = run_many(jobs, args.jobs, label=STUDY)

    statics = {(s, p): static_parts(s, p) for s in SCHEDULES for p in ps}
    main_rows: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    sweep: list[dict[str, Any]] = []
    for (kind, sched, p, n, level), res in zip(meta, results, strict=True):
        if "error" in res:
            raise SystemExit(f"{sched} p={p} iterations={n} ({level}): {res['error']}")
        row: dict[str, Any] = {"schedule": sched, "p": p, "m": M, "level": level,
                               "iterations": res["iterations_simulated"], "makespan_s": res["makespan"],
                               "iteration_time_s": res["iteration_time"], "samples_per_s": res["samples_per_s"],
                               "tokens_per_s": res["tokens_per_s"], "bubble_ratio": res["bubble_ratio"]}
        if kind == "sweep" or (kind == "main" and sched == "pipedream" and level == "sim"):
            sweep.append(dict(row))
        if kind == "sweep":
            continue
        if level == "sim":
            peaks = res["peak_memory_bytes"]
            d = max(range(len(peaks)), key=lambda i: (peaks[i], -i))
            st = statics[(sched, p)][d]
            act = peaks[d] - st["weights_all_versions"] - st["grad_opt_bytes"]
            row.update({
                "peak_device": d,
                "peak_memory_GB": peaks[d] / 1e9,
                "weights_current_GB": st["weight_bytes"] / 1e9,
                "weights_stashed_GB": (st["weights_all_versions"] - st["weight_bytes"]) / 1e9,
                "grad_opt_GB": st["grad_opt_bytes"] / 1e9,
                "activations_GB": act / 1e9,
                "weight_versions_dev0": statics[(sched, p)][0]["versions"],
                "peak_activations_dev0": res["peak_activations"][0],
                "fits_in_memory": res.get("fits_in_memory"),
            })
            for s_row in (res.get("staleness") or {}).get("stages", []):
                stale.append({"schedule": sched, "p": p, **s_row})
            if sched == "1f1b":
                stale.extend({"schedule": sched, "p": p, "stage": s, "device": s, "versions": 1, "max_delay": 0,
                              "mean_delay": 0.0, "updates": 1} for s in range(p))
        main_rows.append(row)

    # Steady state: the marginal time of an iteration between the two longest streams.
    for p in ps:
        pts = sorted((r["iterations"], r["makespan_s"]) for r in sweep if r["p"] == p)
        if len(pts) >= 2 and pts[-1][0] > pts[-2][0] >= 2:
            (n1, t1), (n2, t2) = pts[-2], pts[-1]
            for r in sweep:
                if r["p"] == p:
                    r["steady_state_s"] = (t2 - t1) / (n2 - n1)
    sweep.sort(key=lambda r: (r["p"], r["iterations"]))

    pct = {"bubble_ratio": lambda v: f"{100 * v:.1f}%"}
    cols = ("schedule", "p", "m", "level", "iterations", "makespan_s", "iteration_time_s", "samples_per_s",
            "tokens_per_s", "bubble_ratio", "peak_device", "peak_memory_GB", "weights_current_GB",
            "weights_stashed_GB", "grad_opt_GB", "activations_GB", "weight_versions_dev0", "peak_activations_dev0",
            "fits_in_memory")
    write_table(main_rows, cols, out / "table", pct)
    write_table(stale, ("schedule", "p", "stage", "device", "versions", "max_delay", "mean_delay", "updates"),
                out / "staleness")
    write_table(sweep, ("schedule", "p", "m", "iterations", "makespan_s", "iteration_time_s", "steady_state_s",
                        "bubble_ratio"), out / "iterations_sweep", pct)

    time_memory_figure(main_rows, ps, out / "iteration_time_and_memory")
    staleness_figure(stale, ps, out / "staleness")
    sweep_figure(sweep, main_rows, ps, out / "iteration_time_vs_iterations")
    if not args.quick:
        gantt(out / "gantt_pipedream_p4")
    (out / "FINDINGS.md").write_text(findings(main_rows, stale, sweep, ps))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
