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

from pipesim.plot import Axis, Bars, Note, Panel, Rule, Series, plot_panels
from pipesim.plot.style import SERIES_COLORS, mix, schedule_color, schedule_label

STUDY = "async_pipelines"
SCHEDULES = ("1f1b", "pipedream", "pipedream-2bw")
LABELS = {"1f1b": schedule_label("1f1b") + " (flush)", "pipedream": schedule_label("pipedream"),
          "pipedream-2bw": schedule_label("pipedream-2bw")}
COLORS = {s: schedule_color(s) for s in LABELS}
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


def device_parts(built: Any, outcome: Any) -> list[dict[str, float]]:
    """Per device (in the worker, where the built schedule is): bytes of one weight copy, of the
    gradient buffer plus optimizer state, and the most weight versions a stage on it keeps. The
    stashed versions are what the simulator's static memory holds beyond these, so the split
    always adds up to pipesim's own memory account."""
    lay, costs = built.schedule.layout, built.costs
    versions = lay.notes.get("weight_versions") or [1] * lay.num_stages
    return [{"weight_bytes": sum(costs.param_bytes[s] for s in stages),
             "grad_opt_bytes": sum(costs.param_bytes[s] + costs.optimizer_bytes[s] for s in stages),
             "versions": max(float(versions[s]) for s in stages)} for stages in lay.device_stages]


# --- figures -------------------------------------------------------------------------------

def _bar_positions(n_groups: int, n_bars: int) -> tuple[list[list[float]], float]:
    width = 0.8 / n_bars
    return [[g + (i - (n_bars - 1) / 2) * width for g in range(n_groups)] for i in range(n_bars)], width


def time_memory_figure(main: list[dict[str, Any]], ps: list[int], path: Path) -> None:
    sims = [r for r in main if r["level"] == "sim"]
    table = {(r["schedule"], r["p"]): r["iteration_time_s"] for r in main if r["level"] == "table"}
    pos, width = _bar_positions(len(ps), len(SCHEDULES))
    ticks = Axis(ticks=list(range(len(ps))), ticklabels=[f"p = {p}" for p in ps])
    table_mark = Series(color="#222222", marker="_", size=14, edge_width=1.4, line="none",
                        label="table level\n(free network)")

    def value(sched: str, p: int, key: str) -> float:
        return next(r[key] for r in sims if r["schedule"] == sched and r["p"] == p)

    time_bars, time_notes, marks = [], [], []
    for i, sched in enumerate(SCHEDULES):
        vals = [value(sched, p, "iteration_time_s") for p in ps]
        time_bars.append(Bars(pos[i], vals, width=width * 0.95, color=COLORS[sched], label=LABELS[sched]))
        time_notes += [Note(x, v, f"{v:.2f}", offset=(0, 4), ha="center", size=-1.5) for x, v in zip(pos[i], vals,
                                                                                                      strict=True)]
        marks.append(Series(pos[i], [table[(sched, p)] for p in ps], color="#222222", marker="_", size=14,
                            edge_width=1.4, line="none"))
    parts = (("weights_current_GB", "weights (current version)", 1.0),
             ("weights_stashed_GB", "stashed weight versions", 0.55),
             ("grad_opt_GB", "gradients + Adam state", 0.3),
             ("activations_GB", "activations in flight", 0.8))
    memory_bars, memory_notes = [], []
    for i, sched in enumerate(SCHEDULES):
        base = [0.0] * len(ps)
        for key, _label, tint in parts:
            vals = [value(sched, p, key) for p in ps]
            memory_bars.append(Bars(pos[i], vals, bottom=base, width=width * 0.95,
                                    color=mix(COLORS[sched], (1.0, 1.0, 1.0), 1 - tint),
                                    hatch="////" if key == "weights_stashed_GB" else None))
            base = [b + v for b, v in zip(base, vals, strict=True)]
        memory_notes += [Note(x, v, f"{v:.1f}", ha="center", size=-1.5) for x, v in zip(pos[i], base, strict=True)]
    memory_notes.append(Note(len(ps) - 0.5, MEMORY_GB, f"A100 {MEMORY_GB:g} GB ", ha="right", size=-1.5,
                             color="#CC3311"))
    top = max(r["iteration_time_s"] for r in sims)
    panels = [
        Panel(bars=time_bars, series=marks, notes=time_notes, grid="y",
              title=f"(a) time per iteration (m = {M}, {ITERATIONS} iterations streamed)",
              x=ticks, y=Axis("time per iteration (s)", limits=(0, top * 1.15))),
        Panel(bars=memory_bars, notes=memory_notes, grid="y", rules=[Rule(MEMORY_GB, color="#CC3311",
                                                                          line=(0, (4.0, 2.0)))],
              title="(b) peak memory (device 0), by component",
              x=ticks, y=Axis("peak memory of the fullest GPU (GB)", limits=(0, MEMORY_GB * 1.12))),
    ]
    # One legend: schedule colours, then the component shades (in grey).
    legend: list[Series | Bars] = [Bars(color=COLORS[s], label=LABELS[s]) for s in SCHEDULES]
    legend.append(table_mark)
    legend += [Bars(color=mix("#555555", (1.0, 1.0, 1.0), 1 - tint), label=label,
                    hatch="////" if key == "weights_stashed_GB" else None) for key, label, tint in reversed(parts)]
    plot_panels(panels, path, columns=2, width=12.0, row_height=3.9, legend=legend, legend_at="right",
                title="Async pipelines: no flush buys time, stashed weights cost memory (7B, A100, NVLink3 + IB HDR)",
                margins=(0.66, 2.45, 0.65, 0.55), gaps=(0.8, 0.5), formats=("png", "svg"))


def staleness_figure(stale: list[dict[str, Any]], ps: list[int], path: Path) -> None:
    panels = []
    for row, p in enumerate(ps):
        pos, width = _bar_positions(p, len(SCHEDULES))
        xs = list(range(p))
        for key, offset, what in (("versions", 0, "weight versions kept"),
                                  ("max_delay", 1, "max gradient delay (local updates)")):
            bars = [Bars(pos[i], [next(r[key] for r in stale if r["schedule"] == sched and r["p"] == p
                                       and r["stage"] == s) for s in xs], width=width * 0.95, color=COLORS[sched])
                    for i, sched in enumerate(SCHEDULES)]
            theory = Series(xs, [p - s - offset for s in xs], color="#222222", marker="_", size=22 - p, edge_width=1.5,
                            line="none")
            panels.append(Panel(bars=bars, series=[theory], grid="y", title=f"p = {p}: {what}",
                                x=Axis("stage s" if row == len(ps) - 1 else "", ticks=xs, fmt="{:g}"),
                                y=Axis(what, limits=(0, p + 0.6), integer=True)))
    legend: list[Series | Bars] = [Bars(color=COLORS[s], label=LABELS[s]) for s in SCHEDULES]
    legend.append(Series(color="#222222", marker="_", size=14, edge_width=1.5, line="none",
                         label="PipeDream theory:\nversions p−s, delay p−s−1"))
    plot_panels(panels, path, columns=2, width=11.5, row_height=2.5, legend=legend, legend_at="right",
                title="Staleness per stage (2BW: two versions and delay 1 everywhere; 1F1B: one version, no delay)",
                margins=(0.7, 2.4, 0.75, 0.5), gaps=(0.75, 0.6), formats=("png", "svg"))


def sweep_figure(sweep: list[dict[str, Any]], main: list[dict[str, Any]], ps: list[int], path: Path) -> None:
    its = sorted({r["iterations"] for r in sweep})
    series, rules = [], []
    for i, p in enumerate(ps):
        color = SERIES_COLORS[i * 2]
        pts = sorted((r["iterations"], r["iteration_time_s"]) for r in sweep if r["p"] == p)
        series.append(Series([x for x, _ in pts], [y for _, y in pts], color=color, marker="o", size=4,
                             label=f"PipeDream / 2BW, p = {p}"))
        flush = next(r["iteration_time_s"] for r in main
                     if r["level"] == "sim" and r["schedule"] == "1f1b" and r["p"] == p)
        rules.append(Rule(flush, color=color, line=(0, (5.0, 3.0)), width=1.1, label=f"1F1B (flush), p = {p}"))
        steady = next((r["steady_state_s"] for r in sweep if r["p"] == p and r.get("steady_state_s")), None)
        if steady:
            rules.append(Rule(steady, color=color, line=(0, (1.0, 1.5)), width=1.3, label=f"steady state, p = {p}"))
    panel = Panel(series=series, rules=rules, legend="right",
                  title=f"One fill and one drain amortised over the stream (7B, m = {M})",
                  x=Axis("iterations streamed without a flush", "log", ticks=its, fmt="{:g}"),
                  y=Axis("time per iteration (s)", limits=(0, None)))
    plot_panels([panel], path, columns=1, width=8.4, row_height=3.7, margins=(0.75, 2.3, 0.35, 0.55),
                formats=("png", "svg"))


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
    results = run_many(jobs, args.jobs, label=STUDY, measure=device_parts)

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
            part, static = res["measured"][d], res["static_memory_bytes"][d]
            row.update({
                "peak_device": d,
                "peak_memory_GB": peaks[d] / 1e9,
                "weights_current_GB": part["weight_bytes"] / 1e9,
                "weights_stashed_GB": (static - part["weight_bytes"] - part["grad_opt_bytes"]) / 1e9,
                "grad_opt_GB": part["grad_opt_bytes"] / 1e9,
                "activations_GB": (peaks[d] - static) / 1e9,
                "weight_versions_dev0": res["measured"][0]["versions"],
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
