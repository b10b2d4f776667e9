"""Scenario files: YAML -> validated ``Scenario`` (pydantic) -> ``Built`` objects for the levels.

    scenario = load_scenario("scenarios/quickstart.yaml", ["parallel.microbatches=32"])
    built = build(scenario)
    Simulation(built.schedule, built.costs, built.topology, built.sim_options).run()

Every problem is a ``ScenarioError`` (a ``ValueError``) with one line naming the key path, the
value and what is valid.
"""

from pipesim.scenario.build import Built, build
from pipesim.scenario.load import apply_override, load_scenario, parse_override, scenario_to_dict
from pipesim.scenario.schema import Scenario, ScenarioError, validate_scenario

__all__ = [
    "Built",
    "Scenario",
    "ScenarioError",
    "apply_override",
    "build",
    "load_scenario",
    "parse_override",
    "scenario_to_dict",
    "validate_scenario",
]
