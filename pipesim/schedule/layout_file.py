"""A layout as a small JSON document, so that a CSV order of a multi-route layout reads back.

A PyTorch pipelining CSV names stages and microbatches but not which route a microbatch takes
or which stages are replicas of one model part (Chimera, DualPipe). ``layout.json`` carries
exactly the fields of ``Layout``; ``read_layout`` checks every one before building it, so a
damaged file is a one-line error naming the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipesim.inputs import InputError, as_list, as_mapping, as_whole
from pipesim.schedule.layout import Layout, LayoutError

KEYS = ("num_devices", "stage_device", "stage_part", "routes", "mb_route")
# Bounds that keep a hostile file from sizing anything huge before the layout checks run.
_MAX_DEVICES = 65_536
_MAX_ENTRIES = 1 << 22


def layout_document(layout: Layout) -> dict[str, Any]:
    return {"num_devices": layout.num_devices, "stage_device": list(layout.stage_device),
            "stage_part": list(layout.stage_part), "routes": [list(r) for r in layout.routes],
            "mb_route": list(layout.mb_route)}


def write_layout(layout: Layout, path: str | Path) -> None:
    Path(path).write_text(json.dumps(layout_document(layout), indent=1) + "\n")


def _ints(value: object, key: tuple[str | int, ...], maximum: int) -> tuple[int, ...]:
    items = as_list(value, "whole numbers", key=key)
    if len(items) > _MAX_ENTRIES:
        raise InputError(f"{len(items):,} entries; at most {_MAX_ENTRIES:,}", key)
    return tuple(as_whole(x, 0, maximum=maximum, key=(*key, i)) for i, x in enumerate(items))


def layout_from_document(doc: object) -> Layout:
    d = as_mapping(doc, KEYS, context="layout file")
    missing = [k for k in KEYS if k not in d]
    if missing:
        raise InputError(f"missing key(s) {', '.join(missing)}; a layout file has {', '.join(KEYS)}")
    routes_raw = as_list(d["routes"], "routes (lists of stages)", key=("routes",))
    if len(routes_raw) > _MAX_ENTRIES:
        raise InputError(f"{len(routes_raw):,} routes; at most {_MAX_ENTRIES:,}", ("routes",))
    try:
        return Layout(
            num_devices=as_whole(d["num_devices"], 1, maximum=_MAX_DEVICES, key=("num_devices",)),
            stage_device=_ints(d["stage_device"], ("stage_device",), _MAX_ENTRIES),
            stage_part=_ints(d["stage_part"], ("stage_part",), _MAX_ENTRIES),
            routes=tuple(_ints(r, ("routes", i), _MAX_ENTRIES) for i, r in enumerate(routes_raw)),
            mb_route=_ints(d["mb_route"], ("mb_route",), _MAX_ENTRIES),
        )
    except LayoutError as exc:
        raise InputError(str(exc).removeprefix("layout: ")) from None


def read_layout(path: str | Path) -> Layout:
    """A ``layout.json`` (as written by ``write_layout``) back into a ``Layout``; a ``ValueError``
    with one line naming the file and the key otherwise."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"layout file '{p}' not found" if not p.exists() else f"layout file '{p}' is not a file")
    try:
        doc = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"layout file '{p}': not JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"layout file '{p}': nested too deeply to be a layout") from None
    try:
        return layout_from_document(doc)
    except InputError as exc:
        raise ValueError(f"layout file '{p}': {exc}") from None
