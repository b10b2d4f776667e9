"""Searching with the network: does the order a search picks on a free network hold up on a
shared NIC, an oversubscribed spine, or a WAN?

For each case the same search (``pipesim.search``, ``space=order``: the layout, microbatch
count and layer split fixed; zero-bubble style split backward; an evaluation budget, so the run
is deterministic) returns two orders: the table level's winner, which is what a search that
ignores the network returns, and the winner after re-scoring on the scenario's network with
the contention-aware simulation (the table winner, the layout's named orders, and orders
searched with the per-hand-over delays the simulation measured). Both are then timed on the
network. GPT-3 1.3B on A100s (the workload model's closed form at 45% of peak), pp x m below.

    python scenarios/studies/search_network.py [--quick] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import time
from typing import Any

from _common import out_dir, study_args, write_table

import pipesim
from pipesim.plot import Axis, Bars, Note, Panel, plot_panels

STUDY = "search_network"
BUDGET = "300"  # evaluations per search: deterministic
MODEL = {"preset": "gpt3-1.3b", "microbatch_size": 1}
HARDWARE = {"gpu": "A100", "efficiency": 0.45}

# case -> (label, topology, pp, microbatches)
CASES: dict[str, tuple[str, dict[str, Any], int, int]] = {
    "shared-nic": ("shared NIC: 4 nodes x 2 GPUs, one 10 GbE NIC per node",
                   {"kind": "cluster", "num_nodes": 4, "gpus_per_node": 2, "intra": "nvlink3", "inter": "eth10",
                    "gpus_per_nic": 2}, 8, 16),
    "spine": ("oversubscribed spine: 4 nodes x 2 GPUs, 25 GbE, 4:1 uplinks",
              {"kind": "cluster", "num_nodes": 4, "gpus_per_node": 2, "intra": "nvlink3", "inter": "eth25",
               "gpus_per_nic": 1, "oversubscription": 4, "nodes_per_leaf": 2}, 8, 16),
    "wan": ("WAN: 4 sites in a chain, continental links",
            {"kind": "wan_chain", "link": "wan-continental"}, 4, 8),
}
LIMITS = (None, "2p", "1p")
SHORT = {"shared-nic": "shared NIC (10 GbE, 2 GPUs per NIC)", "spine": "spine 4:1 (25 GbE)",
         "wan": "WAN chain (continental)"}


def scenario(case: str) -> dict[str, Any]:
    _, topology, pp, m = CASES[case]
    return {"name": f"{STUDY}-{case}", "model": dict(MODEL), "hardware": dict(HARDWARE), "topology": dict(topology),
            "network": {"policy": "fair"}, "parallel": {"pp": pp, "microbatches": m},
            "schedule": {"name": "zb-h1"}}


def run_case(case: str, limit: str | None, jobs: int | None) -> dict[str, Any]:
    res = pipesim.search(scenario(case), space="order", memory_limit=limit, budget=BUDGET, split_backward=True,
                         jobs=jobs or 1)
    free, net = res.free_best, res.best_scored
    assert res.free_scored is not None  # a scenario is always re-scored on its network
    free_sim = res.free_scored.makespan
    return {
        "case": case, "network": CASES[case][0], "p": CASES[case][2], "m": CASES[case][3],
        "memory_limit": limit or "none",
        "free_choice": free.source, "free_table_s": free.table_time, "free_on_network_s": free_sim,
        "net_choice": net.source if net.source != "table" else free.source,
        "net_on_network_s": net.makespan,
        "same_order": free.schedule is not None and free.schedule.actions == net.schedule.actions,
        "gain_pct": 100 * (1 - net.makespan / free_sim),
        "tried_on_network": len(res.history),
    }


def plot(rows: list[dict[str, Any]], path: Any) -> None:
    """Per case: the free-network choice and the network-aware choice, timed on the network."""
    cases = list(dict.fromkeys(r["case"] for r in rows))
    panels = []
    for i, case in enumerate(cases):
        sub = [r for r in rows if r["case"] == case]
        xs = list(range(len(sub)))
        free = Bars([x - 0.2 for x in xs], [r["free_on_network_s"] for r in sub], width=0.38, color="#BBBBBB",
                    label="picked on a free network")
        net = Bars([x + 0.2 for x in xs], [r["net_on_network_s"] for r in sub], width=0.38, color="#4477AA",
                   label="picked with the network")
        notes = [Note(x + 0.2, r["net_on_network_s"], f"-{r['gain_pct']:.1f}%" if r["gain_pct"] > 0.05 else "same",
                      size=-1.5, ha="center", offset=(0, 2)) for x, r in zip(xs, sub, strict=True)]
        top = max(max(r["free_on_network_s"], r["net_on_network_s"]) for r in sub)
        panels.append(Panel(bars=[free, net], notes=notes, title=SHORT[case], grid="y",
                            legend="right" if i == len(cases) - 1 else None,
                            x=Axis("memory limit", ticks=xs, ticklabels=[r["memory_limit"] for r in sub]),
                            y=Axis("iteration time on the network (s)", limits=(0, top * 1.15))))
    plot_panels(panels, path, columns=len(panels), width=4.0 * len(panels) + 2.2, row_height=3.4,
                title="Order search with and without the network (GPT-3 1.3B, A100, ZB-H1 layout, simulated)",
                margins=(0.65, 2.2, 0.75, 0.6), gaps=(0.6, 0.5), formats=("png", "svg"))


def _what(source: str) -> str:
    """A short name for where an order came from."""
    if source.startswith("round"):
        return "searched with measured delays"
    if source.startswith("named: "):
        return source.removeprefix("named: ")
    return "table-level winner"


def findings(rows: list[dict[str, Any]]) -> str:
    lines = ["# Searching with the network: findings", ""]
    differ = [r for r in rows if not r["same_order"]]
    lines.append(
        f"- In {len(differ)} of {len(rows)} searches the order picked with the network differs from the order picked "
        "on a free network, and where it differs it is faster on that network: "
        + "; ".join(f"{r['case']} ({r['memory_limit']}): {r['net_on_network_s']:.3f} s ({_what(r['net_choice'])}) vs "
                    f"{r['free_on_network_s']:.3f} s ({-r['gain_pct']:+.1f}%)" for r in differ)
        + "." if differ else f"- In none of the {len(rows)} searches does the network change the order.")
    fed = [r for r in differ if str(r["net_choice"]).startswith("round")]
    if differ:
        lines.append(f"- {len(fed)} of these {len(differ)} winners are orders the order search found with the "
                     "per-hand-over delays the simulation measured (the network rounds); the others are named "
                     "orders of the layout that the table level ranked lower.")
    same = [r for r in rows if r["same_order"]]
    if same:
        lines.append("- Where the network leaves the choice alone, the free-network order is already the fastest "
                     "simulated one: " + "; ".join(f"{r['case']} ({r['memory_limit']}): {r['free_on_network_s']:.3f} s"
                                                   for r in same) + ".")
    lines.append("- Never slower: the network-aware search keeps the free-network winner among its candidates and "
                 "ranks all of them by simulated time, so its choice is at most as slow on the network "
                 f"(largest gain {max(r['gain_pct'] for r in rows):.1f}%).")
    lines.append("- Why: the table level charges every hand-over the same delay (zero here), so it prefers the "
                 "order with the fewest idle slots; on a shared or slow link the messages of that order queue "
                 "behind each other or arrive late, and an order built for the measured delays sends earlier and "
                 "keeps work ready while messages are in flight.")
    tight = [r for r in rows if r["memory_limit"] == "1p"]
    if tight:
        lines.append("- Under 1F1B's activation memory (1p) the gain is "
                     + "; ".join(f"{r['case']} {r['gain_pct']:.1f}%" for r in tight)
                     + ", against " + "; ".join(f"{r['case']} {r['gain_pct']:.1f}%" for r in rows
                                                if r["memory_limit"] == "none")
                     + " without a limit.")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = study_args(__doc__.splitlines()[0])
    out = out_dir(args, STUDY)
    t0 = time.time()
    cases = ["wan"] if args.quick else list(CASES)
    limits = (None, "1p") if args.quick else LIMITS
    rows = [run_case(c, lim, args.jobs) for c in cases for lim in limits]
    columns = ["case", "network", "p", "m", "memory_limit", "free_choice", "free_table_s", "free_on_network_s",
               "net_choice", "net_on_network_s", "same_order", "gain_pct", "tried_on_network"]
    fmt = {k: (lambda v: f"{v:.4f}") for k in ("free_table_s", "free_on_network_s", "net_on_network_s")}
    fmt["gain_pct"] = lambda v: f"{v:.1f}%"
    write_table(rows, columns, out / "table", fmt)
    plot(rows, out / "search_network")
    (out / "FINDINGS.md").write_text(findings(rows))
    print(f"{STUDY}: {len(rows)} searches in {time.time() - t0:.1f} s -> {out}")


if __name__ == "__main__":
    main()
