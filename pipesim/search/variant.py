"""One plan made concrete: its layout, per-stage costs, the named orders that fit it, and (for
a scenario) everything the simulation needs.

A ``Base`` is plain data (it travels to pool and Dask workers): either a scenario (a mapping,
the folder its relative paths start from, and ``--set`` overrides) or the table form
(``-p/-m/--costs``: costs of one device's share of one model copy, divided among a layout's
stages so that every layout does the same work, and a constant message delay).

A plan becomes a scenario variant through overrides, built by ``pipesim.scenario.build`` like
any run: the family's generator lays out the stages, the workload model gives the costs of the
plan's microbatch size and layer split, and the placement goes to ``parallel.placement``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipesim.costs import Costs
from pipesim.plan import finalize, insert_reduce_grads
from pipesim.schedule.action import Kind, compute_parts
from pipesim.schedule.layout import Layout
from pipesim.schedule.registry import Registry
from pipesim.schedule.table import Schedule
from pipesim.search.space import Plan, family, shifted

SPLIT_KINDS = frozenset({Kind.I, Kind.W})


@dataclass(frozen=True)
class Base:
    scenario: dict[str, Any] | None = None
    base_dir: str | None = None
    overrides: tuple[str, ...] = ()
    # Table form: p, and the costs of one device's share ({"F": 1.0, "B": 2.0, ...}).
    devices: int | None = None
    costs: dict[str, float] = field(default_factory=dict)
    delay: float = 0.0  # table form: every cross-device message


@dataclass
class Variant:
    plan: Plan
    layout: Layout
    costs: Costs
    generated: Schedule  # the family generator's own order
    built: Any = None  # pipesim.scenario.Built (scenario form)
    delay: float = 0.0  # the table level's constant message delay

    def named(self, split_backward: bool, registry: Registry | None = None) -> list[Schedule]:
        """The registry's orders for this exact layout (the family's seeds) that run the backward
        the way the search does (I and W split, or whole B), each finalized with the costs."""
        reg = registry or Registry.default()
        fam = family(self.plan.family)
        out: list[Schedule] = []
        p, m = self.layout.num_devices, self.layout.num_microbatches
        for name, opts in fam.seeds:
            options = dict(opts)
            gen = reg.get(name)
            if fam.degree_option is not None and fam.degree_option in {o.name for o in gen.options}:
                options[fam.degree_option] = self.plan.degree
            try:
                timed = {"costs": self.costs} if gen.cost_aware else {}
                sched = finalize(reg.generate(name, p, m, **timed, **options), self.costs)
            except ValueError:  # the generator's regime excludes this p, m: not a seed here
                continue
            if sched.layout != self.layout or uses_split(sched) != split_backward:
                continue
            if any(s.actions == sched.actions for s in out):
                continue
            out.append(Schedule.build(_label(name, dict(opts), fam.degree_option, self.plan.degree), sched.layout,
                                      sched.actions, **sched.options))
        return out

    def finish(self, schedule: Schedule) -> Schedule:
        """A searched order made runnable: replicated model parts get their gradient
        all-reduce (``REDUCE_GRAD``) in the first idle slot, as the named generators do (no
        change for a layout without replicas)."""
        return insert_reduce_grads(schedule, self.costs)


def _label(name: str, opts: dict[str, Any], degree_option: str | None, degree: int) -> str:
    shown = {k: v for k, v in opts.items() if k not in ("strict", "overlap_chunks")}
    if degree_option is not None and degree_option in ("v", "waves") and name in ("interleaved", "looped-bfs", "hanayo"):
        shown[degree_option] = degree
    return name + "".join(f" {k}={v}" for k, v in shown.items())


def peak(schedule: Schedule, costs: Costs) -> tuple[float, ...]:
    """Per device, the most activations the order stashes (``costs.activation_bytes`` units)."""
    from pipesim.timeline import compile_schedule

    return tuple(compile_schedule(schedule, costs, dry_run=False).activation.peaks_b)


def fits(schedule: Schedule, costs: Costs, limit: Sequence[float] | None) -> bool:
    return limit is None or all(x <= b * (1 + 1e-9) for x, b in zip(peak(schedule, costs), limit, strict=True))


def uses_split(schedule: Schedule) -> bool:
    return any(part.kind in SPLIT_KINDS for row in schedule.actions for a in row for part in compute_parts(a))


def without_reduce(schedule: Schedule) -> Schedule:
    """The order without its ``REDUCE_GRAD`` actions (the search places compute only)."""
    rows = [[a for a in row if a.kind is not Kind.REDUCE_GRAD] for row in schedule.actions]
    return Schedule.build(schedule.name, schedule.layout, rows, **schedule.options)


def plan_overrides(plan: Plan, split: Sequence[int] | None = None) -> list[str]:
    """The ``--set`` overrides that turn the base scenario into ``plan`` (``split``: layers
    per model part, already resolved)."""
    fam = family(plan.family)
    out = [f"schedule.name={fam.generator}", f"schedule.options={json.dumps(plan.generator_options())}",
           f"parallel.microbatches={plan.microbatches}"]
    if plan.microbatch_size is not None:
        out.append(f"model.microbatch_size={plan.microbatch_size}")
    if split is not None:
        out.append(f"model.layers_per_stage={json.dumps(list(split))}")
    if plan.placement is not None:
        out.append(f"parallel.placement={json.dumps(list(plan.placement))}")
    return out


def _build(base: Base, overrides: Sequence[str]) -> Any:
    from pipesim.scenario import build, load_scenario

    return build(load_scenario(base.scenario or {}, list(overrides), base_dir=base.base_dir))


def make_problem(base: Base, plan: Plan, registry: Registry | None = None) -> Variant:
    """``plan`` on ``base``; a plan that cannot be built raises ``ValueError`` (one line)."""
    if base.scenario is None:
        return _table_problem(base, plan, registry or Registry.default())
    split = resolve_split(base, plan) if plan.split != "scenario" else None
    overrides = [*base.overrides, *plan_overrides(plan, split)]
    try:
        built = _build(base, overrides)
    except ValueError as exc:
        if "layers_per_stage" not in str(exc) or split is not None:
            raise
        # The scenario's split was written for another part count: the automatic one.
        built = _build(base, [*overrides, "model.layers_per_stage=null"])
    return Variant(plan, built.schedule.layout, built.costs, built.schedule, built=built)


def resolve_split(base: Base, plan: Plan) -> tuple[int, ...]:
    """Layers per model part for the plan's split rule:

    * ``uniform``: the workload model's automatic split (equal counts, the remainder in the
      middle);
    * ``balanced``: the scenario's cost-balanced split for this layout
      (``model.layers_per_stage: balanced``, ``pipesim.scenario.split``: the busiest device's
      load, then the slowest stage, with the embedding and the LM head charged to their parts);
    * ``head-1`` / ``head+1``: the balanced split with one layer moved off / onto the last part
      (the head's cost is the least certain part of the estimate)."""
    rule = "null" if plan.split == "uniform" else "balanced"
    built = _build(base, [*base.overrides, *plan_overrides(plan), f"model.layers_per_stage={rule}"])
    work = built.workload
    if work is None:
        raise ValueError("split: this scenario has no model; the layer split needs one")
    split = tuple(st.layers for st in work.stages)
    if plan.split in ("uniform", "balanced"):
        return split
    out = shifted(split, -1 if plan.split == "head-1" else 1)
    if out is None:
        raise ValueError(f"split {plan.split}: the balanced split {list(split)} leaves no layer to move")
    return out


def _table_problem(base: Base, plan: Plan, registry: Registry) -> Variant:
    fam = family(plan.family)
    p = base.devices or 1
    sched = finalize(registry.generate(fam.generator, p, plan.microbatches, **plan.generator_options()))
    lay = sched.layout
    scale = p / max(lay.num_parts, 1)  # a stage computes p / parts of one device's share
    def get(key: str) -> float | None:
        return base.costs[key] * scale if key in base.costs else None

    costs = Costs.make(lay.num_stages, F=get("F") or 0.0, B=get("B"), I=get("I"), W=get("W"))
    return Variant(plan, lay, costs, finalize(sched, costs), delay=base.delay)
