"""How link contention reorders pipeline schedules.

On a free network (the table level) the schedules rank by their bubbles. On a real cluster
their traffic competes for links, and schedules differ in how much they send (interleaved and
ZB-V cross each device boundary twice as often as 1F1B), in whether they carry a second model
replica (Chimera all-reduces the gradients of every model part between two devices, inside the
iteration) and in when each stage's gradients are ready for the data-parallel all-reduce (ZB's
deferred weight-gradient passes finish late). Three kinds of contention, each swept on its own,
with the workload of a GPT-3 2.7B model (selective recompute) on A100s, p = 8, m = 16:

(a) NIC sharing. 8 nodes x 8 GPUs; pipeline stage d on node d, the 8 data-parallel replicas on
    the 8 GPUs of every node (PP across nodes, DP inside them), so every boundary message crosses
    InfiniBand and the 8 replicas send theirs at the same moments. ``gpus_per_nic`` k in
    {1, 2, 4, 8}: k GPUs share one 200 Gb/s HDR port.
(b) Data-parallel replicas over the same links. 4-GPU nodes with one HDR port each; each replica
    spans two nodes (stages 0-3 and 4-7, the default replica-major placement), dp in {1, 2, 4};
    every stage's gradient all-reduce crosses nodes and shares the node's port with the
    pipeline traffic of the stages beside it.
(c) Oversubscribed spine. As (a) with one port per GPU, but two nodes per leaf switch (4 leaves),
    leaf uplinks carrying 1/o of the ports below them, o in {1, 2, 4, 8}.

Every schedule is also evaluated at the table level (zero-time transfers) as the free-network
reference. For the most contended point of each sweep the script also reports the busiest
link, the worst delivery delay of a pipeline message against the same message alone on the
idle network, and the queueing delay under FIFO links (under fair sharing a transfer starts at
once, so the fair-policy queueing delay is zero by construction).

    python scenarios/studies/link_contention.py [--quick] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import lone_transfer_time, out_dir, run_many, study_args, write_table

from pipesim.plot import Axis, Note, Panel, Series, plot_panels
from pipesim.plot.style import schedule_color, schedule_label

STUDY = "link_contention"
P, M = 8, 16
MODEL = {"preset": "gpt3-2.7b", "microbatch_size": 1, "recompute": "selective", "optimizer": "adam"}
SCHEDULES = ("1f1b", "gpipe", "interleaved", "zb-h1", "zb-v", "chimera")
QUICK_SCHEDULES = ("1f1b", "gpipe", "interleaved", "chimera")
SWEEPS = {  # name -> (parameter, values, quick values, axis label)
    "nic": ("gpus_per_nic", (1, 2, 4, 8), (1, 8), "GPUs sharing one NIC (k)"),
    "dp": ("dp", (1, 2, 4), (1, 2), "data-parallel replicas (dp)"),
    "spine": ("oversubscription", (1, 2, 4, 8), (1, 8), "leaf-spine oversubscription (o)"),
}
TITLES = {
    "nic": "(a) k GPUs share one NIC: PP across 8 nodes, 8 DP replicas inside them",
    "dp": "(b) DP replicas share each node's NIC with the pipeline (4-GPU nodes, 1 NIC each)",
    "spine": "(c) oversubscribed spine: 2 nodes per leaf, PP across leaves, 8 DP replicas",
}
GPN_A = 8  # GPUs per node in (a) and (c): the 8 data-parallel replicas
GPN_B = 4  # GPUs per node in (b): a replica's 8 stages span two nodes


def scenario(sweep: str, schedule: str, value: int, policy: str = "fair") -> dict[str, Any]:
    """The scenario dict of one point of ``sweep`` (see the module doc)."""
    topo: dict[str, Any] = {"kind": "cluster", "intra": "nvlink3", "inter": "ib-hdr"}
    par: dict[str, Any] = {"pp": P, "microbatches": M}
    if sweep in ("nic", "spine"):
        dp = GPN_A
        topo.update(num_nodes=P, gpus_per_node=GPN_A, gpus_per_nic=value if sweep == "nic" else 1)
        if sweep == "spine":
            topo.update(nodes_per_leaf=2, oversubscription=value)
        # Replica-major placement: replica r, pipeline device d -> node d, GPU r.
        par.update(dp=dp, placement=[d * GPN_A + r for r in range(dp) for d in range(P)])
    elif sweep == "dp":
        topo.update(num_nodes=P * value // GPN_B, gpus_per_node=GPN_B, gpus_per_nic=GPN_B)
        par.update(dp=value)
    else:
        raise ValueError(f"unknown sweep {sweep!r}; known: {', '.join(SWEEPS)}")
    options = {"v": 2} if schedule == "interleaved" else {}
    return {
        "name": f"{STUDY}-{sweep}-{schedule}-{value}",
        "model": dict(MODEL),
        "hardware": {"gpu": "A100"},
        "topology": topo,
        "network": {"policy": policy, "chunk_bytes": "4 MiB"},
        "parallel": par,
        "schedule": {"name": schedule, "options": options},
    }


def contention_facts(built: Any, outcome: Any) -> dict[str, Any]:
    """Runs in the worker, where the trace is: the GPUs in use and, at the sim level, the worst
    pipeline message against itself alone on the idle network (same policy and chunking), the
    delay contention added. Only the slowest deliveries can hold the maximum, so only they are
    replayed."""
    facts: dict[str, Any] = {"gpus": P * built.sim_options.dp}
    if outcome.level != "sim":
        return facts
    opts = built.sim_options
    network = {"policy": opts.policy, "chunk_bytes": opts.chunking.spelling(), "overhead": opts.overhead}
    msgs = [m for m in outcome.trace.messages if m.kind in ("act", "grad")]
    msgs.sort(key=lambda m: m.arrived - m.sent, reverse=True)
    alone: dict[tuple[int, int, float], float] = {}
    extra, stretch = 0.0, 1.0
    gpu = outcome.result.simulation.placement  # trace lane -> topology device
    for msg in msgs[:12]:
        key = (gpu[msg.src], gpu[msg.dst], msg.nbytes)
        if key not in alone:
            alone[key] = lone_transfer_time(built.scenario.topology, network, *key)
        if msg.arrived - msg.sent - alone[key] > extra:
            extra, stretch = msg.arrived - msg.sent - alone[key], (msg.arrived - msg.sent) / alone[key]
    facts.update(worst_msg_extra_s=extra, worst_msg_stretch=stretch)
    return facts


def run_all(jobs: Sequence[tuple[str, str, int, str, str]], workers: int | None) -> list[dict[str, Any]]:
    """Every point -> throughput, timing split and contention figures."""
    results = run_many([(scenario(sweep, schedule, value, policy), (), level)
                        for sweep, schedule, value, level, policy in jobs], workers, label=STUDY,
                       measure=contention_facts)
    rows = []
    for (sweep, schedule, value, level, policy), met in zip(jobs, results, strict=True):
        if "error" in met:
            raise SystemExit(f"{sweep} {schedule} {value} ({level}, {policy}): {met['error']}")
        gpus = met["measured"]["gpus"]
        row: dict[str, Any] = {
            "sweep": sweep, "param": SWEEPS[sweep][0], "value": value, "schedule": schedule, "level": level,
            "policy": policy if level == "sim" else "",
            "gpus": gpus,
            "iteration_time_s": met["makespan"],
            "tokens_per_s_per_gpu": (met["tokens_per_s"] or 0.0) / gpus,
            "bubble_ratio": met["bubble_ratio"],
        }
        if level == "sim":
            busiest = met["busiest_link"] or {}
            wait = met["waiting_for_data"]
            row.update({
                "compute_end_s": met["compute_end"],
                "busiest_link": busiest.get("name", ""),
                "busiest_utilisation": busiest.get("utilisation", 0.0),
                "max_queueing_delay_s": met["max_queueing_delay"],
                "worst_msg_extra_s": met["measured"]["worst_msg_extra_s"],
                "worst_msg_stretch": met["measured"]["worst_msg_stretch"],
                "max_waiting_for_data_s": max(wait) if wait else 0.0,
                "gb_moved": met["bytes_moved"] / 1e9,
            })
        rows.append(row)
    return rows


def add_ranks(rows: list[dict[str, Any]]) -> None:
    """Rank schedules by throughput within every (sweep, value, level) column; equal throughputs
    (GPipe and 1F1B often tie exactly) share the better rank."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if r["level"] == "table" or r["policy"] == "fair":
            groups.setdefault((r["sweep"], r["value"], r["level"]), []).append(r)
    for members in groups.values():
        for r in members:
            better = sum(1 for o in members if o["tokens_per_s_per_gpu"] > r["tokens_per_s_per_gpu"] * (1 + 1e-9))
            r["rank"] = better + 1


def columns_of(rows: list[dict[str, Any]], sweep: str, schedules: Sequence[str]) -> list[tuple[str, dict]]:
    """The x positions of a sweep: the free network (table level) first, then each value.
    Returns (label, {schedule: row})."""
    table = {r["schedule"]: r for r in rows if r["sweep"] == sweep and r["level"] == "table"}
    cols = [("free\n(table)", table)]
    for v in sorted({r["value"] for r in rows if r["sweep"] == sweep and r["level"] == "sim"}):
        cols.append((str(v), {r["schedule"]: r for r in rows if r["sweep"] == sweep and r["level"] == "sim"
                              and r["policy"] == "fair" and r["value"] == v}))
    return cols


# --------------------------------------------------------------------------------------------
# Figures

COLORS = {s: schedule_color(s) for s in ("1f1b", "gpipe", "interleaved", "zb-h1", "zb-v", "chimera")}
MARKERS = {"1f1b": "o", "gpipe": "s", "interleaved": "D", "zb-h1": "v", "zb-v": "^", "chimera": "P"}


def plot_sweep(rows: list[dict[str, Any]], sweep: str, schedules: Sequence[str], path: Path) -> None:
    """Left: throughput per GPU vs the contention parameter (free network first). Right: the
    rank of every schedule at each point (bump chart)."""
    cols = columns_of(rows, sweep, schedules)
    xs = list(range(len(cols)))
    names = [c[0] for c in cols]
    lines = []
    for s in schedules:
        ys = [c[1][s]["tokens_per_s_per_gpu"] for c in cols]
        # Dotted from the free network to the first simulated point: a change of level.
        lines.append(Series(xs[:2], ys[:2], color=COLORS[s], marker=MARKERS[s], size=5, line=":", width=1.2))
        # GPipe and 1F1B often coincide: dash GPipe so the line beneath stays visible.
        lines.append(Series(xs[1:], ys[1:], color=COLORS[s], marker=MARKERS[s], size=5, width=1.6,
                            line=(0, (4.0, 2.0)) if s == "gpipe" else "-"))
    # Bump chart; tied schedules are nudged apart so both stay visible.
    nudged: dict[str, list[float]] = {s: [] for s in schedules}
    for _, col in cols:
        seen: dict[int, int] = {}
        for s in schedules:
            rk = col[s]["rank"]
            nudged[s].append(rk + 0.22 * seen.get(rk, 0))
            seen[rk] = seen.get(rk, 0) + 1
    bumps = [Series(xs, nudged[s], color=COLORS[s], marker=MARKERS[s], size=6, width=2.0, alpha=0.9) for s in schedules]
    ends = [Note(xs[-1] + 0.15, nudged[s][-1], schedule_label(s), color=COLORS[s], va="center", size=-1.5, bold=True)
            for s in schedules]
    n = len(schedules)
    panels = [
        Panel(series=lines, spans=[(-0.4, 0.5)], title="throughput", weight=2.0,
              x=Axis(SWEEPS[sweep][3], ticks=xs, ticklabels=names, limits=(-0.4, len(cols) - 0.6)),
              y=Axis("throughput (tokens/s per GPU)")),
        Panel(series=bumps, notes=ends, title="rank", grid="x", weight=1.0,
              x=Axis(SWEEPS[sweep][3], ticks=xs, ticklabels=names, limits=(-0.4, len(cols) - 0.1)),
              y=Axis("rank by throughput (1 = fastest)", ticks=list(range(1, n + 1)), fmt="{:g}",
                     limits=(n + 0.6, 0.4))),
    ]
    plot_panels(panels, path, columns=2, width=11.0, row_height=3.45, title=TITLES[sweep],
                subtitle=f"GPT-3 2.7B (selective recompute) on A100, p = {P}, m = {M}, 200 Gb/s HDR InfiniBand ports, "
                         "fair link sharing; dotted: from the free network (table level) to the simulation",
                legend=[Series(color=COLORS[s], marker=MARKERS[s], size=5, width=1.6, label=schedule_label(s),
                               line=(0, (4.0, 2.0)) if s == "gpipe" else "-") for s in schedules],
                legend_columns=len(schedules), margins=(0.75, 1.25, 0.95, 0.95), gaps=(0.95, 0.55),
                formats=("png", "svg"))


# --------------------------------------------------------------------------------------------
# Findings


def flips(rows: list[dict[str, Any]], sweep: str, schedules: Sequence[str]) -> list[dict[str, Any]]:
    """Every reversal of order between two neighbouring columns. Schedules that tie in both
    columns (GPipe and 1F1B) are reported together as one entry ("1f1b = gpipe")."""
    cols = columns_of(rows, sweep, schedules)
    tol = 1e-9
    out = []
    for (la, a), (lb, b) in itertools.pairwise(cols):
        pairs: dict[tuple, dict[str, Any]] = {}
        for s, t in itertools.combinations(schedules, 2):
            sa, ta = a[s]["tokens_per_s_per_gpu"], a[t]["tokens_per_s_per_gpu"]
            sb, tb = b[s]["tokens_per_s_per_gpu"], b[t]["tokens_per_s_per_gpu"]
            before, after = sa - ta, sb - tb
            if abs(before) <= tol * max(sa, ta) or abs(after) <= tol * max(sb, tb) or before * after > 0:
                continue
            win, lose = (s, t) if after > 0 else (t, s)
            numbers = (round(a[win]["tokens_per_s_per_gpu"], 6), round(a[lose]["tokens_per_s_per_gpu"], 6),
                       round(b[win]["tokens_per_s_per_gpu"], 6), round(b[lose]["tokens_per_s_per_gpu"], 6))
            entry = pairs.setdefault(numbers, {"win": [], "lose": []})
            entry["win"].append(win)
            entry["lose"].append(lose)
        for numbers, e in pairs.items():
            out.append({"sweep": sweep, "from": la.replace("\n", " "), "to": lb,
                        "overtakes": " = ".join(dict.fromkeys(e["win"])),
                        "overtaken": " = ".join(dict.fromkeys(e["lose"])),
                        "before": numbers[:2], "after": numbers[2:]})
    return out


def _order(col: dict[str, dict[str, Any]]) -> str:
    ranked = sorted(col.values(), key=lambda r: (r["rank"], r["schedule"]))
    out: list[str] = []
    prev = None
    for r in ranked:
        sep = " = " if prev is not None and r["rank"] == prev else " > "
        out.append((sep if out else "") + r["schedule"])
        prev = r["rank"]
    return "".join(out)


def findings(rows: list[dict[str, Any]], contention: list[dict[str, Any]], schedules: Sequence[str]) -> str:
    """A handful of statements; every number comes from ``rows`` (the generated table)."""
    sym = {"nic": "k", "dp": "dp", "spine": "o"}
    letter = {s: "abc"[i] for i, s in enumerate(SWEEPS)}
    sweeps = [s for s in SWEEPS if any(r["sweep"] == s and r["level"] == "sim" for r in rows)]
    tps = "tokens_per_s_per_gpu"
    lines = ["# Link contention and the ranking of schedules: findings", ""]
    free = columns_of(rows, sweeps[0], schedules)[0][1]
    speeds = ", ".join(f"{s} {free[s][tps]:.0f}" for s in sorted(schedules, key=lambda s: -free[s][tps]))
    text = f"- Free network (table level): {_order(free)} ({speeds} tokens/s per GPU)."
    if "1f1b" in schedules and "gpipe" in schedules:
        sim = [r for r in rows if r["level"] == "sim" and r["policy"] == "fair"]
        pairs: dict[tuple[str, int], dict[str, float]] = {(r["sweep"], r["value"]): {} for r in sim}
        for r in sim:
            pairs[(r["sweep"], r["value"])][r["schedule"]] = r[tps]
        split = [k for k, v in pairs.items() if abs(v["1f1b"] - v["gpipe"]) > 1e-9 * v["1f1b"]]
        text += (" GPipe and 1F1B tie, as their closed forms say, and stay tied at every simulated point." if not split
                 else f" GPipe and 1F1B tie at the table level; contention separates them at {len(split)} points.")
    lines.append(text)
    # The level gap: the least contended point of each sweep against the free network.
    gap = []
    for sweep in sweeps:
        cols = columns_of(rows, sweep, schedules)
        loss = {s: 1 - cols[1][1][s][tps] / cols[0][1][s][tps] for s in schedules}
        worst = max(schedules, key=lambda s: loss[s])
        others = max(loss[s] for s in schedules if s != worst)
        gap.append(f"({letter[sweep]}) {sym[sweep]} = {cols[1][0]}: {worst} -{100 * loss[worst]:.1f}%, others at most "
                   f"-{100 * others:.1f}%")
    free_flips: dict[str, list[str]] = {}
    for sweep in sweeps:
        for f in flips(rows, sweep, schedules):
            if f["from"].startswith("free"):
                free_flips.setdefault(f"{f['overtakes']} overtakes {f['overtaken']}", []).append(letter[sweep])
    lines.append("- Table vs simulation at the least contended point: " + "; ".join(gap) + "."
                 + (" Chimera's per-part replica all-reduce costs nothing at the table level but crosses InfiniBand "
                    "here (devices d and 7 - d sit on different nodes)" if "chimera" in schedules else "")
                 + ("; that alone reorders the free-network ranking: " + "; ".join(
                     f"{k} in ({', '.join(v)})" for k, v in free_flips.items()) if free_flips else "")
                 + ".")
    for sweep in sweeps:
        cols = columns_of(rows, sweep, schedules)
        first, last = cols[1], cols[-1]
        sim_fl = [f for f in flips(rows, sweep, schedules) if not f["from"].startswith("free")]
        text = (f"- **({letter[sweep]}) {sym[sweep]} = {first[0]} → {last[0]}**: {_order(first[1])} becomes "
                f"{_order(last[1])}. ")
        text += ("Flips: " + "; ".join(
            f"{f['overtakes']} overtakes {f['overtaken']} at {sym[sweep]} = {f['to']} "
            f"({f['before'][0]:.0f} vs {f['before'][1]:.0f} → {f['after'][0]:.0f} vs {f['after'][1]:.0f} tokens/s/GPU)"
            for f in sim_fl) + ". ") if sim_fl else "No flip inside the sweep. "
        drops = {s: 1 - last[1][s][tps] / first[1][s][tps] for s in schedules}
        text += ("Throughput lost across the sweep: "
                 + ", ".join(f"{s} {100 * drops[s]:.1f}%" for s in sorted(schedules, key=lambda s: -drops[s])) + ".")
        if sweep == "dp":
            plain = [s for s in schedules if s != "chimera"]
            comp = {s: last[1][s]["compute_end_s"] / first[1][s]["compute_end_s"] - 1 for s in schedules}
            tail = {s: last[1][s]["iteration_time_s"] - last[1][s]["compute_end_s"] for s in schedules}
            text += (f" The pipeline traffic itself hardly slows (the last backward ends at most "
                     f"{100 * max(comp[s] for s in plain):.1f}% later"
                     + (("; Chimera's in-iteration replica all-reduce, overlapped with compute, does not "
                         "stretch it" if abs(comp["chimera"]) < 5e-4 else
                         f"; Chimera's in-iteration replica all-reduce stretches its compute by "
                         f"{100 * comp['chimera']:.1f}%") if "chimera" in comp else "")
                     + f"). What reorders the others is the gradient all-reduce left after the last backward at "
                     f"dp = {last[0]}: " + ", ".join(f"{s} {1e3 * tail[s]:.0f} ms"
                                                       for s in sorted(plain, key=lambda s: -tail[s]))
                     + ". The zero-bubble schedules end every stage's deferred weight gradients at nearly the same "
                     "moment, so all stages' all-reduces share the node's NIC at once; 1F1B's stages finish one "
                     "after another and interleaved reduces its second chunks while the first still compute.")
        lines.append(text)
    if contention:
        lines.append("- Most contended points: " + "; ".join(
            f"({letter[c['sweep']]}) {sym[c['sweep']]} = {c['value']}: busiest link {c['busiest_link']} "
            f"({c['schedule']}) busy {100 * c['busiest_utilisation']:.1f}% of the iteration, worst pipeline message "
            f"{1e3 * c['worst_msg_extra_s']:.2f} ms late ({c['worst_msg_stretch']:.1f}x its time alone, "
            f"{c['worst_msg_schedule']}), FIFO-link queueing delay up to {1e3 * c['fifo_queueing_delay_s']:.1f} ms "
            f"({c['fifo_schedule']})" for c in contention)
            + ". Under fair sharing the queueing delay is 0 by construction (a transfer starts at once, at a "
            "reduced rate), so the late-message figure is the measure of contention.")
    nic_sim = [r for r in rows if r["sweep"] == "nic" and r["level"] == "sim"]
    top = max((r["value"] for r in nic_sim), default=None)
    nic = {(r["schedule"], r["policy"]): r for r in nic_sim if r["value"] == top}
    if ("1f1b", "fair") in nic and ("1f1b", "fifo") in nic:
        a, b = nic[("1f1b", "fair")], nic[("1f1b", "fifo")]
        lines.append(
            f"- Fair sharing is the worst case for lockstep replicas: at k = {a['value']}, 1F1B takes "
            f"{a['iteration_time_s']:.4f} s with fair links and {b['iteration_time_s']:.4f} s with FIFO links, because "
            "FIFO delivers the 8 replicas' simultaneous messages one after another (the first after 1x its time "
            "alone) while fair sharing delivers all of them after 8x."
        )
    if {"chimera", "1f1b", "zb-v"} <= set(schedules) and "nic" in sweeps:
        nic_cols = columns_of(rows, "nic", schedules)
        k1, kmax = nic_cols[1][1], nic_cols[-1][1]
        loss = {s: 1 - kmax[s][tps] / k1[s][tps] for s in ("zb-v", "1f1b", "chimera")}
        lead_max = 100 * (kmax["chimera"][tps] / kmax["1f1b"][tps] - 1)
        # Who is first at each simulated point (column 0 is the table level).
        first_at = {v: max(col, key=lambda s, col=col: col[s][tps]) for v, col in nic_cols[1:]}
        zbv_first = [f"k = {v}" for v, s in first_at.items() if s == "zb-v"]
        lines.append(
            "- Against the papers: on a free network Chimera beats 1F1B/GPipe by "
            f"{100 * (free['chimera'][tps] / free['1f1b'][tps] - 1):.0f}%, in line with its paper, whose evaluation "
            "ran on Piz Daint with one GPU per node, closest to k = 1 here, where pipesim keeps it "
            f"{100 * (k1['chimera'][tps] / k1['1f1b'][tps] - 1):.0f}% ahead of 1F1B; at k = {nic_cols[-1][0]} its "
            f"lead is {lead_max:+.0f}% (it loses {100 * loss['chimera']:.1f}% across the sweep). The replica "
            "all-reduce of each model part runs as one ring over all its copies (2 pipeline copies x dp), ordered "
            "so that a copy's dp replicas are neighbours and the ring leaves a node only between pipeline copies. "
            "ZB-V, which sends twice 1F1B's boundary "
            f"traffic (Zero Bubble paper), loses {100 * loss['zb-v']:.1f}% from k = "
            f"{nic_cols[1][0]} to {nic_cols[-1][0]} against 1F1B's {100 * loss['1f1b']:.1f}%"
            + (" and stays first everywhere." if len(zbv_first) == len(first_at) else
               f"; it is first at {', '.join(zbv_first) or 'no point'} of the sweep, "
               + ", ".join(f"{s} at k = {v}" for v, s in first_at.items() if s != "zb-v") + ".")
        )
    return "\n".join(lines) + "\n"


def contention_summary(rows: list[dict[str, Any]], schedules: Sequence[str]) -> list[dict[str, Any]]:
    """Per sweep, its most contended point: busiest link over all schedules, worst message, and
    the FIFO runs' queueing delay."""
    out = []
    for sweep in SWEEPS:
        sim = [r for r in rows if r["sweep"] == sweep and r["level"] == "sim"]
        if not sim:
            continue
        top = max(r["value"] for r in sim)
        fair = [r for r in sim if r["value"] == top and r["policy"] == "fair"]
        fifo = [r for r in sim if r["value"] == top and r["policy"] == "fifo"]
        busy = max(fair, key=lambda r: r["busiest_utilisation"])
        late = max(fair, key=lambda r: r["worst_msg_extra_s"])
        queue = max(fifo, key=lambda r: r["max_queueing_delay_s"]) if fifo else None
        out.append({
            "sweep": sweep, "value": top, "schedule": busy["schedule"], "busiest_link": busy["busiest_link"],
            "busiest_utilisation": busy["busiest_utilisation"],
            "max_queueing_delay_s": max(r["max_queueing_delay_s"] for r in fair),
            "worst_msg_extra_s": late["worst_msg_extra_s"], "worst_msg_stretch": late["worst_msg_stretch"],
            "worst_msg_schedule": late["schedule"],
            "fifo_queueing_delay_s": queue["max_queueing_delay_s"] if queue else float("nan"),
            "fifo_schedule": queue["schedule"] if queue else "",
        })
    return out


def main() -> None:
    args = study_args(__doc__.splitlines()[0])
    out = out_dir(args, STUDY)
    t0 = time.time()
    from pipesim.schedule.registry import Registry

    known = set(Registry.default().names())
    schedules = [s for s in (QUICK_SCHEDULES if args.quick else SCHEDULES) if s in known]
    jobs: list[tuple[str, str, int, str, str]] = []
    for sweep, (_, values, quick_values, _) in SWEEPS.items():
        vals = quick_values if args.quick else values
        for s in schedules:
            jobs.append((sweep, s, vals[0], "table", "fair"))
            jobs.extend((sweep, s, v, "sim", "fair") for v in vals)
            jobs.append((sweep, s, vals[-1], "sim", "fifo"))  # queueing delay at the most contended point
    rows = run_all(jobs, args.jobs)
    add_ranks(rows)
    columns = ["sweep", "param", "value", "schedule", "level", "policy", "gpus", "iteration_time_s",
               "compute_end_s", "tokens_per_s_per_gpu", "rank", "bubble_ratio", "busiest_link",
               "busiest_utilisation", "max_queueing_delay_s", "worst_msg_extra_s", "worst_msg_stretch",
               "max_waiting_for_data_s", "gb_moved"]
    ms = lambda v: f"{1e3 * v:.2f} ms"  # noqa: E731
    pc = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    fmt = {"iteration_time_s": lambda v: f"{v:.4f}", "compute_end_s": lambda v: f"{v:.4f}",
           "tokens_per_s_per_gpu": lambda v: f"{v:.0f}", "bubble_ratio": pc, "busiest_utilisation": pc,
           "max_queueing_delay_s": ms, "worst_msg_extra_s": ms, "worst_msg_stretch": lambda v: f"{v:.2f}x",
           "max_waiting_for_data_s": ms, "gb_moved": lambda v: f"{v:.1f}"}
    write_table(rows, columns, out / "table", fmt)
    contention = contention_summary(rows, schedules)
    write_table(contention, list(contention[0]), out / "contention",
                {"busiest_utilisation": pc, "max_queueing_delay_s": ms, "worst_msg_extra_s": ms,
                 "worst_msg_stretch": lambda v: f"{v:.2f}x", "fifo_queueing_delay_s": ms})
    all_flips = [f for sweep in SWEEPS for f in flips(rows, sweep, schedules)]
    write_table([{**f, "before": f"{f['before'][0]:.0f} vs {f['before'][1]:.0f}",
                  "after": f"{f['after'][0]:.0f} vs {f['after'][1]:.0f}"} for f in all_flips],
                ["sweep", "from", "to", "overtakes", "overtaken", "before", "after"], out / "flips")
    for sweep in SWEEPS:
        plot_sweep(rows, sweep, schedules, out / f"{sweep}")
    (out / "FINDINGS.md").write_text(findings(rows, contention, schedules))
    print(f"{STUDY}: {len(jobs)} runs in {time.time() - t0:.1f} s -> {out}")


if __name__ == "__main__":
    main()
