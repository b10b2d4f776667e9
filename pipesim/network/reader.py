"""Topologies from dictionaries (YAML): ``build_topology`` for every kind, ``from_dict`` for graphs.

A topology dictionary is ``{kind: ..., <arguments>}``: ``kind`` names a builder
(``pipesim.network.builders``) whose keyword arguments are the other keys, or ``graph`` for an
explicit list of devices, switches and links. Problems are ``InputError``s located at the key
path of the bad value, under ``where`` (default ``topology``), e.g. ``topology.links[2].bandwidth``;
a caller that embeds the dictionary deeper nests them further (``err.within("scenario")``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from pipesim.budget import MAX_DEVICES
from pipesim.inputs import (
    InputError,
    PathLike,
    as_bool,
    as_list,
    as_mapping,
    as_path,
    at,
    did_you_mean,
    show,
    unknown_key_message,
)
from pipesim.network import builders
from pipesim.network.graph import PhysicalLink, Topology, name_list, repeats
from pipesim.network.presets import LINK_KEYS, read_link

GRAPH_KEYS = ("kind", "name", "devices", "switches", "links")
GRAPH_LINK_KEYS = ("a", "b", "preset", "bandwidth", "latency", "occupy_latency", "duplex", "reverse", "oneway",
                   "name")

# Short names accepted in dictionaries for the builders' count arguments.
_ALIASES = MappingProxyType({"gpus": "num_gpus", "nodes": "num_nodes", "hosts": "num_hosts",
                             "devices": "num_devices"})

# kind -> (public builder, whose signature lists the keys; implementation, errors relative to the dictionary)
_BUILDERS: Mapping[str, tuple[Callable[..., Topology], Callable[..., Topology]]] = MappingProxyType({
    "single_node": (builders.single_node, builders._single_node),
    "cluster": (builders.cluster, builders._cluster),
    "internet": (builders.internet, builders._internet),
    "wan_chain": (builders.wan_chain, builders._wan_chain),
    "free": (builders.free, builders._free),
})

KINDS = (*_BUILDERS, "graph")


def build_topology(spec: Mapping[str, Any], where: PathLike = "topology") -> Topology:
    """``{"kind": "single_node"|"cluster"|"internet"|"wan_chain"|"free"|"graph", ...}`` -> Topology.

    The other keys are the builder's arguments (``gpus``, ``nodes``, ``hosts`` and ``devices``
    are accepted for ``num_gpus`` etc.; ``internet`` also takes ``bandwidth`` for equal up and
    down rates). Errors are one line naming the key, e.g. ``topology.num_nodes: 0 is too small;
    expected a whole number >= 1``.
    """
    with at(*as_path(where)):
        return _build(spec)


def _build(spec: Any) -> Topology:
    if not isinstance(spec, Mapping):
        raise InputError(f"{show(spec)} is not a mapping; expected kind: {', '.join(KINDS)}")
    if "kind" not in spec:
        raise InputError(f"missing; expected one of: {', '.join(KINDS)}", "kind")
    kind = spec["kind"]
    if kind == "graph":
        return _graph(spec)
    if not isinstance(kind, str) or kind not in _BUILDERS:  # a list or mapping here is unhashable
        hint = did_you_mean(kind, KINDS) if isinstance(kind, str) else ""
        raise InputError(f"unknown topology kind {show(kind)}{hint}; known: {', '.join(KINDS)}", "kind")
    public, implementation = _BUILDERS[kind]
    params = list(inspect.signature(public).parameters.values())
    names = [p.name for p in params]
    valid = names + (["bandwidth"] if kind == "internet" else [])
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "kind":
            continue
        target = _ALIASES.get(key, key)
        if kind == "internet" and key == "bandwidth":
            if "up" in spec or "down" in spec:
                raise InputError("give either bandwidth or up/down, not both", "bandwidth")
            kwargs["up"] = kwargs["down"] = value
            continue
        if target not in names:
            raise InputError(unknown_key_message(key, valid, f" for kind '{kind}'"))
        if target in kwargs:
            raise InputError(f"given twice (as {target} and an alias)", key)
        kwargs[target] = value
    args = []
    for p in params:
        if p.name in kwargs:
            args.append(kwargs[p.name])
        elif p.default is inspect.Parameter.empty:
            required = [q.name for q in params if q.default is inspect.Parameter.empty]
            raise InputError(f"missing; kind '{kind}' needs {', '.join(required)}", p.name)
        else:
            args.append(p.default)
    return implementation(*args)


def from_dict(d: Mapping[str, Any], where: PathLike = "topology") -> Topology:
    """An explicit graph::

        {"kind": "graph", "devices": ["a", "b"], "switches": ["sw"],
         "links": [{"a": "a", "b": "sw", "bandwidth": "25 GB/s", "latency": "2 us"},
                   {"a": "sw", "b": "b", "preset": "ib-ndr", "duplex": true}]}

    Link keys: ``a``, ``b``, ``preset`` and/or ``bandwidth``/``latency``, ``occupy_latency``,
    ``duplex`` (default true; false = half duplex), ``oneway`` (only a->b), ``reverse`` (a
    mapping or preset for the b->a direction of an asymmetric link), ``name``. Every device
    must reach every other.
    """
    with at(*as_path(where)):
        return _graph(d)


def _graph(d: Any) -> Topology:
    data = as_mapping(d, GRAPH_KEYS)
    if data.get("kind", "graph") != "graph":
        raise InputError(f"{show(data['kind'])} is not 'graph'; from_dict reads graphs only (use build_topology)",
                         "kind")
    devices = _read_names(data.get("devices"), "devices", required=True)
    switches = _read_names(data.get("switches", []), "switches", required=False)
    both = set(devices) & set(switches)
    if both:
        raise InputError(f"{sorted(both)[0]!r} is also a device; names must be unique", "switches")
    nodes = (*devices, *switches)
    if len(nodes) > MAX_DEVICES:
        raise InputError(f"{len(nodes):,} devices and switches; at most {MAX_DEVICES:,}", "devices")
    links = []
    named: dict[str, int] = {}
    for i, item in enumerate(as_list(data.get("links", []), "links", empty=True, key="links")):
        with at("links", i):
            links.append(_graph_link(item, nodes))
            # A repeated name would merge two links' lanes in the trace and their rows in the metrics.
            if isinstance(item, dict) and "name" in item:
                name = links[-1].spec.name
                if name in named:
                    raise InputError(f"{name!r} repeats links[{named[name]}].name; link names must be unique", "name")
                named[name] = i
    topo = Topology(devices, nodes, tuple(links), name=str(data.get("name", "graph")))
    topo.check_connected(())
    return topo


def _read_names(value: Any, key: str, required: bool) -> tuple[str, ...]:
    if value is None or (required and value == []):
        raise InputError("missing; give a list of names, e.g. [gpu0, gpu1]", key)
    out = []
    for i, v in enumerate(as_list(value, "names", empty=True, key=key)):
        if not isinstance(v, str) or not v:
            raise InputError(f"{show(v)} is not a name", (key, i))
        out.append(v)
    if len(set(out)) != len(out):
        raise InputError(f"names repeat: {repeats(out)}", key)
    return tuple(out)


def _graph_link(item: Any, nodes: Sequence[str]) -> PhysicalLink:
    data = as_mapping(item, GRAPH_LINK_KEYS)
    for end in ("a", "b"):
        if end not in data:
            raise InputError("missing; a link needs both ends a and b", end)
        if data[end] not in nodes:
            raise InputError(f"{show(data[end])} is not a device or switch{did_you_mean(data[end], nodes)}; "
                             f"known: {name_list(list(nodes))}", end)
    if data["a"] == data["b"]:
        raise InputError(f"connects {data['a']!r} to itself")
    spec = read_link({k: data[k] for k in LINK_KEYS if k in data})
    duplex = as_bool(data["duplex"], key="duplex") if "duplex" in data else True
    oneway = as_bool(data["oneway"], key="oneway") if "oneway" in data else False
    reverse = None
    if "reverse" in data:
        if not duplex or oneway:
            raise InputError("only a full-duplex link can have a different reverse direction", "reverse")
        reverse = read_link(data["reverse"], key="reverse")
    return PhysicalLink(data["a"], data["b"], spec, duplex=duplex, reverse=reverse, oneway=oneway)
