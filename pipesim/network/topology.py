"""Topologies: the model, its builders and its dictionary reader, under one import.

The code lives in three modules with one job each:

* ``pipesim.network.graph``: the model (``Topology``, ``PhysicalLink``, ``DirectedLink``),
  shortest-path routing and ``describe_topology``;
* ``pipesim.network.builders``: ``single_node``, ``cluster``, ``internet``, ``wan_chain``,
  ``free``;
* ``pipesim.network.reader``: ``build_topology`` and ``from_dict`` (YAML dictionaries).

This module re-exports them so that ``from pipesim.network.topology import X`` keeps working.
"""

from pipesim.network.builders import FABRICS, cluster, free, internet, single_node, wan_chain
from pipesim.network.graph import DirectedLink, PhysicalLink, Topology, describe_topology
from pipesim.network.presets import PRESETS, LinkSpec, link_preset
from pipesim.network.reader import KINDS, build_topology, from_dict

__all__ = [
    "FABRICS",
    "KINDS",
    "PRESETS",
    "DirectedLink",
    "LinkSpec",
    "PhysicalLink",
    "Topology",
    "build_topology",
    "cluster",
    "describe_topology",
    "free",
    "from_dict",
    "internet",
    "link_preset",
    "single_node",
    "wan_chain",
]
