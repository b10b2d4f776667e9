"""Reading user input: one error type that knows where the bad value sits, and shared checkers.

Every reader of user input (scenario files, topology dictionaries, flows files; sweep files
can follow) reports a problem as an ``InputError``: a ``ValueError`` carrying the
*key path* of the offending value as a tuple (``("topology", "links", 2, "bandwidth")``) and a
message that shows the value and says what is valid. It renders as one line::

    topology.links[2].bandwidth: '40 GB' is a size, expected a rate such as '40 GB/s'

Why a tuple and not a string: a value is checked where it is read, deep inside a reader that
does not know where its input came from (a builder called from Python, from a scenario file or
from a flows file). The caller adds its own part of the path with ``err.within(...)`` or the
``at(...)`` context manager, so nobody re-parses or re-prefixes message text.

The checkers (``as_quantity``, ``as_whole``, ``as_number``, ``as_choice``, ``as_bool``,
``as_text``, ``as_mapping``, ``as_list``) take the raw value (as YAML gives it), return the
typed value and raise ``InputError``; ``key`` (a path, or a dotted string such as
``"links[2].bandwidth"``) is where the value sits relative to the caller. Unknown keys and
unknown names come with the nearest valid one (``suggest``).

The module sits just above ``pipesim.units`` (whose ``UnitError`` the quantity checker turns
into an ``InputError`` at the key) and imports nothing else from pipesim, so every layer that
reads input, the network model included, can use it.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pipesim.units import UnitError, parse

PathPart = str | int
Path = tuple[PathPart, ...]
# A path as the checkers accept it: a tuple of parts, one part, or a dotted string ("a.b[2]").
PathLike = str | int | Sequence[PathPart]

_E = TypeVar("_E", bound="InputError")
_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def as_path(where: PathLike) -> Path:
    """``"links[2].bandwidth"`` -> ``("links", 2, "bandwidth")``; a tuple or list is kept as is.

    A string that is not a plain dotted path (spaces around brackets, empty parts) is kept as a
    single part, so rendering it gives the same text back.
    """
    if isinstance(where, bool):
        raise TypeError(f"a key path part cannot be a bool: {where!r}")
    if isinstance(where, int):
        return (where,)
    if not isinstance(where, str):
        return tuple(where)
    if not where:
        return ()
    parts: list[PathPart] = []
    pos = 0
    for m in _PART.finditer(where):
        if where[pos:m.start()] not in ("", ".") or (m.group(2) is not None and m.group(2) != m.group(2).strip()):
            return (where,)
        parts.append(int(m.group(1)) if m.group(1) is not None else m.group(2))
        pos = m.end()
    return tuple(parts) if pos == len(where) else (where,)


def render_path(path: Sequence[PathPart]) -> str:
    """``("topology", "links", 2, "b")`` -> ``"topology.links[2].b"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class InputError(ValueError):
    """A value that cannot be used, and where it sits.

    ``path`` is the key path (strings for mapping keys, ints for list positions), ``message``
    shows the value and says what is valid; ``str(err)`` is ``"<path>: <message>"`` on one line
    (just the message when the path is empty). ``others`` holds further problems found in the
    same input (``problems``/``lines`` list them all, this one first).
    """

    def __init__(self, message: str, path: PathLike = (), *, others: Iterable[InputError] = ()) -> None:
        self.message = message
        self.path: Path = as_path(path)
        self.others: tuple[InputError, ...] = tuple(others)
        super().__init__(self._render())

    def _render(self) -> str:
        where = render_path(self.path)
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as ``cls(*args)``; rebuild from the parts instead (process pools).
        return (_rebuild, (type(self), self.message, self.path, self.others), dict(self.__dict__))

    def _evolve(self: _E, message: str, path: Path, others: tuple[InputError, ...]) -> _E:
        new = copy.copy(self)  # keeps the subclass and any attributes it adds
        new.message, new.path, new.others = message, path, others
        new.args = (new._render(),)
        return new

    @property
    def where(self) -> str:
        """The rendered key path (``""`` when it is empty)."""
        return render_path(self.path)

    def within(self: _E, *prefix: PathPart) -> _E:
        """The same error seen from one level up: ``prefix`` goes in front of every path."""
        return self._evolve(self.message, (*prefix, *self.path), tuple(o.within(*prefix) for o in self.others))

    def with_message(self: _E, message: str) -> _E:
        """The same error (same path) with another message, e.g. one with a hint appended."""
        return self._evolve(message, self.path, self.others)

    @property
    def problems(self) -> tuple[InputError, ...]:
        """Every problem as a single error, this one first."""
        return (self._evolve(self.message, self.path, ()), *self.others)

    @property
    def lines(self) -> list[str]:
        """Every problem as one line, this one first."""
        return [str(p) for p in self.problems]

    @classmethod
    def collect(cls: type[_E], problems: Sequence[InputError]) -> _E:
        """One error of this type reporting ``problems[0]``, with the rest as ``others``."""
        first, *rest = problems
        return cls(first.message, first.path, others=[p for q in (first.others, rest) for p in q])

    @classmethod
    def from_error(cls: type[_E], err: InputError) -> _E:
        """``err`` (path, message, others) as this type, e.g. a topology error as a ScenarioError."""
        return cls(err.message, err.path, others=err.others)


def _rebuild(cls: type[InputError], message: str, path: Path, others: tuple[InputError, ...]) -> InputError:
    err = cls.__new__(cls)
    InputError.__init__(err, message, path, others=others)
    return err


@contextmanager
def at(*path: PathPart) -> Iterator[None]:
    """Errors raised inside get ``path`` in front of theirs::

        with at("topology"):
            topo = build_topology(spec)   # "kind: missing" -> "topology.kind: missing"
    """
    try:
        yield
    except InputError as exc:
        raise exc.within(*path) from None


# --------------------------------------------------------------------------------------------
# Suggestions


def show(value: object) -> str:
    """A value as a message quotes it: strings with quotes, everything else as written."""
    return repr(value) if isinstance(value, str) else str(value)


def suggest(word: str, options: Sequence[str]) -> str | None:
    """The valid name a typo most likely meant, or None.

    difflib alone misses short keys inside long typos (``pp_size`` -> ``pp`` scores 0.44), so a
    case-insensitive match and a shared ``_``-separated word are tried too.
    """
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return lowered[close[0]]
    words = set(re.split(r"[_\-.\s]+", word.lower())) - {""}
    for o in options:
        if words & set(re.split(r"[_\-.\s]+", o.lower())) or word.lower().startswith(o.lower()):
            return o
    return None


def did_you_mean(word: object, options: Sequence[str]) -> str:
    """``" (did you mean 'x'?)"`` or ``""``: the hint to put after a bad name."""
    hint = suggest(str(word), options)
    return f" (did you mean '{hint}'?)" if hint else ""


def unknown_key_message(key: object, valid: Sequence[str], context: str = "") -> str:
    """``unknown key 'pp_size' (did you mean 'pp'?); valid keys: pp, dp``; ``context`` (e.g.
    ``" for kind 'cluster'"``) follows the key. The error's path is the mapping holding it."""
    return f"unknown key {str(key)!r}{context}{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}"


# --------------------------------------------------------------------------------------------
# Checkers: raw value in, typed value out, InputError at ``key`` otherwise.

_EXAMPLE = {"time": "'50 ms'", "size": "'32 MiB'", "rate": "'40 GB/s'", "number": "1.5"}


def as_quantity(value: object, kind: str, *, positive: bool = False, finite: bool = False,
                key: PathLike = ()) -> float:
    """A ``time``/``size``/``rate``/``number`` with units (``pipesim.units``), in SI; >= 0, or > 0
    with ``positive``; ``finite`` rejects ``inf``."""
    path = as_path(key)
    try:
        x = parse(value, kind)  # type: ignore[arg-type]
    except UnitError as exc:
        raise InputError(str(exc), path) from None
    bound = "> 0" if positive else ">= 0"
    what = f"finite {kind}" if finite else kind
    if x < 0 or (positive and x == 0):
        state = "negative" if x < 0 else "zero"
        raise InputError(f"{show(value)} is {state}; expected a {what} {bound} such as {_EXAMPLE[kind]}", path)
    if finite and math.isinf(x):
        raise InputError(f"{show(value)} is infinite; expected a {what} {bound} such as {_EXAMPLE[kind]}", path)
    return x


def as_whole(value: object, minimum: int = 1, *, maximum: int | None = None, key: PathLike = ()) -> int:
    """A whole number >= ``minimum`` (``2.0`` counts as 2; booleans do not count), and <=
    ``maximum`` when one is given (a sanity bound, named in the message)."""
    expected = f"a whole number >= {minimum}" if maximum is None else f"a whole number in [{minimum}, {maximum:,}]"
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise InputError(f"{show(value)} is not a whole number; expected {expected}", key)
    if value < minimum:
        raise InputError(f"{show(value)} is too small; expected {expected}", key)
    if maximum is not None and value > maximum:
        raise InputError(f"{show(value)} is too large; expected {expected}", key)
    return int(value)


def as_number(value: object, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
              high_open: bool = False, what: str = "", key: PathLike = ()) -> float:
    """A plain number within ``[low, high]`` (``low_open``/``high_open`` exclude the ends);
    ``what`` is appended to the expectation, e.g. ``" (achieved fraction of peak)"``."""
    interval = f"a number within {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}{what}"
    try:
        x = parse(value, "number")  # type: ignore[arg-type]
    except UnitError:
        raise InputError(f"{show(value)} is not a number; expected {interval}", key) from None
    if not (low < x if low_open else low <= x) or not (x < high if high_open else x <= high):
        raise InputError(f"{show(value)} is out of range; expected {interval}", key)
    return x


def as_choice(value: object, options: Sequence[str], *, key: PathLike = ()) -> str:
    """One of ``options`` (lower case; matched case-insensitively)."""
    if isinstance(value, str) and value.lower() in options:
        return value.lower()
    raise InputError(f"{show(value)} is not valid{did_you_mean(value, options)}; valid: {', '.join(options)}", key)


def as_bool(value: object, *, key: PathLike = ()) -> bool:
    if isinstance(value, bool):
        return value
    raise InputError(f"{show(value)} is not a boolean; expected true or false", key)


def as_text(value: object, *, key: PathLike = ()) -> str:
    if isinstance(value, str):
        return value
    raise InputError(f"{show(value)} is not a string; expected text", key)


def as_mapping(value: object, keys: Sequence[str] | None = None, *, context: str = "", none: bool = False,
               key: PathLike = ()) -> dict[str, Any]:
    """A mapping (a copy); with ``keys``, every key must be one of them (did-you-mean otherwise;
    ``context`` as in ``unknown_key_message``). ``none``: a missing value (``None``) is ``{}``."""
    if value is None and none:
        return {}
    if not isinstance(value, Mapping):
        expected = f"keys: {', '.join(keys)}" if keys is not None else "key: value pairs"
        raise InputError(f"{show(value)} is not a mapping; expected {expected}", key)
    if keys is not None:
        for k in value:
            if k not in keys:
                raise InputError(unknown_key_message(k, keys, context), key)
    return dict(value)


def as_list(value: object, what: str, *, empty: bool = False, key: PathLike = ()) -> list[Any]:
    """A list (or tuple) of ``what`` (used in the message, e.g. ``"names"``); not empty unless
    ``empty``."""
    if not isinstance(value, list | tuple):
        raise InputError(f"{show(value)} is not a list; expected a list of {what}", key)
    if not value and not empty:
        raise InputError(f"empty list; expected a list of {what}", key)
    return list(value)
