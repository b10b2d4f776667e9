"""Turn a validated ``Scenario`` into the objects the levels consume: schedule, costs, topology,
simulation options.

Costs are always per *stage* (virtual stage) because that is what every level indexes. How the
scenario's numbers become per-stage values:

* ``model``: the transformer is split into the schedule's *model parts* (``layout.num_parts``:
  p for 1F1B, p·v for interleaved, 2p for V shapes, p for Chimera/DualPipe whose 2p stages are
  two replicas of p parts), and every stage gets the costs of the part it computes. So Chimera's
  two replicas of part k cost the same, and ``layers_per_stage`` has one entry per part (or is
  ``balanced``: the split that balances the devices' costs, ``pipesim.scenario.split``).
* ``costs`` with ``per: stage`` (default): a number is every stage's value (the table level's
  convention: ``F: 1`` makes each F one slot); a list has one entry per stage.
* ``per: part``: a number is every part's value, a list has one entry per model part; replicas
  of a part share it.
* ``per: device``: a value describes one device's share of *one model copy* (1/p of the model,
  the unit papers use when they compare 1F1B and interleaved at equal work). A stage computes
  ``p / num_parts`` of such a share, so times, activation, parameter and optimizer bytes are
  scaled by that factor (interleaved v = 2: each chunk takes F/2; Chimera: factor 1). Message
  sizes are not scaled: a boundary tensor has the same size however the model is cut.

Topology: absent means a ``free`` topology (zero-time transfers) of pp x dp devices; kinds made
of interchangeable devices (``free``, ``wan_chain``, ``internet``) may leave their device count
out and get pp x dp as well.

Everything that can go wrong here is reported as a one-line ``ScenarioError`` located at the
scenario key path whose value caused it (lower layers' ``InputError``s are nested under it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipesim.budget import BudgetError
from pipesim.costs import Costs
from pipesim.inputs import InputError, unknown_key_message
from pipesim.plan import finalize
from pipesim.scenario.delay import representative_delay
from pipesim.scenario.located import located, one_line, rebased
from pipesim.scenario.schema import ROOT, Scenario, ScenarioError
from pipesim.scenario.stage_costs import expand_parts, explicit_costs, gpu_of, model_of, workload_of
from pipesim.schedule.registry import Generator, Registry, ScheduleOptionError
from pipesim.schedule.table import Schedule
from pipesim.workload import (
    GPUSpec,
    ModelSpec,
    WorkloadSummary,
    total_params,
)

DEFAULT_SCHEDULE = "1f1b"


@dataclass(frozen=True)
class Built:
    """Everything a run needs, derived from one scenario.

    ``iterations`` is the number of iterations the run represents: schedules that simulate
    several iterations themselves (PipeDream-style, no flush) received it as their
    ``iterations`` option and their makespan already covers them; for flushing schedules every
    iteration is identical, so one is simulated and ``iterations_in_schedule`` is 1.
    """

    scenario: Scenario
    schedule: Schedule
    costs: Costs
    topology: Any  # pipesim.network.Topology
    sim_options: Any  # pipesim.sim.engine.SimOptions
    gpu: GPUSpec | None
    model: ModelSpec | None
    workload: WorkloadSummary | None
    microbatches: int  # per iteration and pipeline replica
    samples_per_iteration: int
    tokens_per_iteration: int | None
    memory_limit: float | None
    iterations: int
    iterations_in_schedule: int
    # The representative message delay list-scheduled orders and REDUCE_GRAD placement were
    # timed with (``pipesim.scenario.delay``); 0.0 on a free network.
    message_delay: float = 0.0

    def describe(self) -> dict[str, Any]:
        """What was built, as JSON-ready plain data (SI units)."""
        sc, sched, c = self.scenario, self.schedule, self.costs
        lay = sched.layout
        sim = self.sim_options
        out: dict[str, Any] = {
            "name": sc.name,
            "description": sc.description,
            "schedule": {
                "name": sched.name,
                "source": f"csv:{sc.schedule.csv}" if sc.schedule.csv else "generator",
                "devices": sched.num_devices,
                "stages": sched.num_stages,
                "model_parts": lay.num_parts,
                "microbatches": sched.num_microbatches,
                "options": {k: _plain(v) for k, v in sched.options.items()},
            },
            "parallel": {
                "pp": sched.num_devices,
                "dp": sim.dp,
                "microbatches": self.microbatches,
                "placement": list(sim.placement) if sim.placement is not None else None,
            },
            "workload": self._workload(),
            "gpu": dataclasses.asdict(self.gpu) if self.gpu is not None else None,
            "costs": {
                "F": list(c.forward),
                "B": list(c.backward),
                "I": list(c.backward_input),
                "W": list(c.backward_weight),
                "message_bytes": list(c.message_bytes),
                "activation_bytes": list(c.activation_bytes),
                "param_bytes": list(c.param_bytes),
                "optimizer_bytes": list(c.optimizer_bytes),
                "weight_keep": c.weight_keep,
                "overlap": c.overlap,
                "sized": c.sized,
            },
            "topology": {
                "kind": (sc.topology or {}).get("kind", "free"),
                "devices": len(self.topology.devices),
            },
            "network": {
                "policy": sim.policy,
                "chunk_bytes": sim.chunking.spelling(),
                "overhead": sim.overhead,
                "blocking_send": sim.blocking_send,
                "grad_sync": sim.grad_sync,
                "order_message_delay": self.message_delay,
            },
            "iterations": self.iterations,
            "iterations_in_schedule": self.iterations_in_schedule,
            "samples_per_iteration": self.samples_per_iteration,
            "tokens_per_iteration": self.tokens_per_iteration,
            "memory_limit": self.memory_limit,
        }
        return out

    def _workload(self) -> dict[str, Any]:
        if self.workload is None:
            return {"kind": "costs", "per": self.scenario.costs.per if self.scenario.costs else "stage"}
        w = self.workload
        return {
            "kind": "model",
            "model": dataclasses.asdict(w.model),
            "params": total_params(w.model),
            "microbatch_size": w.microbatch_size,
            "dtype": w.dtype,
            "recompute": w.recompute,
            "tensor_parallel": w.tensor_parallel,
            "optimizer_state_bytes_per_param": w.optimizer_state_bytes,
            "layers_per_part": [s.layers for s in w.stages],
            "compression": dataclasses.asdict(w.compression) if w.compression else None,
            "achieved_flops": w.achieved_flops,
        }


def build(scenario: Scenario, *, registry: Registry | None = None) -> Built:
    """Schedule, costs, topology and simulation options for ``scenario`` (see module doc)."""
    gpu = gpu_of(scenario)
    reg = registry or Registry.default()
    schedule, iterations_in_schedule = _schedule(scenario, reg)
    model = model_of(scenario.model) if scenario.model is not None else None
    workload = None
    if scenario.model is not None:
        assert model is not None and gpu is not None  # guaranteed by the schema
        workload = workload_of(scenario, model, gpu, schedule)
        costs = expand_parts(workload, schedule)
    else:
        costs = explicit_costs(scenario, schedule)
    # The topology and placement depend on the device count only, not on the order, so the
    # order can be timed on the network they give.
    topology = _topology(scenario, schedule)
    placement = _placement(scenario, schedule, topology)
    delay = representative_delay(schedule, costs, topology, placement, scenario.network.overhead)
    schedule = _timed(scenario, reg, schedule, costs, delay)
    memory_limit = gpu.memory_bytes if gpu is not None else None

    from pipesim.sim.engine import SimOptions

    net = scenario.network
    options = SimOptions(
        policy=net.policy,
        chunking=net.chunking,
        overhead=net.overhead,
        blocking_send=net.blocking_send,
        grad_sync=net.grad_sync,
        dp=scenario.parallel.dp,
        placement=placement,
        memory_limit=memory_limit,
    )
    m = scenario.parallel.microbatches if scenario.parallel.microbatches is not None else schedule.num_microbatches
    b = scenario.model.microbatch_size if scenario.model is not None else 1
    samples = m * b * scenario.parallel.dp
    tokens = samples * model.seq_len if model is not None else None
    return Built(
        scenario=scenario,
        schedule=schedule,
        costs=costs,
        topology=topology,
        sim_options=options,
        gpu=gpu,
        model=model,
        workload=workload,
        microbatches=m,
        samples_per_iteration=samples,
        tokens_per_iteration=tokens,
        memory_limit=memory_limit,
        iterations=scenario.iterations,
        iterations_in_schedule=iterations_in_schedule,
        message_delay=delay,
    )


# --------------------------------------------------------------------------------------------
# Schedule


def _schedule(sc: Scenario, registry: Registry) -> tuple[Schedule, int]:
    section, par = sc.schedule, sc.parallel
    if section.csv is not None:
        return _csv_schedule(sc), 1
    name = section.name or DEFAULT_SCHEDULE
    try:
        gen = registry.get(name)
    except ScheduleOptionError as exc:
        raise located(str(exc), "schedule", "name") from None
    options = _schedule_options(gen, dict(section.options))
    iterations = 1
    if "iterations" in {o.name for o in gen.options}:
        iterations = _iterations(sc, options)
        options["iterations"] = iterations
    assert par.pp is not None and par.microbatches is not None  # the schema requires them without csv
    try:
        return gen(par.pp, par.microbatches, work_budget=sc.limits.budget, **options), iterations
    except BudgetError:
        raise
    except ScheduleOptionError as exc:
        raise located(str(exc), "schedule", "options") from None
    except ValueError as exc:  # RequirementError, LayoutError, ...
        raise located(f"{one_line(exc)} (scenario.parallel: pp={par.pp}, microbatches={par.microbatches})",
                     "schedule") from None


def _timed(sc: Scenario, registry: Registry, schedule: Schedule, costs: Costs, message_delay: float) -> Schedule:
    """The generated schedule again, ordered with the scenario's per-stage costs and its
    representative message delay (``pipesim.scenario.delay``) when its generator
    list-schedules (Hanayo, asymmetric Chimera), then the timing passes (``REDUCE_GRAD``
    placement, into the order's bubbles: on the costs, without the delay, see
    ``pipesim.plan.insert_reduce_grads``). The layout, and so the costs, do not depend on the
    order, which is why the costs computed from the first generation still fit."""
    if sc.schedule.csv is not None:
        return schedule
    gen = registry.get(sc.schedule.name or DEFAULT_SCHEDULE)
    if gen.cost_aware:
        options = {k: v for k, v in schedule.options.items() if k in {o.name for o in gen.options}}
        assert sc.parallel.pp is not None and sc.parallel.microbatches is not None
        schedule = gen(sc.parallel.pp, sc.parallel.microbatches, costs=costs, message_delay=message_delay,
                       work_budget=sc.limits.budget, **options)
    return finalize(schedule, costs)


def _schedule_options(gen: Generator, given: dict[str, Any]) -> dict[str, Any]:
    known = {o.name: o for o in gen.options}
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in known:
            if not known:
                raise located(f"unknown key {key!r}; schedule '{gen.name}' takes no options", "schedule", "options")
            raise located(unknown_key_message(key, list(known)), "schedule", "options")
        try:
            out[key] = known[key].coerce(value, gen.name)
        except ScheduleOptionError as exc:
            text = str(exc)
            lead = f"schedule '{gen.name}' option '{key}': "
            text = text[len(lead):] if text.startswith(lead) else text
            raise located(f"{text}; {known[key].help}", "schedule", "options", key) from None
    return out


def _iterations(sc: Scenario, options: dict[str, Any]) -> int:
    """``scenario.iterations`` is the simulated count (it defaults to the generator's own
    ``iterations`` option when only that is given); both may be set only if they agree."""
    if "iterations" in options and options["iterations"] != sc.iterations:
        raise located(f"{options['iterations']} disagrees with scenario.iterations: {sc.iterations}; set only "
                     "scenario.iterations", "schedule", "options", "iterations")
    return sc.iterations


def _csv_schedule(sc: Scenario) -> Schedule:
    where = ("schedule", "csv")
    path = Path(sc.schedule.csv or "")
    if not path.is_absolute():
        path = sc.base_dir / path
    if not path.is_file():
        raise located(f"file {sc.schedule.csv!r} not found (paths are relative to the scenario file's folder)", *where)
    try:
        from pipesim.schedule.torch_csv import read_csv
    except ImportError:  # pragma: no cover - the CSV reader ships with pipesim
        raise located("this pipesim has no PyTorch CSV reader", *where) from None
    try:
        schedule = read_csv(path)
    except (ValueError, OSError) as exc:
        raise located(one_line(exc), *where) from None
    par = sc.parallel
    for key, given, actual in (("pp", par.pp, schedule.num_devices), ("microbatches", par.microbatches,
                                                                        schedule.num_microbatches)):
        if given is not None and given != actual:
            raise located(f"{given} disagrees with the schedule csv, which has {actual}; leave {key} out or set it to "
                         f"{actual}", "parallel", key)
    return schedule


# --------------------------------------------------------------------------------------------
# Topology and placement


# Topology kinds whose device count may be left out (then pp x dp): the builder's count keys.
_COUNT_KEYS = {"free": ("num_devices", "devices"), "wan_chain": ("num_hosts", "hosts"),
               "internet": ("num_hosts", "hosts")}


def _topology(sc: Scenario, schedule: Schedule) -> Any:
    from pipesim.network import build_topology, free

    needed = schedule.num_devices * sc.parallel.dp
    if sc.topology is None:
        return free(needed)
    spec = dict(sc.topology)
    # Kinds made of interchangeable devices default to exactly the devices the run uses.
    count = _COUNT_KEYS.get(str(spec.get("kind")))
    if count is not None and not any(k in spec for k in count):
        spec[count[0]] = needed
    try:
        return build_topology(spec, where=(ROOT, "topology"))
    except InputError as exc:
        raise ScenarioError.from_error(exc) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise rebased(one_line(exc), "topology") from None


def _placement(sc: Scenario, schedule: Schedule, topology: Any) -> tuple[int, ...] | None:
    par = sc.parallel
    p, dp = schedule.num_devices, par.dp
    needed = p * dp
    kind = (sc.topology or {}).get("kind", "free")
    if par.placement is None:
        if needed > len(topology.devices):
            raise located(f"pp={p} x dp={dp} needs {needed} devices but the {kind} topology has "
                         f"{len(topology.devices)}; lower pp or dp, or enlarge the topology", "parallel")
        return None
    try:
        return par.placement.resolve(topology, p, dp, label=f"{kind} topology")
    except InputError as exc:
        raise ScenarioError.from_error(exc.within(ROOT, "parallel", "placement")) from None


# --------------------------------------------------------------------------------------------
# Helpers


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value
