"""The network model as pure data: link presets, topology graphs and their builders, routing.

Nothing here imports SimPy; ``pipesim.sim.network`` turns a ``Topology`` into link processes.
"""

from pipesim.network.presets import PRESETS, LinkSpec, link_preset
from pipesim.network.topology import (
    FABRICS,
    KINDS,
    DirectedLink,
    PhysicalLink,
    Topology,
    build_topology,
    cluster,
    describe_topology,
    free,
    from_dict,
    internet,
    single_node,
    wan_chain,
)

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
