"""Placement: which topology device runs each pipeline device of each data-parallel replica.

A ``Placement`` is the list a user writes (``parallel.placement`` in a scenario), read once by
``Placement.parse``: one entry per (replica, pipeline device), replica-major (entry
``r * pp + d`` places pipeline device ``d`` of replica ``r``), each a topology device index or
name. It is a tuple of those entries, so it compares equal to the plain tuple. Names can only
be checked against a topology, so ``resolve`` is the second and last step: it turns the entries
into device indices for the simulator, checking count, existence and that no device is used
twice. Errors are ``InputError``s relative to the placement (``[2]``), for the caller to nest.
"""

from __future__ import annotations

from pipesim.inputs import InputError, PathLike, as_path, as_whole, did_you_mean, show
from pipesim.network.graph import Topology, name_list


class Placement(tuple[int | str, ...]):
    """Topology devices (index or name) per pipeline device and replica, replica-major."""

    __slots__ = ()

    @classmethod
    def parse(cls, value: object, *, key: PathLike = ()) -> Placement:
        """A non-empty list of device indices (whole numbers >= 0) and names."""
        path = as_path(key)
        if not isinstance(value, list | tuple) or not value:
            raise InputError(f"{show(value)} is not a list; expected one topology device (index or name) per "
                             "pipeline device and replica, replica-major", path)
        out: list[int | str] = []
        for i, v in enumerate(value):
            if isinstance(v, str):
                out.append(v)
                continue
            try:
                out.append(as_whole(v, 0))
            except InputError as exc:
                raise InputError(f"{exc.message}, or a topology device name", (*path, i)) from None
        return cls(out)

    def resolve(self, topology: Topology, pp: int, dp: int, *, label: str = "topology") -> tuple[int, ...]:
        """Device indices for ``pp`` pipeline devices x ``dp`` replicas on ``topology``; ``label``
        names the topology in messages (e.g. ``"cluster topology"``)."""
        needed = pp * dp
        devices = topology.devices
        if len(self) != needed:
            raise InputError(f"{len(self)} entries given; pp={pp} x dp={dp} needs {needed} (one topology device per "
                             "pipeline device and replica, replica-major)")
        out: list[int] = []
        for i, entry in enumerate(self):
            if isinstance(entry, str):
                if entry not in devices:
                    raise InputError(f"unknown device {entry!r}{did_you_mean(entry, devices)}; devices: "
                                     f"{name_list(devices, 10)}", (i,))
                out.append(devices.index(entry))
            elif entry >= len(devices):
                raise InputError(f"device {entry} does not exist; the {label} has devices 0..{len(devices) - 1}", (i,))
            else:
                out.append(entry)
        seen: dict[int, int] = {}
        for i, d in enumerate(out):
            if d in seen:
                raise InputError(f"device {d} ({devices[d]}) is already used by entry {seen[d]}; every pipeline "
                                 "device of every replica needs its own GPU", (i,))
            seen[d] = i
        return tuple(out)
