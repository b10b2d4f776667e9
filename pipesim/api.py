"""The few calls a notebook or script needs, over the layers below (see ``pipesim/__init__``).

``run`` takes a scenario in any form -- a YAML path, a mapping, a validated ``Scenario`` or a
``Built`` one -- and evaluates it at the simulation level (or the table level); ``evaluate``
times a bare schedule at the table level; ``simulate`` runs one on a topology.
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


def registry() -> Registry:
    """The built-in schedule generators (``pipesim schedules`` lists them)."""
    return Registry.default()


__all__ = ["Outcome", "TableResult", "evaluate", "registry", "run", "simulate"]
