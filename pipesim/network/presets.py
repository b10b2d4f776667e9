"""Link specifications and the interconnect presets of docs/reference.md#interconnects.

A ``LinkSpec`` describes *one direction* of a link: its bandwidth and its latency. Everything
is SI (bytes per second, seconds); unit strings are read only at the edges: ``link_preset``
overrides and ``read_link``, the one reader of a link as users write it (a preset name or a
mapping), shared by the topology builders and the graph reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from pipesim.inputs import (
    InputError,
    PathLike,
    as_bool,
    as_mapping,
    as_path,
    as_quantity,
    did_you_mean,
    show,
)
from pipesim.units import format_rate, format_time


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
        # A leased 10 Gb/s wavelength; latency is propagation in fibre, ~5 us per km, over
        # ~100 km (metro), ~4,000 km (across a continent) and ~6,000 km (across the Atlantic).
        "wan-metro": _spec("wan-metro", 10e9 / 8, 0.5e-3),
        "wan-continental": _spec("wan-continental", 10e9 / 8, 20e-3),
        "wan-transatlantic": _spec("wan-transatlantic", 10e9 / 8, 30e-3),
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
    spec = preset_spec(name)
    if not overrides:
        return spec
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "bandwidth":
            changes[key] = as_quantity(value, "rate", positive=True, key=key)
        elif key == "latency":
            changes[key] = as_quantity(value, "time", finite=True, key=key)
        elif key == "occupy_latency":
            changes[key] = as_bool(value, key=key)
        elif key == "name":
            changes[key] = str(value)
        else:
            raise InputError(f"unknown link override {key!r}{did_you_mean(key, _OVERRIDES)}; valid: "
                             f"{', '.join(_OVERRIDES)}")
    return replace(spec, **changes)


def preset_spec(name: object, *, key: PathLike = ()) -> LinkSpec:
    """The preset ``name`` (case-insensitive, ``_`` = ``-``) or an InputError at ``key``."""
    if isinstance(name, str) and _normalise(name) in PRESETS:
        return PRESETS[_normalise(name)]
    if not isinstance(name, str):
        raise InputError(f"{show(name)} is not a preset name; known: {', '.join(PRESETS)}", key)
    hint = did_you_mean(_normalise(name), list(PRESETS))
    raise InputError(f"unknown link preset {name!r}{hint}; known: {', '.join(PRESETS)}", key)


LINK_KEYS = ("preset", "bandwidth", "latency", "occupy_latency", "name")


def read_link(value: object, *, key: PathLike = ()) -> LinkSpec:
    """A LinkSpec from a LinkSpec, a preset name, or a mapping ``{preset?, bandwidth?, latency?,
    occupy_latency?, name?}`` whose keys override the preset's (a mapping without a preset needs a
    bandwidth). Bandwidth must be > 0 (inf allowed), latency a finite time >= 0. Errors are
    ``InputError``s located under ``key``."""
    path = as_path(key)
    if isinstance(value, LinkSpec):
        return value
    if isinstance(value, str):
        return preset_spec(value, key=path)
    if not isinstance(value, Mapping):
        raise InputError(f"{show(value)} is not a link; give a preset ({', '.join(PRESETS)}) or a mapping with "
                         "bandwidth and latency", path)
    data = as_mapping(value, LINK_KEYS, key=path)
    if "preset" in data:
        base = preset_spec(data["preset"], key=(*path, "preset"))
    elif "bandwidth" not in data:
        raise InputError("needs a bandwidth (e.g. bandwidth: '25 GB/s') or a preset", path)
    else:
        base = LinkSpec(bandwidth=math.inf)
    bw = base.bandwidth
    if "bandwidth" in data:
        bw = as_quantity(data["bandwidth"], "rate", positive=True, key=(*path, "bandwidth"))
    lat = base.latency
    if "latency" in data:
        lat = as_quantity(data["latency"], "time", finite=True, key=(*path, "latency"))
    occupy = base.occupy_latency
    if "occupy_latency" in data:
        occupy = as_bool(data["occupy_latency"], key=(*path, "occupy_latency"))
    if occupy and math.isinf(bw):
        raise InputError("true needs a finite bandwidth (a link that is never busy cannot be held)",
                         (*path, "occupy_latency"))
    return LinkSpec(bandwidth=bw, latency=lat, occupy_latency=occupy, name=str(data.get("name", base.name)))
