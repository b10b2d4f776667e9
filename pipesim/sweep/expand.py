"""Expansion: a sweep's grid x zip as an ordered list of runs, each with a stable id.

A run's ``run_id`` is a hash of its canonical override set (paths and values, sorted), so
reordering keys in the file changes the expansion order but never an id; results.csv can
therefore be resumed after such an edit.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from pipesim.sweep.spec import SweepError, SweepSpec, canonical, canonical_key


@dataclass(frozen=True)
class RunPoint:
    """One run: its place in the expansion, id, swept values and the ``--set`` strings."""

    index: int
    run_id: str
    params: dict[str, Any]  # canonical key path -> value as written in the sweep file
    overrides: tuple[str, ...]


def run_id_for(params: Mapping[str, Any]) -> str:
    """10 hex digits of SHA-256 over the sorted (canonical path, value) pairs."""
    pairs = sorted((canonical_key(k), canonical(v)) for k, v in params.items())
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:10]


def _yaml_value(value: Any, key: str) -> str:
    """``value`` as the YAML text that ``--set`` parses back to exactly ``value``."""
    out = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False).strip()
    if out.endswith("\n..."):
        out = out[:-4]
    if yaml.safe_load(out) != value:  # pragma: no cover - safe_dump round-trips plain YAML data
        raise SweepError(f"sweep: cannot pass the value {value!r} of {key} as an override")
    return out


def expand(spec: SweepSpec) -> list[RunPoint]:
    """Every run, in a fixed order: the grid's cartesian product (first key slowest), and for
    each grid point every zip position. No grid and no zip: one run of the base."""
    grid_keys = [canonical_key(k) for k in spec.grid]
    zip_keys = [canonical_key(k) for k in spec.zip]
    zip_len = len(next(iter(spec.zip.values()))) if spec.zip else 1
    points: list[RunPoint] = []
    ids: dict[str, int] = {}
    for combo in itertools.product(*spec.grid.values()):
        for j in range(zip_len):
            params = dict(zip(grid_keys, combo, strict=True))
            params.update({k: values[j] for k, values in zip(zip_keys, spec.zip.values(), strict=True)})
            run_id = run_id_for(params)
            if run_id in ids:  # pragma: no cover - needs a SHA-256 prefix collision
                raise SweepError(f"sweep: runs {ids[run_id]} and {len(points)} have the same id {run_id}")
            ids[run_id] = len(points)
            overrides = tuple(f"{k}={_yaml_value(v, k)}" for k, v in params.items())
            points.append(RunPoint(len(points), run_id, params, overrides))
    return points
