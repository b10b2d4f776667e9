"""Replay explicit transfers on a topology: ``pipesim net FLOWS.yaml``.

A flows file is a topology (as for ``build_topology``) plus a list of transfers::

    topology: {kind: graph, devices: [a, b], links: [{a: a, b: b, bandwidth: 1 GB/s}]}
    policy: fair            # or fifo
    chunk_bytes: auto       # auto (default) or null/0: whole messages as max-min flows; a size: chunks on credits
    overhead: 0 s           # per-message software overhead at the sender
    flows:
      - {name: A, src: a, dst: b, bytes: 100 MB, start: 0 s}

``src``/``dst`` are device names or indices; ``bytes`` and ``start`` accept unit strings. The
answer is each flow's finish time (absolute, seconds), in the order the flows are listed. It is
the quickest way to check the link model against hand-derived cases
(docs/reference.md#link-contention); ``scenarios/flows/`` has examples.

``read_flows`` checks a file once into a ``FlowsSpec``, with the same readers as the scenario
format (``build_topology``, ``parse_policy``, ``Chunking.parse``, the ``pipesim.inputs``
checkers); problems are ``InputError``s located at their key (``flows[2].dst``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipesim.inputs import InputError, as_mapping, as_quantity, at, show
from pipesim.network.graph import Topology
from pipesim.network.options import Chunking, SharingPolicy, parse_policy
from pipesim.network.reader import build_topology
from pipesim.sim.network import simulate_flows
from pipesim.sim.records import TransferLog
from pipesim.units import format_time
from pipesim.yamlsafe import load_yaml

_KEYS = ("topology", "flows", "policy", "chunk_bytes", "overhead")
_FLOW_KEYS = ("name", "src", "dst", "bytes", "start")


@dataclass(frozen=True)
class FlowsSpec:
    """A checked flows file: the topology, how messages use it, and the transfers in file order,
    each ``(src device index, dst device index, bytes, start time)``."""

    topology: Topology
    policy: SharingPolicy
    chunking: Chunking
    overhead: float
    names: tuple[str, ...]
    flows: tuple[tuple[int, int, float, float], ...]


def replay(spec: Mapping[str, Any] | FlowsSpec, log: TransferLog | None = None) -> list[tuple[str, float]]:
    """Each flow's ``(name, finish time)``, in flow order. ``log`` (optional) records the run."""
    f = spec if isinstance(spec, FlowsSpec) else read_flows(spec)
    finish = simulate_flows(f.topology, list(f.flows), policy=f.policy, chunking=f.chunking,
                            overhead=f.overhead, log=log)
    return list(zip(f.names, finish, strict=True))


def read_flows(spec: Mapping[str, Any]) -> FlowsSpec:
    """Check a flows mapping (as ``load_flows`` returns it); raises ``InputError``."""
    if not isinstance(spec, Mapping):
        raise InputError(f"{show(spec)} is not a mapping; a flows file is a mapping with keys {', '.join(_KEYS)}")
    data = as_mapping(spec, _KEYS)
    if "topology" not in data:
        raise InputError("missing; give e.g. {kind: graph, devices: [...], links: [...]}", "topology")
    topology = build_topology(data["topology"])
    policy = parse_policy(data.get("policy", "fair"), key="policy")
    chunking = Chunking.parse(data.get("chunk_bytes", "auto"), key="chunk_bytes")
    overhead = as_quantity(data.get("overhead", 0.0), "time", finite=True, key="overhead")
    raw = data.get("flows")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise InputError("missing or empty; give a list of {name, src, dst, bytes, start}", "flows")
    names: list[str] = []
    flows: list[tuple[int, int, float, float]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        with at("flows", i):
            name, flow = _flow(item, i, topology)
            if name in seen:
                raise InputError(f"{name!r} repeats flows[{seen[name]}]; names must be unique", "name")
        seen[name] = i
        names.append(name)
        flows.append(flow)
    return FlowsSpec(topology, policy, chunking, overhead, tuple(names), tuple(flows))


def _flow(item: Any, i: int, topology: Topology) -> tuple[str, tuple[int, int, float, float]]:
    data = as_mapping(item, _FLOW_KEYS)
    for key in ("src", "dst", "bytes"):
        if key not in data:
            raise InputError("missing; a flow needs src, dst and bytes", key)
    src = topology.device_index(data["src"], key="src")
    dst = topology.device_index(data["dst"], key="dst")
    if src == dst:
        raise InputError(f"{show(data['dst'])} is also the source; a flow goes from one device to another", "dst")
    nbytes = as_quantity(data["bytes"], "size", finite=True, key="bytes")
    start = as_quantity(data.get("start", 0.0), "time", finite=True, key="start")
    return str(data.get("name", f"flow{i}")), (src, dst, nbytes, start)


def load_flows(path: str | Path) -> dict[str, Any]:
    """Read a flows YAML file into the mapping ``replay`` takes."""
    import yaml

    p = Path(path)
    try:
        data = load_yaml(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", (str(p),)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({' '.join(str(exc).split())})", (str(p),)) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping with keys {', '.join(_KEYS)}, got {type(data).__name__}", (str(p),))
    return data


def format_flows(results: Sequence[tuple[str, float]]) -> str:
    """A text table: flow name, finish time in seconds (full precision) and in readable units."""
    width = max([len("flow"), *(len(name) for name, _ in results)])
    lines = [f"{'flow':<{width}}  {'finish (s)':>16}  finish"]
    for name, t in results:
        lines.append(f"{name:<{width}}  {t:>16.9f}  {format_time(t)}")
    return "\n".join(lines)
