"""The few calls a notebook or script needs, over the layers below (see ``pipesim/__init__``).

``run`` takes a scenario in any form -- a YAML path, a mapping, a validated ``Scenario`` or a
``Built`` one -- and evaluates it at the simulation level (or the table level); ``evaluate``
times a bare schedule at the table level; ``simulate`` runs one on a topology; ``search`` finds
the fastest plan and order for a scenario under a memory limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipesim.costs import Costs
from pipesim.ideal import TableResult, evaluate
from pipesim.network import Topology
from pipesim.runner import Level, Outcome, run_built
from pipesim.scenario import Built, Scenario, build, load_scenario
from pipesim.schedule.registry import Registry
from pipesim.schedule.table import Schedule
from pipesim.search.plan import PlanResult
from pipesim.sim.engine import SimOptions, SimResult, Simulation


def run(scenario: str | Path | Mapping[str, Any] | Scenario | Built, level: Level = "sim",
        overrides: Sequence[str] = ()) -> Outcome:
    """Evaluate a scenario; ``overrides`` are ``--set`` style ``"path=value"`` strings.

    Returns an ``Outcome``: ``.metrics`` (the dict `pipesim run --json` prints) and ``.trace``
    (built on first use)."""
    if isinstance(scenario, Built):
        if overrides:
            raise ValueError("run: overrides apply to a scenario, not to a built one; pass the Scenario or its file")
        return run_built(scenario, level)
    if isinstance(scenario, Scenario):
        if overrides:
            from pipesim.scenario import scenario_to_dict

            scenario = load_scenario(scenario_to_dict(scenario), list(overrides))
        return run_built(build(scenario), level)
    return run_built(build(load_scenario(scenario, list(overrides))), level)


def simulate(schedule: Schedule, topology: Topology, costs: Costs | None = None,
             options: SimOptions | None = None) -> SimResult:
    """Run ``schedule`` on ``topology`` (unit costs when none are given)."""
    return Simulation(schedule, costs or Costs.make(schedule.num_stages), topology, options).run()


def search(scenario: str | Path | Mapping[str, Any], *, overrides: Sequence[str] = (), space: str | None = None,
           memory_limit: str | None = None, budget: str | None = "2000", split_backward: bool | None = None,
           seed: int = 0, jobs: int | None = 1, max_plans: int = 48, rescore: int = 4, rounds: int = 2,
           executor: str = "process") -> PlanResult:
    """The fastest plan and order for ``scenario`` (what `pipesim search` runs): ``space`` as
    ``"order,m,v,layout,split,placement,backward"`` (default: all that apply), ``split_backward``
    pins the backward (None: whole and split both searched where I and W have costs), ``memory_limit`` as
    ``"1p"``/``"2p"``/a size, ``budget`` as ``"30s"`` or a number of evaluations. The result's
    ``best_scored`` is the winning order on the scenario's network; ``free_best`` what the
    same search returns without the network."""
    from pipesim.search.limits import parse_budget, parse_memory_limit
    from pipesim.search.plan import Settings, search_plan
    from pipesim.search.request import from_scenario

    memory, limit = parse_memory_limit(memory_limit), parse_budget(budget)
    base, axes, items, _ = from_scenario(scenario, overrides, space_text=space, seed=seed,
                                         split_backward=split_backward)
    settings = Settings(items, memory, seed, rounds=rounds)
    return search_plan(base, axes, settings, budget=limit, max_plans=max_plans, rescore=rescore, jobs=jobs,
                       executor=executor)


def registry() -> Registry:
    """The built-in schedule generators (``pipesim schedules`` lists them)."""
    return Registry.default()


__all__ = ["Outcome", "PlanResult", "TableResult", "evaluate", "registry", "run", "search", "simulate"]
