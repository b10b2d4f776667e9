"""The named floor: every named schedule of the registry on the base scenario (each on its
cost-balanced layer split, as ``pipesim compare`` and the ranked table run them), kept where it
fits the memory limit and simulated on the scenario's network.

The plan search samples a large space and re-scores only its best few plans on the network, so
a named order that the table level under-rates could otherwise beat the answer. The search
returns the fastest of its own winner and this floor (saying which), so its answer is never
slower than a named schedule listed beside it that fits the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipesim.schedule.registry import Registry
from pipesim.schedule.table import Schedule
from pipesim.search.errors import SearchError
from pipesim.search.limits import MemoryLimit, check_fits
from pipesim.search.space import Plan, family_of
from pipesim.search.variant import Base, fits, uses_split


@dataclass(frozen=True)
class Named:
    name: str
    plan: Plan
    schedule: Schedule
    sim_time: float
    fits: bool  # within the memory limit


def named_floor(base: Base, memory: MemoryLimit | None, registry: Registry | None = None) -> list[Named]:
    """The registry's schedules that build on ``base`` (scenario form only), simulated, in
    registry order; ``fits`` says whether each is within ``memory``."""
    from pipesim.scenario import build, load_scenario
    from pipesim.sim.engine import Simulation

    if base.scenario is None:
        return []
    reg = registry or Registry.default()
    out: list[Named] = []
    for name in reg.names():
        overrides = [*base.overrides, f"schedule.name={name}", "schedule.options={}"]
        try:
            scenario = load_scenario(base.scenario, overrides, base_dir=base.base_dir)
            if scenario.model is not None:
                scenario = load_scenario(base.scenario, [*overrides, "model.layers_per_stage=balanced"],
                                         base_dir=base.base_dir)
            built = build(scenario)
            sched = built.schedule
            sim = Simulation(sched, built.costs, built.topology, built.sim_options).run()
        except ValueError:  # this schedule cannot run here (the ranked table says why)
            continue
        try:
            limit = check_fits(memory, sched.layout, built.costs, name) if memory else None
            ok = fits(sched, built.costs, limit)
        except SearchError:
            ok = False
        fam, degree = family_of(name, dict(sched.options))
        size = built.workload.microbatch_size if built.workload is not None else None
        plan = Plan(fam.name, degree, built.microbatches, size, "balanced" if built.workload is not None else "scenario",
                    split_backward=uses_split(sched))
        out.append(Named(name, plan, sched, sim.makespan, ok))
    return out
