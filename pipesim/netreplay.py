"""Replay explicit transfers on a topology: ``pipesim net FLOWS.yaml``.

A flows file is a topology (as for ``build_topology``) plus a list of transfers::

    topology: {kind: graph, devices: [a, b], links: [{a: a, b: b, bandwidth: 1 GB/s}]}
    policy: fair            # or fifo
    chunk_bytes: auto       # auto = the network default (4 MiB); null or 0 = whole messages
    overhead: 0 s           # per-message software overhead at the sender
    flows:
      - {name: A, src: a, dst: b, bytes: 100 MB, start: 0 s}

``src``/``dst`` are device names or indices; ``bytes`` and ``start`` accept unit strings. The
answer is each flow's finish time (absolute, seconds), in the order the flows are listed. It is
the quickest way to check the link model against hand-derived cases
(docs/reference.md#link-contention); ``scenarios/flows/`` has examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipesim.network.topology import build_topology
from pipesim.sim.network import DEFAULT_CHUNK_BYTES, POLICIES, simulate_flows
from pipesim.sim.records import TransferLog
from pipesim.units import format_time, parse_size, parse_time

_KEYS = ("topology", "flows", "policy", "chunk_bytes", "overhead")
_FLOW_KEYS = ("name", "src", "dst", "bytes", "start")


def replay(spec: Mapping[str, Any], log: TransferLog | None = None) -> list[tuple[str, float]]:
    """Each flow's ``(name, finish time)``, in flow order. ``log`` (optional) records the run."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"flows file: expected a mapping with keys {', '.join(_KEYS)}, got {type(spec).__name__}")
    for key in spec:
        if key not in _KEYS:
            raise ValueError(f"{key}: unknown key; valid: {', '.join(_KEYS)}")
    if "topology" not in spec:
        raise ValueError("topology: missing; give e.g. {kind: graph, devices: [...], links: [...]}")
    topology = build_topology(spec["topology"])
    policy = spec.get("policy", "fair")
    if policy not in POLICIES:
        raise ValueError(f"policy: {policy!r} is not one of: {', '.join(POLICIES)}")
    chunk = _chunk(spec.get("chunk_bytes", "auto"))
    overhead = parse_time(spec.get("overhead", 0.0), key="overhead")
    if not (math.isfinite(overhead) and overhead >= 0):
        raise ValueError(f"overhead: {spec['overhead']!r}; must be a finite time >= 0")
    raw = spec.get("flows")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ValueError("flows: missing or empty; give a list of {name, src, dst, bytes, start}")
    names: list[str] = []
    flows: list[tuple[int, int, float, float]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        where = f"flows[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: {item!r} is not a mapping; expected keys {', '.join(_FLOW_KEYS)}")
        for key in item:
            if key not in _FLOW_KEYS:
                raise ValueError(f"{where}.{key}: unknown key; valid: {', '.join(_FLOW_KEYS)}")
        for key in ("src", "dst", "bytes"):
            if key not in item:
                raise ValueError(f"{where}.{key}: missing; a flow needs src, dst and bytes")
        name = str(item.get("name", f"flow{i}"))
        if name in seen:
            raise ValueError(f"{where}.name: {name!r} repeats flows[{seen[name]}]; names must be unique")
        seen[name] = i
        src = topology.device_index(item["src"], key=f"{where}.src")
        dst = topology.device_index(item["dst"], key=f"{where}.dst")
        nbytes = parse_size(item["bytes"], key=f"{where}.bytes")
        if not (math.isfinite(nbytes) and nbytes >= 0):
            raise ValueError(f"{where}.bytes: {item['bytes']!r}; must be a finite size >= 0")
        start = parse_time(item.get("start", 0.0), key=f"{where}.start")
        if not (math.isfinite(start) and start >= 0):
            raise ValueError(f"{where}.start: {item['start']!r}; must be a finite time >= 0")
        names.append(name)
        flows.append((src, dst, nbytes, start))
    finish = simulate_flows(topology, flows, policy=policy, chunk_bytes=chunk, overhead=overhead, log=log)
    return list(zip(names, finish, strict=True))


def _chunk(value: Any) -> float | None:
    if value == "auto":
        return DEFAULT_CHUNK_BYTES
    if value is None or value == 0:
        return None
    size = parse_size(value, key="chunk_bytes")
    if not (size > 0 and math.isfinite(size)):
        raise ValueError(f"chunk_bytes: {value!r}; give a size > 0, 'auto', or null/0 for whole messages")
    return size


def load_flows(path: str | Path) -> dict[str, Any]:
    """Read a flows YAML file into the mapping ``replay`` takes."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ValueError(f"{p}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping with keys {', '.join(_KEYS)}")
    return data


def format_flows(results: Sequence[tuple[str, float]]) -> str:
    """A text table: flow name, finish time in seconds (full precision) and in readable units."""
    width = max([len("flow"), *(len(name) for name, _ in results)])
    lines = [f"{'flow':<{width}}  {'finish (s)':>16}  finish"]
    for name, t in results:
        lines.append(f"{name:<{width}}  {t:>16.9f}  {format_time(t)}")
    return "\n".join(lines)
