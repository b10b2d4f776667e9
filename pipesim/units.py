"""Quantities with units: "450 GB/s", "200 Mb/s", "50 ms", "32 MiB" <-> SI floats.

Everything inside pipesim is SI: seconds, bytes, bytes per second. Strings only appear at the
edges (scenario files, CLI flags, tables), so parsing and formatting live here and nowhere else.

Bits versus bytes matters for networks: a lower-case ``b`` is a bit ("200 Mb/s" = 25 MB/s),
an upper-case ``B`` a byte. ``bps``/``Gbps`` spellings are bits too.
"""

from __future__ import annotations

import math
import re
from typing import Literal

Dimension = Literal["rate", "size", "time", "number"]


class UnitError(ValueError):
    """A quantity string that cannot be read, or has the wrong dimension."""


_PREFIX = {
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
}

_TIME = {
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ns": 1e-9,
    "min": 60.0,
    "h": 3600.0,
}

_EXAMPLE = {"rate": "'40 GB/s'", "size": "'32 MiB'", "time": "'50 ms'", "number": "'1.5'"}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# Matched against stripped text, so the unit group runs to the end with a greedy ``.*``: a lazy
# group followed by ``\s*$`` would backtrack quadratically over inner runs of spaces.
_QUANTITY = re.compile(rf"^({_NUMBER})\s*([^\s\d].*)?$")
# No quantity anyone writes is longer ("1.5 TFLOP/s", "400 Gb/s"); a longer string is refused
# before any pattern sees it, so the cost of reading one value is bounded whatever it holds.
MAX_QUANTITY_CHARS = 100
_SIZE_UNIT = re.compile(r"^(Ki|Mi|Gi|Ti|Pi|[kKMGTP]?)(B|b|bit|bits|byte|bytes)$")
_RATE_UNIT = re.compile(r"^(Ki|Mi|Gi|Ti|Pi|[kKMGTP]?)(B|b|bit|bits|byte|bytes)(/s|ps)$")


def _size_factor(prefix: str, base: str) -> float:
    return _PREFIX[prefix] / (8.0 if base in ("b", "bit", "bits") else 1.0)


def _classify(unit: str) -> tuple[Dimension, float] | None:
    if unit in _TIME:
        return "time", _TIME[unit]
    if unit in ("flop", "FLOP", "flops", "FLOPs"):
        return "number", 1.0
    if m := _RATE_UNIT.match(unit):
        return "rate", _size_factor(m.group(1), m.group(2))
    if m := _SIZE_UNIT.match(unit):
        return "size", _size_factor(m.group(1), m.group(2))
    if unit in ("bps",):
        return "rate", 1 / 8.0
    if len(unit) > 3 and unit.endswith("bps") and unit[:-3] in _PREFIX:
        return "rate", _PREFIX[unit[:-3]] / 8.0
    if len(unit) > 3 and unit.endswith("Bps") and unit[:-3] in _PREFIX:
        return "rate", _PREFIX[unit[:-3]]
    return None


def parse(value: str | float | int, expect: Dimension, *, key: str = "") -> float:
    """Read ``value`` as a quantity of dimension ``expect`` and return it in SI units.

    Plain numbers are taken as already SI. ``key`` names the field in error messages.
    """
    where = f"{key}: " if key else ""
    if isinstance(value, bool):
        raise UnitError(f"{where}{value!r} is not a quantity; expected a {expect} such as {_EXAMPLE[expect]}")
    if isinstance(value, int | float):
        if math.isnan(value):
            raise UnitError(f"{where}NaN is not a {expect}")
        return float(value)
    if not isinstance(value, str):
        raise UnitError(f"{where}{value!r} is not a quantity; expected a {expect} such as {_EXAMPLE[expect]}")
    if len(value) > MAX_QUANTITY_CHARS:
        raise UnitError(f"{where}a {len(value)}-character string is not a {expect}; a quantity is at most "
                        f"{MAX_QUANTITY_CHARS} characters, such as {_EXAMPLE[expect]}")
    text = value.strip().replace("_", "")
    if text.lower() in ("inf", "infinity", "+inf"):
        return math.inf
    m = _QUANTITY.match(text)
    if not m:
        raise UnitError(f"{where}cannot read {value!r}; expected a {expect} such as {_EXAMPLE[expect]}")
    number = float(m.group(1))
    unit = (m.group(2) or "").strip()
    if not unit:
        return number
    found = _classify(unit)
    if found is None:
        raise UnitError(
            f"{where}unknown unit {unit!r} in {value!r}; expected a {expect} such as {_EXAMPLE[expect]}"
        )
    dim, factor = found
    if dim != expect:
        hint = f", expected a {expect} such as {_EXAMPLE[expect]}"
        if dim == "size" and expect == "rate":
            hint = f", expected a rate such as '{value.strip()}/s'"
        raise UnitError(f"{where}{value!r} is a {dim}{hint}")
    return number * factor


def parse_rate(value: str | float | int, *, key: str = "") -> float:
    """Bytes per second."""
    return parse(value, "rate", key=key)


def parse_size(value: str | float | int, *, key: str = "") -> float:
    """Bytes."""
    return parse(value, "size", key=key)


def parse_time(value: str | float | int, *, key: str = "") -> float:
    """Seconds."""
    return parse(value, "time", key=key)


def _scaled(value: float, steps: list[tuple[float, str]], digits: int) -> str:
    if math.isinf(value):
        return "inf"
    mag = abs(value)
    for factor, unit in steps:
        if mag >= factor:
            return f"{_trim(value / factor, digits)} {unit}"
    factor, unit = steps[-1]
    return f"{_trim(value / factor, digits)} {unit}"


def _trim(x: float, digits: int) -> str:
    text = f"{x:.{digits}g}"
    if "e" in text:
        return text
    return text


def format_time(seconds: float, digits: int = 4) -> str:
    """'1.5 ms', '42 s', '3.2 us'."""
    if seconds == 0:
        return "0 s"
    return _scaled(seconds, [(1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")], digits)


_BINARY = ((2.0**50, "PiB"), (2.0**40, "TiB"), (2.0**30, "GiB"), (2.0**20, "MiB"), (2.0**10, "KiB"))


def format_size(nbytes: float, digits: int = 4) -> str:
    """Bytes as people wrote them: a whole number of binary units when the size is one
    ('8 MiB', the boundary tensor of 2048 tokens x 2048 x 2 B, not '8.389 MB'), decimal SI
    otherwise ('2.1 GB', '512 kB')."""
    if nbytes == 0:
        return "0 B"
    if math.isfinite(nbytes):
        for factor, unit in _BINARY:
            if abs(nbytes) >= factor:
                whole = nbytes / factor
                if whole == int(whole) and abs(whole) < 10**digits:
                    return f"{int(whole)} {unit}"
                break
    return _scaled(nbytes, [(1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")], digits)


def format_rate(bytes_per_s: float, digits: int = 4) -> str:
    """Bytes per second for fast links, bits per second below 1 GB/s (how WAN links are sold)."""
    if bytes_per_s == 0:
        return "0 B/s"
    if math.isinf(bytes_per_s):
        return "inf"
    if bytes_per_s >= 1e9:
        return _scaled(bytes_per_s, [(1e12, "TB/s"), (1e9, "GB/s")], digits)
    return _scaled(bytes_per_s * 8, [(1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s"), (1.0, "b/s")], digits)
