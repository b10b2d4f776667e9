"""The network model as pure data: link presets, topology graphs and their builders, routing.

Nothing here imports SimPy; ``pipesim.sim.network`` turns a ``Topology`` into link processes.

* ``presets``: ``LinkSpec`` (one direction of a link), the interconnect presets, ``read_link``;
* ``graph``: ``Topology`` and routing; ``builders``: the usual shapes; ``reader``: dictionaries
  (``topology`` re-exports all three);
* ``options``: the sharing policy and the chunking as typed values; ``placement``: which
  topology device runs each pipeline device.
"""

from pipesim.network.builders import FABRICS, cluster, free, internet, single_node, wan_chain
from pipesim.network.graph import DirectedLink, PhysicalLink, Topology, describe_topology
from pipesim.network.options import (
    DEFAULT_CHUNK_BYTES,
    POLICIES,
    Chunking,
    SharingPolicy,
    parse_policy,
)
from pipesim.network.placement import Placement
from pipesim.network.presets import PRESETS, LinkSpec, link_preset
from pipesim.network.reader import KINDS, build_topology, from_dict

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "FABRICS",
    "KINDS",
    "POLICIES",
    "PRESETS",
    "Chunking",
    "DirectedLink",
    "LinkSpec",
    "PhysicalLink",
    "Placement",
    "SharingPolicy",
    "Topology",
    "build_topology",
    "cluster",
    "describe_topology",
    "free",
    "from_dict",
    "internet",
    "link_preset",
    "parse_policy",
    "single_node",
    "wan_chain",
]
