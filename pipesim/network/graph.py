"""The topology model: devices, switches and the links between them, with deterministic routing.

Pure data (no SimPy). A topology is a graph of named nodes; some nodes are *devices* (GPU or
host endpoints, indexed 0..n-1 in ``devices`` order), the rest are switches, NICs, hosts or a
network core. Each physical link becomes one or two *directed links*, each with a stable index
(its position in ``Topology.directed``) and a name such as ``"n0.gpu0->n0.nvsw"``; the
simulator creates one queue per directed link. A half-duplex link has a single directed link
(named ``"a<->b"``) that both directions share.

Routing (``Topology.route``): the path with the fewest hops; ties go to the lowest total
latency, then to the lexicographically smallest sequence of node names. Paths are computed
once per source device and cached inside the object (no module state).

Why this is separate from the builders and the reader: everything downstream (the simulator,
metrics, plots) needs only this model, and a hand-made ``Topology`` is checked by the same
invariants as a built one. Invariant violations are ``InputError``s whose path is relative to
the topology (``links[3]``), so a reader places them under its own key (``topology.links[3]``).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipesim.inputs import InputError, PathLike, did_you_mean
from pipesim.network.presets import LinkSpec
from pipesim.units import format_rate, format_time


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
    # One pair's route, found by a search that stops at the destination: a simulation needs
    # few pairs (a pipeline's neighbours), and whole tables cost O(n^2) per source on a chain.
    _pair_routes: dict[tuple[int, int], tuple[int, ...] | None] = field(
        init=False, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "devices", tuple(self.devices))
        set_(self, "nodes", tuple(self.nodes))
        set_(self, "links", tuple(self.links))
        if not self.devices:
            raise InputError("empty; a topology needs at least one device", ("devices",))
        node_set = set(self.nodes)
        if len(node_set) != len(self.nodes):
            raise InputError(f"names repeat: {repeats(self.nodes)}", ("nodes",))
        if len(set(self.devices)) != len(self.devices):
            raise InputError(f"names repeat: {repeats(self.devices)}", ("devices",))
        for i, d in enumerate(self.devices):
            if d not in node_set:
                raise InputError(f"{d!r} is not among the nodes", ("devices", i))
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
                    raise InputError(f"ends at {end!r}, which is not a node", ("links", i))
            if a == b:
                raise InputError(f"connects {a!r} to itself", ("links", i))
            if link.reverse is not None and (link.oneway or not link.duplex):
                raise InputError("has a reverse spec but is not full duplex", ("links", i))
            pair = frozenset((a, b))
            # One cable per node pair keeps directed-link names unique; two one-way links in
            # opposite directions are the only allowed pair.
            clash = undirected.get(pair, oneway.get((a, b)))
            if clash is None and not link.oneway:
                clash = oneway.get((b, a))
            if clash is not None:
                raise InputError(f"repeats links[{clash}] ({a} - {b}); give one link per pair of nodes", ("links", i))
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
        set_(self, "_pair_routes", {})

    # -- queries ------------------------------------------------------------------------------
    @property
    def num_devices(self) -> int:
        return len(self.devices)

    @property
    def link_names(self) -> tuple[str, ...]:
        """Directed-link names in index order."""
        return tuple(d.name for d in self.directed)

    def device_index(self, device: int | str, *, key: PathLike = "device") -> int:
        """Index of a device given by index or name; ``key`` is the key path errors are located at."""
        if isinstance(device, bool):
            raise InputError(f"{device!r} is not a device index or name", key)
        if isinstance(device, int):
            if 0 <= device < len(self.devices):
                return device
            raise InputError(f"device {device} does not exist; devices are 0..{len(self.devices) - 1}", key)
        if isinstance(device, str):
            try:
                return self.devices.index(device)
            except ValueError:
                raise InputError(f"unknown device {device!r}{did_you_mean(device, self.devices)}; devices: "
                                 f"{name_list(self.devices)}", key) from None
        raise InputError(f"{device!r} is not a device index or name", key)

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
        if table is not None:
            path = table[dst_device]
        elif (src_device, dst_device) in self._pair_routes:
            path = self._pair_routes[(src_device, dst_device)]
        else:
            path = self._routes_from(src_device, dst_device)[dst_device]
            self._pair_routes[(src_device, dst_device)] = path
        if path is None:
            raise ValueError(
                f"route: device {self.devices[src_device]!r} cannot reach {self.devices[dst_device]!r}"
            )
        return path

    def check_connected(self, where: PathLike = "topology") -> None:
        """Raise an InputError (located at ``where``) naming the first device pair with no path."""
        for s in range(len(self.devices)):
            table = self._routes.get(s)
            if table is None:
                table = self._routes_from(s)
                self._routes[s] = table
            for d, path in enumerate(table):
                if path is None:
                    raise InputError(
                        f"device {self.devices[s]!r} cannot reach device {self.devices[d]!r}; "
                        "add links so that every device can reach every other", where
                    )

    def _routes_from(self, src_device: int, until: int = -1) -> tuple[tuple[int, ...] | None, ...]:
        # Dijkstra on the key (hops, latency, node names). Extending two equal-length paths by
        # the same edge keeps their order, so the best path's prefixes are best paths too.
        # A node is pushed again only when the new key beats the best one pushed so far, so a
        # dense graph (a full mesh of n devices) costs O(n) pushes per source, not O(n^2).
        # ``until``: stop once that device's route is final (routes to the others may be missing).
        src = self.devices[src_device]
        stop = self.devices[until] if until >= 0 else None
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
            if node == stop:
                break
            for nbr, index, link_lat in adjacency[node]:
                if nbr in best:
                    continue
                key = (hops + 1, lat + link_lat, (*names, nbr))
                old = pushed.get(nbr)
                if old is None or key < old:
                    pushed[nbr] = key
                    heapq.heappush(heap, (*key, (*path, index)))
        return tuple(best.get(d) for d in self.devices)


def repeats(names: Sequence[str]) -> str:
    """The names that occur more than once, sorted."""
    return ", ".join(sorted({n for n in names if names.count(n) > 1}))


def name_list(names: Sequence[str], limit: int = 8) -> str:
    """The first ``limit`` names, comma-separated, and how many there are in all if more."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# --------------------------------------------------------------------------------------------
# Text


def describe_topology(topo: Topology) -> str:
    """A few lines for the CLI: devices, nodes, and the links grouped by their specification."""
    lines = [
        f"{topo.name}: {len(topo.devices)} devices ({name_list(list(topo.devices), 4)}), "
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
