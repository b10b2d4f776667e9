"""Link specifications and the interconnect presets of docs/reference.md#interconnects.

A ``LinkSpec`` describes *one direction* of a link: its bandwidth and its latency. Everything
is SI (bytes per second, seconds); unit strings are read only at the edges (``link_preset``
overrides, topology dictionaries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from pipesim.units import format_rate, format_time, parse_rate, parse_time


@dataclass(frozen=True)
class LinkSpec:
    """One direction of a link.

    ``latency`` is propagation: the last bit reaches the far end ``latency`` after it left, and
    the link is free for the next transfer as soon as the bits are on the wire. With
    ``occupy_latency`` the link instead stays busy until the message has *arrived* (as some WAN
    meters bill it), so back-to-back messages each pay the latency in link time.
    """

    bandwidth: float  # bytes per second; math.inf = never a bottleneck
    latency: float = 0.0  # seconds
    occupy_latency: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        label = f"link '{self.name}'" if self.name else "link"
        bw, lat = self.bandwidth, self.latency
        if isinstance(bw, bool) or not isinstance(bw, int | float) or math.isnan(bw) or bw <= 0:
            raise ValueError(f"{label}: bandwidth {bw!r} must be a positive rate such as '25 GB/s' (or inf)")
        if isinstance(lat, bool) or not isinstance(lat, int | float) or not math.isfinite(lat) or lat < 0:
            raise ValueError(f"{label}: latency {lat!r} must be a finite time >= 0 such as '2 us'")
        if self.occupy_latency and math.isinf(bw):
            # A link that is never busy cannot be "held until arrival" in any meaningful way.
            raise ValueError(f"{label}: occupy_latency needs a finite bandwidth")
        object.__setattr__(self, "bandwidth", float(bw))
        object.__setattr__(self, "latency", float(lat))

    @property
    def is_free(self) -> bool:
        """Infinite bandwidth and zero latency: crossing it takes no simulated time."""
        return math.isinf(self.bandwidth) and self.latency == 0.0

    def describe(self) -> str:
        extra = ", occupies link during latency" if self.occupy_latency else ""
        return f"{format_rate(self.bandwidth)}, {format_time(self.latency)}{extra}"


def _spec(name: str, bandwidth: float, latency: float) -> LinkSpec:
    return LinkSpec(bandwidth=bandwidth, latency=latency, name=name)


# Per direction, from docs/reference.md#interconnects. Latencies are typical one-way figures for
# a GPU-to-GPU (or host-to-host) message; switched builders split them over the hops into and out
# of a switch.
PRESETS: MappingProxyType[str, LinkSpec] = MappingProxyType(
    {
        "nvlink3": _spec("nvlink3", 300e9, 1.5e-6),
        "nvlink4": _spec("nvlink4", 450e9, 1e-6),
        "pcie4": _spec("pcie4", 31.5e9, 1.5e-6),
        "pcie5": _spec("pcie5", 63e9, 1.5e-6),
        "ib-hdr": _spec("ib-hdr", 25e9, 2e-6),
        "ib-ndr": _spec("ib-ndr", 50e9, 2e-6),
        "eth10": _spec("eth10", 1.25e9, 25e-6),
        "eth25": _spec("eth25", 3.125e9, 25e-6),
        "eth100": _spec("eth100", 12.5e9, 25e-6),
        "wan": _spec("wan", 200e6 / 8, 50e-3),
        "free": _spec("free", math.inf, 0.0),
    }
)

_OVERRIDES = ("bandwidth", "latency", "occupy_latency", "name")


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def link_preset(name: str, **overrides: Any) -> LinkSpec:
    """The preset ``name`` (case-insensitive; ``ib_ndr`` = ``ib-ndr``), optionally modified.

    ``overrides`` may set ``bandwidth`` / ``latency`` (numbers in SI or unit strings such as
    ``"40 GB/s"`` / ``"5 us"``), ``occupy_latency`` and ``name``.
    """
    if not isinstance(name, str) or _normalise(name) not in PRESETS:
        raise ValueError(f"unknown link preset {name!r}; known: {', '.join(PRESETS)}")
    spec = PRESETS[_normalise(name)]
    if not overrides:
        return spec
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "bandwidth":
            changes[key] = parse_rate(value, key=key)
        elif key == "latency":
            changes[key] = parse_time(value, key=key)
        elif key == "occupy_latency":
            if not isinstance(value, bool):
                raise ValueError(f"occupy_latency: {value!r} is not true or false")
            changes[key] = value
        elif key == "name":
            changes[key] = str(value)
        else:
            raise ValueError(f"unknown link override {key!r}; valid: {', '.join(_OVERRIDES)}")
    return replace(spec, **changes)
