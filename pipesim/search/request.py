"""From what a user asks (a scenario, or ``-p/-m/--costs``, plus ``--space``) to the search's
inputs: the ``Base`` every plan starts from and the ``Axes`` of the space.

The base scenario is built once here, so that a bad scenario fails before any work, and so
that the space knows p, the scenario's microbatch count and size (the global batch the
``m`` axis keeps), its schedule's family and its topology's devices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipesim.search.errors import SearchError
from pipesim.search.space import (
    SPACE_ITEMS,
    SPLITS,
    Axes,
    family,
    family_of,
    layout_axis,
    microbatch_axis,
    parse_space,
    placement_axis,
)
from pipesim.search.variant import Base, uses_split


def from_scenario(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = (), *,
                  space_text: str | None = None, placements: int = 3, seed: int = 0,
                  split_backward: bool | None = None) -> tuple[Base, Axes, tuple[str, ...], Any]:
    """``(base, axes, space, built base scenario)`` for a scenario file or mapping;
    ``split_backward`` pins the backward (None: searched whole and split where I and W have costs)."""
    from pipesim.scenario import build, load_scenario
    from pipesim.scenario.load import read_yaml

    if isinstance(source, Mapping):
        data, base_dir = dict(source), str(Path.cwd())
    else:
        path = Path(source)
        if not path.is_file():
            raise SearchError(f"scenario: file '{path}' not found" if not path.exists() else
                              f"scenario: '{path}' is not a file")
        data, base_dir = read_yaml(path), str(path.resolve().parent)
    scenario = load_scenario(data, list(overrides), base_dir=base_dir)
    built = build(scenario)
    if scenario.schedule.csv is not None:
        raise SearchError("scenario: schedule.csv fixes the order; the search needs a layout family "
                          "(schedule.name), so drop schedule.csv")
    has_model = built.workload is not None
    # I and W have costs of their own with a model (both workload models give them) or with
    # explicit costs naming both; otherwise they would be a guess (B/2 each).
    has_iw = has_model or (scenario.costs is not None and scenario.costs.I is not None and scenario.costs.W is not None)
    allowed = [i for i in SPACE_ITEMS if (has_model or i not in ("m", "split"))
               and (i != "backward" or (has_iw and split_backward is None))]
    space = parse_space(space_text, allowed=allowed)
    sched = built.schedule
    backwards = _backwards(space, uses_split(sched) if split_backward is None else split_backward)
    fam, degree = family_of(sched.name, dict(sched.options))
    p, m = sched.num_devices, built.microbatches
    notes: list[str] = []
    if fam.name != family_of(sched.name, {})[0].name or sched.name not in {s for s, _ in fam.seeds}:
        notes.append(f"layout: schedule '{sched.name}' searched as the {fam.name} family")
    b = built.workload.microbatch_size if built.workload is not None else None
    ms: tuple[tuple[int, int | None], ...] = ((m, b),)
    if "m" in space and b is not None:
        ms = tuple(microbatch_axis(m * b, m, p))
        notes.append(f"m: {', '.join(str(x) for x, _ in ms)} at a global batch of {m * b} per pipeline")
    splits = SPLITS if "split" in space else ("scenario",)
    place: tuple[tuple[str, tuple[int, ...] | None], ...] = (("scenario", None),)
    if "placement" in space:
        if scenario.parallel.placement is not None:
            raise SearchError("--space: 'placement' would override the scenario's parallel.placement; drop one")
        place, note = placement_axis(built.topology.devices, p * scenario.parallel.dp, samples=placements, seed=seed)
        notes.append(note)
    axes = Axes(layout_axis(space, (fam.name, degree)), ms, splits, place, tuple(notes), backwards, (fam.name, degree, m))
    return Base(scenario=data, base_dir=base_dir, overrides=tuple(overrides)), axes, space, built


def _backwards(space: Sequence[str], base: bool) -> tuple[bool, ...]:
    """The backward axis: the base value first, then the other one when ``backward`` is searched."""
    return (base, not base) if "backward" in space else (base,)


def from_table(devices: int, microbatches: int, costs: Mapping[str, float], *, schedule: str | None,
               degree: int | None, delay: float, space_text: str | None, split_backward: bool | None = None
               ) -> tuple[Base, Axes, tuple[str, ...]]:
    """``(base, axes, space)`` for the table form: costs of one device's share, a constant delay.
    The backward is searched whole and split when ``costs`` give I and W and nothing pins it
    (``split_backward``); otherwise it is whole unless pinned split."""
    if devices < 1:
        raise SearchError(f"-p/--devices: {devices}; must be >= 1")
    if microbatches < 1:
        raise SearchError(f"-m/--microbatches: {microbatches}; must be >= 1")
    has_iw = "I" in costs and "W" in costs
    space = parse_space(space_text, allowed=("order", "v", "layout")
                        + (("backward",) if has_iw and split_backward is None else ()))
    from pipesim.schedule import Registry

    name = Registry.default().get(schedule).name if schedule else "1f1b"
    fam, fam_degree = family_of(name, {})
    if degree is not None:
        if fam.degree_option is None:
            raise SearchError(f"-v/--chunks: the {fam.name} layout has no chunk count; give it for interleaved "
                              "or hanayo")
        fam_degree = degree
    family(fam.name)
    base = Base(devices=devices, costs=dict(costs), delay=delay)
    axes = Axes(layout_axis(space, (fam.name, fam_degree)), ((microbatches, None),),
                backwards=_backwards(space, bool(split_backward)))
    return base, axes, space
