"""pipesim: pipeline-parallel training schedules, from closed forms to contended networks.

The public API is what ``__all__`` lists; every other module is internal and may change::

    import pipesim

    out = pipesim.run("scenarios/quickstart.yaml", overrides=["parallel.microbatches=32"])
    print(out.metrics["makespan"], out.metrics["bubble_ratio"])

    sched = pipesim.generate("zb-h1", 4, 8)
    print(pipesim.evaluate(sched, pipesim.Costs.make(4, F=1, B=2)).makespan)
"""

from pipesim._version import __version__
from pipesim.api import Outcome, PlanResult, TableResult, evaluate, registry, run, search, simulate
from pipesim.costs import Costs
from pipesim.export import load_chrome_trace, write_chrome_trace
from pipesim.network import Topology, cluster, free, internet, single_node, wan_chain
from pipesim.plan import generate
from pipesim.plot import plot_gantt
from pipesim.scenario import Built, Scenario, ScenarioError, build, load_scenario
from pipesim.schedule import Action, Kind, Layout, Registry, Schedule, ScheduleError, validate
from pipesim.sim.engine import SimOptions, SimResult, Simulation
from pipesim.timeline import Compiled, compile_schedule
from pipesim.trace import MemorySample, Message, Span, Trace

__all__ = [
    "Action",
    "Built",
    "Compiled",
    "Costs",
    "Kind",
    "Layout",
    "MemorySample",
    "Message",
    "Outcome",
    "PlanResult",
    "Registry",
    "Scenario",
    "ScenarioError",
    "Schedule",
    "ScheduleError",
    "SimOptions",
    "SimResult",
    "Simulation",
    "Span",
    "TableResult",
    "Topology",
    "Trace",
    "__version__",
    "build",
    "cluster",
    "compile_schedule",
    "evaluate",
    "free",
    "generate",
    "internet",
    "load_chrome_trace",
    "load_scenario",
    "plot_gantt",
    "registry",
    "run",
    "search",
    "simulate",
    "single_node",
    "validate",
    "wan_chain",
    "write_chrome_trace",
]
