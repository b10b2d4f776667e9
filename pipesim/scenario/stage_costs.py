"""The scenario's GPU, model and per-stage costs (see ``pipesim.scenario.build`` for the rules
by which a model or explicit numbers become per-stage values)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pipesim.costs import Costs
from pipesim.scenario.located import located, rebased
from pipesim.scenario.schema import ModelSection, Scenario
from pipesim.scenario.split import BALANCED, PartCosts, balanced_split
from pipesim.schedule.table import Schedule
from pipesim.workload import (
    GPUSpec,
    ModelSpec,
    Profile,
    WorkloadError,
    WorkloadSummary,
    gpu_preset,
    load_profile,
    model_preset,
    summarize,
)


def gpu_of(sc: Scenario) -> GPUSpec | None:
    if sc.hardware is None:
        return None
    try:
        return gpu_preset(sc.hardware.gpu or "", **sc.hardware.overrides())
    except WorkloadError as exc:
        raise rebased(str(exc), "hardware") from None


def model_of(section: ModelSection) -> ModelSpec:
    shape = {k: getattr(section, k) for k in ("layers", "hidden", "heads", "seq_len", "vocab",
                                              "tied_embeddings", "learned_positions")}
    given = {k: v for k, v in {**shape, **layer_options(section)}.items() if v is not None}
    try:
        if section.preset is not None:
            base = model_preset(section.preset)
            return dataclasses.replace(base, **given) if given else base
        return ModelSpec(name="custom", **given)
    except WorkloadError as exc:
        raise rebased(str(exc), "model") from None


def layer_options(section: ModelSection) -> dict[str, Any]:
    """The roofline model's layer keys (``model.cost_model``, ``attention``, ``kv_heads``,
    ``mlp``, ``ffn_hidden``, ``dropout``); unset ones keep the preset's."""
    return {k: getattr(section, k) for k in ("cost_model", "attention", "kv_heads", "mlp", "ffn_hidden", "dropout")}


def profile(sc: Scenario) -> Profile | None:
    """``hardware.profile``: measured layer and head costs that override the analytic model."""
    if sc.hardware is None or sc.hardware.profile is None:
        return None
    path = Path(sc.hardware.profile)
    if not path.is_absolute() and (sc.base_dir / path).is_file():  # relative to the scenario file
        path = sc.base_dir / path
    try:
        return load_profile(path)
    except WorkloadError as exc:
        raise located(str(exc).removeprefix("hardware.profile: "), "hardware", "profile") from None


def workload_of(sc: Scenario, model: ModelSpec, gpu: GPUSpec, schedule: Schedule) -> WorkloadSummary:
    """The model cut into the schedule's parts: ``model.layers_per_stage`` as given, the
    workload's uniform split when null, or ``balanced`` (``pipesim.scenario.split``)."""
    sec = sc.model
    assert sec is not None
    parts = schedule.layout.num_parts
    given = sec.layers_per_stage
    if isinstance(given, tuple) and len(given) != parts:
        raise located(f"{len(given)} values given but schedule '{schedule.name}' cuts the model into "
                     f"{parts} parts ({schedule.num_stages} stages on {schedule.num_devices} devices); give one layer "
                     "count per part, or 'balanced'", "model", "layers_per_stage")
    if parts > model.layers:
        raise located(f"schedule '{schedule.name}' cuts the model into {parts} parts but '{model.name}' has only "
                     f"{model.layers} layers; lower parallel.pp or the schedule's chunks", "model")
    split: tuple[int, ...] | None = given if not isinstance(given, str) else None
    if given == BALANCED:
        split = balanced_split(schedule.layout, model.layers, part_costs(sc, model, gpu, parts))
    return _summarize(sc, model, gpu, parts, split)


def part_costs(sc: Scenario, model: ModelSpec, gpu: GPUSpec, parts: int) -> PartCosts:
    """Per-microbatch F + B of each part as ``base + per_layer x layers``, read off the workload
    model itself: part costs are affine in the layer count, so two splits that put every layer
    in part 0, then in part 1 (the rest empty) give every part's base (embedding, head, loss,
    boundary work) and the per-layer cost."""
    L = model.layers

    def totals(split: tuple[int, ...]) -> list[float]:
        c = _summarize(sc, model, gpu, parts, split).to_costs()
        return [f + b for f, b in zip(c.forward, c.backward, strict=True)]

    if parts == 1:
        return PartCosts((0.0,), totals((L,))[0] / L)
    first = totals((L,) + (0,) * (parts - 1))
    second = totals((0, L) + (0,) * (parts - 2))
    base = (second[0], *first[1:])
    return PartCosts(tuple(base), (second[1] - first[1]) / L)


def _summarize(sc: Scenario, model: ModelSpec, gpu: GPUSpec, parts: int,
               split: tuple[int, ...] | None) -> WorkloadSummary:
    sec = sc.model
    assert sec is not None
    try:
        return summarize(
            model, gpu, parts,
            microbatch_size=sec.microbatch_size,
            dtype=sec.dtype,
            layers_per_stage=split,
            recompute=sec.recompute,
            tensor_parallel=sec.tensor_parallel,
            optimizer=sec.optimizer,
            compression=sc.compression.spec() if sc.compression is not None else None,
            profile=profile(sc),
        )
    except WorkloadError as exc:
        raise rebased(str(exc), "model") from None


def expand_parts(workload: WorkloadSummary, schedule: Schedule) -> Costs:
    """Per-part costs -> per-stage costs through ``layout.stage_part``."""
    per_part = workload.to_costs()
    parts = schedule.layout.stage_part
    if sorted(set(parts)) != list(range(per_part.num_stages)):
        raise located(f"schedule '{schedule.name}' numbers its model parts {sorted(set(parts))}; expected "
                     f"0..{per_part.num_stages - 1}", "schedule")
    if list(parts) == list(range(per_part.num_stages)):
        return per_part
    pick: dict[str, Any] = {f.name: tuple(getattr(per_part, f.name)[k] for k in parts)
            for f in dataclasses.fields(Costs) if isinstance(getattr(per_part, f.name), tuple)}
    return dataclasses.replace(per_part, num_stages=len(parts), **pick)


SCALED = ("F", "B", "I", "W", "activation_bytes", "param_bytes", "optimizer_bytes")


def explicit_costs(sc: Scenario, schedule: Schedule) -> Costs:
    sec = sc.costs
    assert sec is not None
    lay = schedule.layout
    p, parts, stages = lay.num_devices, lay.num_parts, lay.num_stages
    counts = {"stage": stages, "part": parts, "device": p}
    share = p / parts  # of one device's share of one model copy, per stage (per: device)
    values: dict[str, Any] = {}
    for key in ("F", "B", "I", "W", "message_bytes", "activation_bytes", "param_bytes", "optimizer_bytes"):
        raw = getattr(sec, key)
        if raw is None:
            continue
        scale = share if sec.per == "device" and key in SCALED else 1.0
        if isinstance(raw, tuple):
            if len(raw) != counts[sec.per]:
                others = [f"per: {u} takes {n}" for u, n in counts.items() if u != sec.per]
                raise located(f"{len(raw)} values given but schedule '{schedule.name}' has {counts[sec.per]} "
                             f"{sec.per}s (costs.per: {sec.per}); give one value or one per {sec.per} "
                             f"({'; '.join(others)})", "costs", key)
            index = {"stage": range(stages), "part": lay.stage_part, "device": lay.stage_device}[sec.per]
            values[key] = [raw[i] * scale for i in index]
        else:
            values[key] = raw * scale
    sized = sec.activation_bytes is not None
    if not sized and sec.per == "device":
        # No sizes: memory in model-stage units, a stage holding 1/v of a device's share counts 1/v.
        values["activation_bytes"] = share
    try:
        return Costs.make(stages, weight_keep=sec.weight_keep, overlap=sec.overlap, sized=sized, **values)
    except ValueError as exc:
        raise rebased(str(exc), "costs") from None
