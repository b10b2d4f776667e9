"""The named floor: the registry's named schedules on the base scenario whose plan lies in the
searched space (a layout, microbatch count and backward the space holds), kept where they fit
the memory limit and simulated on the scenario's network.

The plan search samples a large space and re-scores only its best few plans on the network, so
a named order that the table level under-rates could otherwise beat the answer. The search
returns the fastest of its own winner and this floor (saying which), so its answer is never
slower than a named schedule of its space that fits the limit. Each named schedule runs on the
balanced layer split when the space holds it (as ``pipesim compare`` and the ranked table run
them), else on the scenario's own split (balanced where that is for another part count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipesim.schedule.registry import Registry
from pipesim.schedule.table import Schedule
from pipesim.search.errors import SearchError
from pipesim.search.limits import MemoryLimit, check_fits
from pipesim.search.space import Axes, Plan, family_of
from pipesim.search.variant import Base, fits, uses_split


@dataclass(frozen=True)
class Named:
    name: str
    plan: Plan
    schedule: Schedule
    sim_time: float
    fits: bool  # within the memory limit


def named_floor(base: Base, axes: Axes, memory: MemoryLimit | None, registry: Registry | None = None
                ) -> list[Named]:
    """The registry's schedules that build on ``base`` (scenario form only) inside ``axes``,
    simulated, in registry order; ``fits`` says whether each is within ``memory``."""
    from pipesim.sim.engine import Simulation

    if base.scenario is None:
        return []
    reg = registry or Registry.default()
    balanced = "balanced" in axes.splits
    out: list[Named] = []
    for name in reg.names():
        try:
            built, split = _build(base, name, balanced)
        except ValueError:  # this schedule cannot run here (the ranked table says why)
            continue
        sched = built.schedule
        fam, degree = family_of(name, dict(sched.options))
        size = built.workload.microbatch_size if built.workload is not None else None
        plan = Plan(fam.name, degree, built.microbatches, size, split, split_backward=uses_split(sched))
        if ((plan.family, plan.degree) not in axes.layouts or plan.split_backward not in axes.backwards
                or (plan.microbatches, plan.microbatch_size) not in axes.microbatches):
            continue
        try:
            sim = Simulation(sched, built.costs, built.topology, built.sim_options).run()
        except ValueError:
            continue
        try:
            limit = check_fits(memory, sched.layout, built.costs, name) if memory else None
            ok = fits(sched, built.costs, limit)
        except SearchError:
            ok = False
        out.append(Named(name, plan, sched, sim.makespan, ok))
    return out


def _build(base: Base, name: str, balanced: bool) -> tuple[Any, str]:
    """``name`` on ``base``, and the plan's split rule: balanced when asked (or when the
    scenario's split is for another part count), else the scenario's own."""
    from pipesim.scenario import build, load_scenario

    overrides = [*base.overrides, f"schedule.name={name}", "schedule.options={}"]
    scenario = load_scenario(base.scenario or {}, overrides, base_dir=base.base_dir)
    if scenario.model is None:
        return build(scenario), "scenario"
    if not balanced:
        try:
            return build(scenario), "scenario"
        except ValueError as exc:
            if "layers_per_stage" not in str(exc):
                raise
    return build(load_scenario(base.scenario or {}, [*overrides, "model.layers_per_stage=balanced"],
                               base_dir=base.base_dir)), "balanced"
