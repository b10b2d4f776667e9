"""Topology: devices, switches and the links between them, with deterministic routing.

Pure data (no SimPy). A topology is a graph of named nodes; some nodes are *devices* (GPU or
host endpoints, indexed 0..n-1 in ``devices`` order), the rest are switches, NICs, hosts or a
network core. Each physical link becomes one or two *directed links*, each with a stable index
(its position in ``Topology.directed``) and a name such as ``"n0.gpu0->n0.nvsw"``; the
simulator creates one queue per directed link. A half-duplex link has a single directed link
(named ``"a<->b"``) that both directions share.

Routing (``Topology.route``): the path with the fewest hops; ties go to the lowest total
latency, then to the lexicographically smallest sequence of node names. Paths are computed
once per source device and cached inside the object (no module state).

Latency convention of the builders: a preset's latency is the typical one-way figure between
two endpoints, so where a builder puts a switch between them it gives each of the two hops
half of it (GPU -> NVSwitch -> GPU costs the preset's 1 us, not 2 us). Links in ``from_dict``
graphs carry exactly the latency written.
"""

from __future__ import annotations

import heapq
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from pipesim.network.presets import PRESETS, LinkSpec, link_preset
from pipesim.units import format_rate, format_time, parse_rate, parse_time


@dataclass(frozen=True)
class PhysicalLink:
    """A cable (or a bus) between nodes ``a`` and ``b``.

    ``spec`` is the a->b direction. ``duplex`` (default) gives b->a its own, independent
    direction, with ``reverse`` as its spec when it differs (asymmetric access links);
    ``duplex=False`` makes one shared direction object for both ways (half duplex).
    ``oneway`` links exist only from a to b (used to model a node's internal data path).
    """

    a: str
    b: str
    spec: LinkSpec
    duplex: bool = True
    reverse: LinkSpec | None = None
    oneway: bool = False


@dataclass(frozen=True)
class DirectedLink:
    """One queue in the simulator: a direction of a physical link (or a half-duplex link)."""

    index: int
    name: str
    src: str
    dst: str
    spec: LinkSpec
    physical: int  # index into Topology.links


@dataclass(frozen=True)
class Topology:
    devices: tuple[str, ...]
    nodes: tuple[str, ...]  # every node, devices included
    links: tuple[PhysicalLink, ...]
    name: str = "graph"
    directed: tuple[DirectedLink, ...] = field(init=False, compare=False, repr=False)
    _adjacency: dict[str, tuple[tuple[str, int, float], ...]] = field(
        init=False, compare=False, repr=False, hash=False
    )
    # Route cache: source device -> routes to every device (None where unreachable).
    _routes: dict[int, tuple[tuple[int, ...] | None, ...]] = field(
        init=False, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "devices", tuple(self.devices))
        set_(self, "nodes", tuple(self.nodes))
        set_(self, "links", tuple(self.links))
        if not self.devices:
            raise ValueError("topology: no devices; a topology needs at least one device")
        node_set = set(self.nodes)
        if len(node_set) != len(self.nodes):
            raise ValueError(f"topology: node names repeat: {_repeats(self.nodes)}")
        if len(set(self.devices)) != len(self.devices):
            raise ValueError(f"topology: device names repeat: {_repeats(self.devices)}")
        for d in self.devices:
            if d not in node_set:
                raise ValueError(f"topology: device {d!r} is not among the nodes")
        directed: list[DirectedLink] = []
        adjacency: dict[str, list[tuple[str, int, float]]] = {n: [] for n in self.nodes}
        undirected: dict[frozenset[str], int] = {}  # duplex and half-duplex links by node pair
        oneway: dict[tuple[str, str], int] = {}

        def add(name: str, src: str, dst: str, spec: LinkSpec, phys: int, both_ways: bool) -> None:
            index = len(directed)
            directed.append(DirectedLink(index, name, src, dst, spec, phys))
            adjacency[src].append((dst, index, spec.latency))
            if both_ways:
                adjacency[dst].append((src, index, spec.latency))

        for i, link in enumerate(self.links):
            a, b = link.a, link.b
            for end in (a, b):
                if end not in node_set:
                    raise ValueError(f"topology: links[{i}] ends at {end!r}, which is not a node")
            if a == b:
                raise ValueError(f"topology: links[{i}] connects {a!r} to itself")
            if link.reverse is not None and (link.oneway or not link.duplex):
                raise ValueError(f"topology: links[{i}] has a reverse spec but is not full duplex")
            pair = frozenset((a, b))
            # One cable per node pair keeps directed-link names unique; two one-way links in
            # opposite directions are the only allowed pair.
            clash = undirected.get(pair, oneway.get((a, b)))
            if clash is None and not link.oneway:
                clash = oneway.get((b, a))
            if clash is not None:
                raise ValueError(
                    f"topology: links[{i}] ({a} - {b}) repeats links[{clash}]; give one link per pair of nodes"
                )
            if link.oneway:
                oneway[(a, b)] = i
                add(f"{a}->{b}", a, b, link.spec, i, False)
            elif not link.duplex:
                undirected[pair] = i
                add(f"{a}<->{b}", a, b, link.spec, i, True)
            else:
                undirected[pair] = i
                add(f"{a}->{b}", a, b, link.spec, i, False)
                add(f"{b}->{a}", b, a, link.reverse or link.spec, i, False)
        set_(self, "directed", tuple(directed))
        set_(self, "_adjacency", {n: tuple(adj) for n, adj in adjacency.items()})
        set_(self, "_routes", {})

    # -- queries ------------------------------------------------------------------------------
    @property
    def num_devices(self) -> int:
        return len(self.devices)

    @property
    def link_names(self) -> tuple[str, ...]:
        """Directed-link names in index order."""
        return tuple(d.name for d in self.directed)

    def device_index(self, device: int | str, *, key: str = "device") -> int:
        """Index of a device given by index or name; ``key`` names the field in errors."""
        if isinstance(device, bool):
            raise ValueError(f"{key}: {device!r} is not a device index or name")
        if isinstance(device, int):
            if 0 <= device < len(self.devices):
                return device
            raise ValueError(f"{key}: device {device} does not exist; devices are 0..{len(self.devices) - 1}")
        if isinstance(device, str):
            try:
                return self.devices.index(device)
            except ValueError:
                raise ValueError(f"{key}: unknown device {device!r}; devices: {_names(self.devices)}") from None
        raise ValueError(f"{key}: {device!r} is not a device index or name")

    def route(self, src_device: int, dst_device: int) -> tuple[int, ...]:
        """Directed-link indices from device ``src_device`` to ``dst_device`` (empty if equal).

        Fewest hops; ties by lowest total latency, then by the lexicographically smallest
        sequence of node names along the path.
        """
        n = len(self.devices)
        for what, d in (("src_device", src_device), ("dst_device", dst_device)):
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < n:
                raise ValueError(f"route: {what}={d!r}; devices are 0..{n - 1}")
        table = self._routes.get(src_device)
        if table is None:
            table = self._routes_from(src_device)
            self._routes[src_device] = table
        path = table[dst_device]
        if path is None:
            raise ValueError(
                f"route: device {self.devices[src_device]!r} cannot reach {self.devices[dst_device]!r}"
            )
        return path

    def check_connected(self, where: str = "topology") -> None:
        """Raise ValueError naming the first device pair with no path between them."""
        for s in range(len(self.devices)):
            table = self._routes.get(s)
            if table is None:
                table = self._routes_from(s)
                self._routes[s] = table
            for d, path in enumerate(table):
                if path is None:
                    raise ValueError(
                        f"{where}: device {self.devices[s]!r} cannot reach device {self.devices[d]!r}; "
                        "add links so that every device can reach every other"
                    )

    def _routes_from(self, src_device: int) -> tuple[tuple[int, ...] | None, ...]:
        # Dijkstra on the key (hops, latency, node names). Extending two equal-length paths by
        # the same edge keeps their order, so the best path's prefixes are best paths too.
        # A node is pushed again only when the new key beats the best one pushed so far, so a
        # dense graph (a full mesh of n devices) costs O(n) pushes per source, not O(n^2).
        src = self.devices[src_device]
        heap: list[tuple[int, float, tuple[str, ...], tuple[int, ...]]] = [(0, 0.0, (src,), ())]
        best: dict[str, tuple[int, ...]] = {}
        pushed: dict[str, tuple[int, float, tuple[str, ...]]] = {src: (0, 0.0, (src,))}
        adjacency = self._adjacency
        while heap:
            hops, lat, names, path = heapq.heappop(heap)
            node = names[-1]
            if node in best:
                continue
            best[node] = path
            for nbr, index, link_lat in adjacency[node]:
                if nbr in best:
                    continue
                key = (hops + 1, lat + link_lat, (*names, nbr))
                old = pushed.get(nbr)
                if old is None or key < old:
                    pushed[nbr] = key
                    heapq.heappush(heap, (*key, (*path, index)))
        return tuple(best.get(d) for d in self.devices)


def _repeats(names: Sequence[str]) -> str:
    seen: set[str] = set()
    return ", ".join(sorted({n for n in names if n in seen or seen.add(n)}))


def _names(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# --------------------------------------------------------------------------------------------
# Argument checks shared by the builders. ``key`` is the full path used in messages.


def _count(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}: {value!r} is not an integer >= {minimum}")
    return value


def _positive(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{key}: {value!r} is not a finite number > 0")
    return float(value)


def _choice(value: Any, key: str, options: Sequence[str]) -> str:
    if value not in options:
        raise ValueError(f"{key}: {value!r} is not one of: {', '.join(options)}")
    return value


_SPEC_KEYS = ("preset", "bandwidth", "latency", "occupy_latency", "name")


def _link_spec(value: Any, key: str) -> LinkSpec:
    """A LinkSpec from a preset name, a LinkSpec, or a mapping ``{preset?, bandwidth?, latency?,
    occupy_latency?, name?}`` (a mapping without a preset needs a bandwidth)."""
    if isinstance(value, LinkSpec):
        return value
    try:
        if isinstance(value, str):
            return link_preset(value)
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in _SPEC_KEYS]
            if unknown:
                raise ValueError(f"{key}.{unknown[0]}: unknown key; valid: {', '.join(_SPEC_KEYS)}")
            return _spec_from_mapping(value, key)
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(key) else f"{key}: {text}") from None
    raise ValueError(f"{key}: {value!r} is not a link; give a preset ({', '.join(PRESETS)}) or a mapping "
                     "with bandwidth and latency")


def _spec_from_mapping(value: Mapping[str, Any], key: str) -> LinkSpec:
    if "preset" in value:
        base = link_preset(value["preset"]) if isinstance(value["preset"], str) else None
        if base is None:
            raise ValueError(f"{key}.preset: {value['preset']!r} is not a preset name; known: {', '.join(PRESETS)}")
    elif "bandwidth" not in value:
        raise ValueError(f"{key}: needs a bandwidth (e.g. bandwidth: '25 GB/s') or a preset")
    else:
        base = LinkSpec(bandwidth=math.inf)
    bw = parse_rate(value["bandwidth"], key=f"{key}.bandwidth") if "bandwidth" in value else base.bandwidth
    lat = parse_time(value["latency"], key=f"{key}.latency") if "latency" in value else base.latency
    occupy = value.get("occupy_latency", base.occupy_latency)
    if not isinstance(occupy, bool):
        raise ValueError(f"{key}.occupy_latency: {occupy!r} is not true or false")
    name = str(value.get("name", base.name))
    try:
        return LinkSpec(bandwidth=bw, latency=lat, occupy_latency=occupy, name=name)
    except ValueError as exc:
        raise ValueError(f"{key}: {str(exc).partition(': ')[2] or exc}") from None


def _half(spec: LinkSpec) -> LinkSpec:
    """The same link with half the latency: one of the two hops into and out of a switch."""
    return replace(spec, latency=spec.latency / 2)


_NIC_ATTACH = LinkSpec(bandwidth=math.inf, latency=0.0, name="nic-attach")


# --------------------------------------------------------------------------------------------
# Builders. Each public builder is a thin wrapper over ``_build_*(…, where)`` so that errors
# name ``single_node.num_gpus`` when called from Python and ``topology.num_gpus`` from YAML.

FABRICS = ("nvswitch", "pcie-switch", "pcie-host")
_FABRIC_DEFAULT = {"nvswitch": "nvlink4", "pcie-switch": "pcie4", "pcie-host": "pcie4"}


def single_node(num_gpus: int, fabric: str = "nvswitch", link: str | LinkSpec | Mapping[str, Any] | None = None) -> Topology:
    """One server with ``num_gpus`` GPUs named ``n0.gpu{i}``.

    * ``nvswitch``: every GPU has its own full-duplex link to the NVSwitch ``n0.nvsw``.
    * ``pcie-switch``: the same star around a PCIe switch ``n0.pciesw``.
    * ``pcie-host``: no peer-to-peer; a GPU-to-GPU copy is staged through host memory. GPU i
      writes up its own PCIe link into the CPU root complex ``n0.cpu``, crosses the single host
      link ``n0.cpu->n0.mem`` (the bounce through host memory, at one PCIe link's rate) and is
      read down GPU j's own PCIe link from ``n0.mem``. Every copy in the node shares that host
      link, so two copies between disjoint GPU pairs each get half the PCIe rate.

    ``link`` (preset name, LinkSpec or mapping) is one GPU's connection; default nvlink4 for
    nvswitch, pcie4 otherwise. Its latency is split over the two GPU-side hops.
    """
    return _build_single_node(num_gpus, fabric, link, "single_node")


def _build_single_node(num_gpus: Any, fabric: Any, link: Any, where: str) -> Topology:
    n = _count(num_gpus, f"{where}.num_gpus")
    fabric = _choice(fabric, f"{where}.fabric", FABRICS)
    spec = _link_spec(link if link is not None else _FABRIC_DEFAULT[fabric], f"{where}.link")
    gpus = tuple(f"n0.gpu{i}" for i in range(n))
    side = _half(spec)
    if fabric == "pcie-host":
        cpu, mem = "n0.cpu", "n0.mem"
        host = LinkSpec(bandwidth=spec.bandwidth, latency=0.0, name="host-bounce")
        links = [PhysicalLink(cpu, mem, host, oneway=True)]
        for g in gpus:
            links.append(PhysicalLink(g, cpu, side, oneway=True))
            links.append(PhysicalLink(mem, g, side, oneway=True))
        return Topology(gpus, (*gpus, cpu, mem), tuple(links), name=f"single_node({n}, pcie-host, {spec.name})")
    switch = "n0.nvsw" if fabric == "nvswitch" else "n0.pciesw"
    links = [PhysicalLink(g, switch, side) for g in gpus]
    return Topology(gpus, (*gpus, switch), tuple(links), name=f"single_node({n}, {fabric}, {spec.name})")


def cluster(
    num_nodes: int,
    gpus_per_node: int,
    intra: str | LinkSpec | Mapping[str, Any] = "nvlink4",
    inter: str | LinkSpec | Mapping[str, Any] = "ib-ndr",
    gpus_per_nic: int = 1,
    oversubscription: float = 1.0,
    nodes_per_leaf: int | None = None,
) -> Topology:
    """``num_nodes`` servers of ``gpus_per_node`` GPUs (``n{k}.gpu{g}``) on a leaf-spine network.

    Inside a node the GPUs sit on an NVSwitch ``n{k}.nvsw`` (links of type ``intra``). Each
    group of ``gpus_per_nic`` consecutive GPUs shares one NIC whose port to the leaf switch is
    an ``inter`` link in each direction; the NIC is modelled as a transmit node
    ``n{k}.nic{j}.tx`` and a receive node ``n{k}.nic{j}.rx`` joined to its GPUs by free
    (GPUDirect) attachments, so GPUs sharing a NIC share its bandwidth and intra-node traffic
    can never take a shortcut through the NIC. ``nodes_per_leaf`` nodes hang off each leaf
    switch ``leaf{l}`` (all on one leaf when None or when they fit); with several leaves each
    leaf has one uplink to the spine ``spine`` whose capacity is the sum of the NIC bandwidth
    below it divided by ``oversubscription`` (2.0 = uplinks carry half). One leaf: no uplinks,
    so ``oversubscription`` has no effect.
    """
    return _build_cluster(num_nodes, gpus_per_node, intra, inter, gpus_per_nic, oversubscription,
                          nodes_per_leaf, "cluster")


def _build_cluster(num_nodes: Any, gpus_per_node: Any, intra: Any, inter: Any, gpus_per_nic: Any,
                   oversubscription: Any, nodes_per_leaf: Any, where: str) -> Topology:
    nn = _count(num_nodes, f"{where}.num_nodes")
    gpn = _count(gpus_per_node, f"{where}.gpus_per_node")
    per_nic = _count(gpus_per_nic, f"{where}.gpus_per_nic")
    if gpn % per_nic:
        raise ValueError(f"{where}.gpus_per_nic: {per_nic} does not divide gpus_per_node={gpn}; "
                         f"valid: {', '.join(str(d) for d in range(1, gpn + 1) if gpn % d == 0)}")
    over = _positive(oversubscription, f"{where}.oversubscription")
    per_leaf = nn if nodes_per_leaf is None else _count(nodes_per_leaf, f"{where}.nodes_per_leaf")
    intra_spec = _link_spec(intra, f"{where}.intra")
    inter_spec = _link_spec(inter, f"{where}.inter")
    devices: list[str] = []
    others: list[str] = []
    links: list[PhysicalLink] = []
    nics_per_node = gpn // per_nic
    num_leaves = max(1, math.ceil(nn / per_leaf)) if nn > 1 else 0
    port = _half(inter_spec)
    for k in range(nn):
        gpus = [f"n{k}.gpu{g}" for g in range(gpn)]
        devices.extend(gpus)
        if gpn > 1:
            switch = f"n{k}.nvsw"
            others.append(switch)
            links.extend(PhysicalLink(g, switch, _half(intra_spec)) for g in gpus)
        if num_leaves == 0:
            continue
        leaf = f"leaf{k // per_leaf}"
        for j in range(nics_per_node):
            tx, rx = f"n{k}.nic{j}.tx", f"n{k}.nic{j}.rx"
            others.extend((tx, rx))
            for g in gpus[j * per_nic:(j + 1) * per_nic]:
                links.append(PhysicalLink(g, tx, _NIC_ATTACH, oneway=True))
                links.append(PhysicalLink(rx, g, _NIC_ATTACH, oneway=True))
            links.append(PhysicalLink(tx, leaf, port, oneway=True))
            links.append(PhysicalLink(leaf, rx, port, oneway=True))
    leaves = [f"leaf{i}" for i in range(num_leaves)]
    others.extend(leaves)
    if num_leaves > 1:
        others.append("spine")
        for i, leaf in enumerate(leaves):
            nodes_here = min(per_leaf, nn - i * per_leaf)
            capacity = nodes_here * nics_per_node * inter_spec.bandwidth / over
            uplink = LinkSpec(bandwidth=capacity, latency=inter_spec.latency / 2,
                              name=f"{inter_spec.name or 'inter'}-uplink")
            links.append(PhysicalLink(leaf, "spine", uplink))
    name = (f"cluster({nn}x{gpn}, {intra_spec.name or 'intra'}/{inter_spec.name or 'inter'}, "
            f"{per_nic} GPU/NIC, {num_leaves} leaf, oversubscription {over:g})")
    return Topology(tuple(devices), (*devices, *others), tuple(links), name=name)


def internet(
    num_hosts: int,
    up: str | float = "100 Mb/s",
    down: str | float = "1 Gb/s",
    latency: str | float = "25 ms",
    core: str | LinkSpec | Mapping[str, Any] | None = None,
) -> Topology:
    """Decentralised hosts ``h{i}``, each with its own asymmetric access link to a shared core.

    ``up`` is the host->core rate, ``down`` the core->host rate (so everything a host receives
    shares its downlink), ``latency`` the one-way latency of each access link (host to host
    = 2 x latency). ``core`` None: the core ``core`` is never a bottleneck. Otherwise a preset,
    rate string or mapping for one shared core link ``core.in->core.out`` that all traffic
    crosses (e.g. a congested transit link).
    """
    return _build_internet(num_hosts, up, down, latency, core, "internet")


def _build_internet(num_hosts: Any, up: Any, down: Any, latency: Any, core: Any, where: str) -> Topology:
    n = _count(num_hosts, f"{where}.num_hosts")
    lat = parse_time(latency, key=f"{where}.latency")
    if not math.isfinite(lat) or lat < 0:
        raise ValueError(f"{where}.latency: {latency!r} must be a finite time >= 0 such as '25 ms'")
    up_spec = LinkSpec(_rate(up, f"{where}.up"), lat, name="uplink")
    down_spec = LinkSpec(_rate(down, f"{where}.down"), lat, name="downlink")
    hosts = tuple(f"h{i}" for i in range(n))
    if core is None:
        links = tuple(PhysicalLink(h, "core", up_spec, reverse=down_spec) for h in hosts)
        return Topology(hosts, (*hosts, "core"), links,
                        name=f"internet({n} hosts, up {format_rate(up_spec.bandwidth)}, "
                             f"down {format_rate(down_spec.bandwidth)})")
    core_spec = _core_spec(core, f"{where}.core")
    cin, cout = "core.in", "core.out"
    links_l = [PhysicalLink(cin, cout, core_spec, oneway=True)]
    for h in hosts:
        links_l.append(PhysicalLink(h, cin, up_spec, oneway=True))
        links_l.append(PhysicalLink(cout, h, down_spec, oneway=True))
    return Topology(hosts, (*hosts, cin, cout), tuple(links_l),
                    name=f"internet({n} hosts, up {format_rate(up_spec.bandwidth)}, "
                         f"down {format_rate(down_spec.bandwidth)}, core {format_rate(core_spec.bandwidth)})")


def _rate(value: Any, key: str) -> float:
    rate = parse_rate(value, key=key)
    if math.isnan(rate) or rate <= 0:
        raise ValueError(f"{key}: {value!r} must be a positive rate such as '100 Mb/s'")
    return rate


def _core_spec(core: Any, key: str) -> LinkSpec:
    if isinstance(core, str) and core.strip().lower().replace("_", "-") not in PRESETS:
        try:
            return LinkSpec(_rate(core, key), 0.0, name="core")
        except ValueError as exc:
            raise ValueError(f"{exc}; or give a preset: {', '.join(PRESETS)}") from None
    return _link_spec(core, key)


def wan_chain(num_hosts: int, link: str | LinkSpec | Mapping[str, Any] = "wan") -> Topology:
    """Hosts ``h0 .. h{n-1}`` in a line; neighbours are joined by one full-duplex ``link``
    (default: the ``wan`` preset, 200 Mb/s and 50 ms). Traffic between non-neighbours is
    forwarded by the hosts in between."""
    return _build_wan_chain(num_hosts, link, "wan_chain")


def _build_wan_chain(num_hosts: Any, link: Any, where: str) -> Topology:
    n = _count(num_hosts, f"{where}.num_hosts")
    spec = _link_spec(link, f"{where}.link")
    hosts = tuple(f"h{i}" for i in range(n))
    links = tuple(PhysicalLink(hosts[i], hosts[i + 1], spec) for i in range(n - 1))
    return Topology(hosts, hosts, links, name=f"wan_chain({n} hosts, {spec.name or spec.describe()})")


def free(num_devices: int) -> Topology:
    """Devices ``gpu0 ..`` with every pair directly joined by an infinitely fast, zero-latency
    link: every transfer takes zero time (the table level's assumption)."""
    return _build_free(num_devices, "free")


def _build_free(num_devices: Any, where: str) -> Topology:
    n = _count(num_devices, f"{where}.num_devices")
    devices = tuple(f"gpu{i}" for i in range(n))
    spec = PRESETS["free"]
    links = tuple(PhysicalLink(devices[i], devices[j], spec) for i in range(n) for j in range(i + 1, n))
    return Topology(devices, devices, links, name=f"free({n})")


# --------------------------------------------------------------------------------------------
# Dictionaries (YAML)

_GRAPH_KEYS = ("kind", "name", "devices", "switches", "links")
_GRAPH_LINK_KEYS = ("a", "b", "preset", "bandwidth", "latency", "occupy_latency", "duplex", "reverse",
                    "oneway", "name")


def from_dict(d: Mapping[str, Any], where: str = "topology") -> Topology:
    """An explicit graph::

        {"kind": "graph", "devices": ["a", "b"], "switches": ["sw"],
         "links": [{"a": "a", "b": "sw", "bandwidth": "25 GB/s", "latency": "2 us"},
                   {"a": "sw", "b": "b", "preset": "ib-ndr", "duplex": true}]}

    Link keys: ``a``, ``b``, ``preset`` and/or ``bandwidth``/``latency``, ``occupy_latency``,
    ``duplex`` (default true; false = half duplex), ``oneway`` (only a->b), ``reverse`` (a
    mapping or preset for the b->a direction of an asymmetric link), ``name``. Every device
    must reach every other.
    """
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}: {d!r} is not a mapping; expected keys {', '.join(_GRAPH_KEYS)}")
    for key in d:
        if key not in _GRAPH_KEYS:
            raise ValueError(f"{where}.{key}: unknown key; valid: {', '.join(_GRAPH_KEYS)}")
    if d.get("kind", "graph") != "graph":
        raise ValueError(f"{where}.kind: {d['kind']!r}; from_dict reads kind 'graph' (use build_topology)")
    devices = _name_list(d.get("devices"), f"{where}.devices", required=True)
    switches = _name_list(d.get("switches", []), f"{where}.switches", required=False)
    both = set(devices) & set(switches)
    if both:
        raise ValueError(f"{where}.switches: {sorted(both)[0]!r} is also a device; names must be unique")
    nodes = (*devices, *switches)
    raw = d.get("links", [])
    if not isinstance(raw, list | tuple):
        raise ValueError(f"{where}.links: {raw!r} is not a list of links")
    links = [_graph_link(item, f"{where}.links[{i}]", nodes) for i, item in enumerate(raw)]
    try:
        topo = Topology(devices, nodes, tuple(links), name=str(d.get("name", "graph")))
    except ValueError as exc:
        text = str(exc)
        raise ValueError(f"{where}{text[len('topology'):]}" if text.startswith("topology") else text) from None
    topo.check_connected(where)
    return topo


def _name_list(value: Any, key: str, required: bool) -> tuple[str, ...]:
    if value is None or (required and value == []):
        raise ValueError(f"{key}: missing; give a list of names, e.g. [gpu0, gpu1]")
    if not isinstance(value, list | tuple):
        raise ValueError(f"{key}: {value!r} is not a list of names")
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v:
            raise ValueError(f"{key}[{i}]: {v!r} is not a name")
        out.append(v)
    if len(set(out)) != len(out):
        raise ValueError(f"{key}: names repeat: {_repeats(out)}")
    return tuple(out)


def _graph_link(item: Any, key: str, nodes: Sequence[str]) -> PhysicalLink:
    if not isinstance(item, Mapping):
        raise ValueError(f"{key}: {item!r} is not a mapping; expected keys {', '.join(_GRAPH_LINK_KEYS)}")
    for k in item:
        if k not in _GRAPH_LINK_KEYS:
            raise ValueError(f"{key}.{k}: unknown key; valid: {', '.join(_GRAPH_LINK_KEYS)}")
    for end in ("a", "b"):
        if end not in item:
            raise ValueError(f"{key}.{end}: missing; a link needs both ends a and b")
        if item[end] not in nodes:
            raise ValueError(f"{key}.{end}: {item[end]!r} is not a device or switch; known: {_names(list(nodes))}")
    if item["a"] == item["b"]:
        raise ValueError(f"{key}: connects {item['a']!r} to itself")
    spec = _link_spec({k: item[k] for k in _SPEC_KEYS if k in item}, key)
    flags = {}
    for flag in ("duplex", "oneway"):
        if flag in item:
            if not isinstance(item[flag], bool):
                raise ValueError(f"{key}.{flag}: {item[flag]!r} is not true or false")
            flags[flag] = item[flag]
    reverse = None
    if "reverse" in item:
        if not flags.get("duplex", True) or flags.get("oneway", False):
            raise ValueError(f"{key}.reverse: only a full-duplex link can have a different reverse direction")
        reverse = _link_spec(item["reverse"], f"{key}.reverse")
    return PhysicalLink(item["a"], item["b"], spec, duplex=flags.get("duplex", True), reverse=reverse,
                        oneway=flags.get("oneway", False))


# Short names accepted in dictionaries for the builders' count arguments.
_ALIASES = MappingProxyType({"gpus": "num_gpus", "nodes": "num_nodes", "hosts": "num_hosts",
                             "devices": "num_devices"})

# kind -> (public builder, whose signature lists the keys; implementation taking ``where``)
_BUILDERS: Mapping[str, tuple[Callable[..., Topology], Callable[..., Topology]]] = MappingProxyType({
    "single_node": (single_node, _build_single_node),
    "cluster": (cluster, _build_cluster),
    "internet": (internet, _build_internet),
    "wan_chain": (wan_chain, _build_wan_chain),
    "free": (free, _build_free),
})

KINDS = (*_BUILDERS, "graph")


def build_topology(spec: Mapping[str, Any], where: str = "topology") -> Topology:
    """``{"kind": "single_node"|"cluster"|"internet"|"wan_chain"|"free"|"graph", ...}`` -> Topology.

    The other keys are the builder's arguments (``gpus``, ``nodes``, ``hosts`` and ``devices``
    are accepted for ``num_gpus`` etc.; ``internet`` also takes ``bandwidth`` for equal up and
    down rates). Errors are one line naming the key, e.g. ``topology.num_nodes: 0 is not an
    integer >= 1``.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: {spec!r} is not a mapping; expected kind: {', '.join(KINDS)}")
    if "kind" not in spec:
        raise ValueError(f"{where}.kind: missing; expected one of: {', '.join(KINDS)}")
    kind = spec["kind"]
    if kind == "graph":
        return from_dict(spec, where)
    if kind not in _BUILDERS:
        raise ValueError(f"{where}.kind: unknown topology kind {kind!r}; known: {', '.join(KINDS)}")
    public, implementation = _BUILDERS[kind]
    params = list(inspect.signature(public).parameters.values())
    names = [p.name for p in params]
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "kind":
            continue
        target = _ALIASES.get(key, key)
        if kind == "internet" and key == "bandwidth":
            for side in ("up", "down"):
                if side in spec:
                    raise ValueError(f"{where}.bandwidth: give either bandwidth or up/down, not both")
                kwargs[side] = value
            continue
        if target not in names:
            valid = names + (["bandwidth"] if kind == "internet" else [])
            raise ValueError(f"{where}.{key}: unknown key for kind '{kind}'; valid: {', '.join(valid)}")
        if target in kwargs:
            raise ValueError(f"{where}.{key}: given twice (as {target} and an alias)")
        kwargs[target] = value
    args = []
    for p in params:
        if p.name in kwargs:
            args.append(kwargs[p.name])
        elif p.default is inspect.Parameter.empty:
            required = [q.name for q in params if q.default is inspect.Parameter.empty]
            raise ValueError(f"{where}.{p.name}: missing; kind '{kind}' needs {', '.join(required)}")
        else:
            args.append(p.default)
    return implementation(*args, where)


# --------------------------------------------------------------------------------------------
# Text


def describe_topology(topo: Topology) -> str:
    """A few lines for the CLI: devices, nodes, and the links grouped by their specification."""
    lines = [
        f"{topo.name}: {len(topo.devices)} devices ({_names(list(topo.devices), 4)}), "
        f"{len(topo.nodes)} nodes, {len(topo.links)} links ({len(topo.directed)} directed)"
    ]
    groups: dict[tuple[Any, ...], list[PhysicalLink]] = {}
    for link in topo.links:
        mode = "one-way" if link.oneway else ("full duplex" if link.duplex else "half duplex")
        key = (link.spec, link.reverse, mode)
        groups.setdefault(key, []).append(link)
    for (spec, reverse, mode), members in groups.items():
        text = _spec_text(spec)
        if reverse is not None:
            text += f" / back {_spec_text(reverse)}"
        first = members[0]
        sep = "->" if first.oneway else "<->"
        lines.append(f"  {len(members):>4} x {text}, {mode}   e.g. {first.a}{sep}{first.b}")
    return "\n".join(lines)


def _spec_text(spec: LinkSpec) -> str:
    label = f"{spec.name} " if spec.name else ""
    if spec.is_free:
        return f"{label}(free: inf, 0 s)"
    occupy = ", occupies link during latency" if spec.occupy_latency else ""
    return f"{label}{format_rate(spec.bandwidth)}, {format_time(spec.latency)}{occupy}"
