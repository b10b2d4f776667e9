"""Schedule generators by name, with typed options and clear errors.

Generators are pure functions ``(p, m, **options) -> Schedule``. Each generator module exports
``GENERATORS``, a tuple of ``Generator`` descriptions; ``Registry.default()`` collects them. A
registry is an ordinary object (not a module global) so tests and plugins can build their own.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pipesim.budget import Budget
from pipesim.costs import Costs
from pipesim.schedule.table import Schedule

# Modules that define the built-in generators, in the order `pipesim schedules` lists them.
BUILTIN_MODULES = (
    "pipesim.schedule.generators.gpipe",
    "pipesim.schedule.generators.onef1b",
    "pipesim.schedule.generators.interleaved",
    "pipesim.schedule.generators.looped_bfs",
    "pipesim.schedule.generators.zero_bubble",
    "pipesim.schedule.generators.chimera",
    "pipesim.schedule.generators.hanayo",
    "pipesim.schedule.generators.dualpipe",
    "pipesim.schedule.generators.pipedream",
)


class ScheduleOptionError(ValueError):
    """Unknown generator, unknown option, or an option value of the wrong type."""


class RequirementError(ValueError):
    """A generator's requirement on p, m or an option is not met."""


@dataclass(frozen=True)
class Option:
    name: str
    type: type
    default: object
    help: str
    choices: tuple[object, ...] | None = None

    def coerce(self, value: object, generator: str) -> object:
        where = f"schedule '{generator}' option '{self.name}'"
        try:
            if self.type is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                out: object = low in ("true", "1", "yes")
            elif self.type is bool:
                if not isinstance(value, bool | int):
                    raise ValueError(value)
                out = bool(value)
            elif self.type is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                out = int(value)  # type: ignore[call-overload]
            elif self.type is tuple:
                if isinstance(value, str):
                    out = tuple(int(x) for x in value.replace(";", ",").split(",") if x.strip())
                else:
                    out = tuple(value)  # type: ignore[call-overload,arg-type]
            else:
                out = self.type(value)
        except (TypeError, ValueError):
            raise ScheduleOptionError(f"{where}: {value!r} is not a valid {self.type.__name__}") from None
        if self.choices is not None and out not in self.choices:
            valid = ", ".join(repr(c) for c in self.choices)
            raise ScheduleOptionError(f"{where}: {value!r} is not one of {valid}")
        return out


def _timing(name: str, options: dict[str, object]) -> tuple[Costs | None, float]:
    """Take the timing keywords (not generator options) out of ``options``."""
    costs = options.pop("costs", None)
    delay = options.pop("message_delay", 0.0)
    if costs is not None and not isinstance(costs, Costs):
        raise ScheduleOptionError(f"schedule '{name}': costs={costs!r}; expected a pipesim.costs.Costs or None")
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise ScheduleOptionError(f"schedule '{name}': message_delay={delay!r}; expected a number >= 0")
    return costs, float(delay)


@dataclass(frozen=True)
class Generator:
    name: str
    func: Callable[..., Schedule]
    summary: str
    requirements: str = "p >= 1, m >= 1"
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()
    split_backward: bool = False  # emits I and W instead of B
    fixed: Mapping[str, object] = field(default_factory=dict)  # options an alias pins
    # List-scheduled orders depend on the real per-stage times; such generators take
    # ``costs`` (a Costs over their own stages) and ``message_delay`` keywords.
    cost_aware: bool = False

    def __call__(self, p: int, m: int, **options: object) -> Schedule:
        """The schedule for ``p`` devices and ``m`` microbatches. Besides the generator's options,
        ``work_budget`` (a ``pipesim.budget.Budget``, default the default budget) bounds the
        actions it may generate, checked before generating."""
        work_budget = options.pop("work_budget", None)
        if not isinstance(work_budget, Budget | None):
            raise TypeError(f"work_budget: {work_budget!r} is not a Budget")
        costs, message_delay = _timing(self.name, options)
        known = {o.name: o for o in self.options}
        values: dict[str, object] = {o.name: o.default for o in self.options}
        for key, value in options.items():
            if key not in known:
                valid = ", ".join(known) or "none"
                hint = difflib.get_close_matches(key, list(known), n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ScheduleOptionError(f"schedule '{self.name}' has no option '{key}'{extra}; valid options: {valid}")
            values[key] = known[key].coerce(value, self.name)
        values.update(self.fixed)
        for what, value in (("p", p), ("m", m)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RequirementError(f"schedule '{self.name}': {what}={value!r}; must be a whole number >= 1")
        # Refused before generating: building the order is itself work per action.
        (work_budget or Budget()).check(least_actions(p, m, values), f"schedule '{self.name}' with p={p}, m={m}")
        if self.cost_aware and costs is not None:
            values["costs"] = costs
            values["message_delay"] = message_delay
        return self.func(p, m, **values)


def least_actions(p: int, m: int, options: Mapping[str, object]) -> int:
    """A lower bound on the compute actions of any generator with these options: every
    microbatch runs a forward and a backward on each of at least p stages, v chunks make p·v
    stages, W waves 2·W·p, and PipeDream repeats the iteration."""
    factor = 1
    for key, per in (("v", 1), ("waves", 2), ("iterations", 1)):
        value = options.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            factor *= per * value
    return 2 * p * m * factor


class Registry:
    def __init__(self, generators: Iterable[Generator] = ()) -> None:
        self._by_name: dict[str, Generator] = {}
        self._order: list[Generator] = []
        for g in generators:
            self.add(g)

    @classmethod
    def default(cls) -> Registry:
        gens: list[Generator] = []
        for mod in BUILTIN_MODULES:
            gens.extend(importlib.import_module(mod).GENERATORS)
        return cls(gens)

    def add(self, generator: Generator) -> None:
        for name in (generator.name, *generator.aliases):
            key = name.lower()
            if key in self._by_name:
                raise ValueError(f"schedule name '{name}' is registered twice")
            self._by_name[key] = generator
        self._order.append(generator)

    def names(self) -> list[str]:
        return [g.name for g in self._order]

    def __iter__(self):
        return iter(self._order)

    def get(self, name: str) -> Generator:
        key = name.strip().lower()
        if key in self._by_name:
            return self._by_name[key]
        hint = difflib.get_close_matches(key, list(self._by_name), n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ScheduleOptionError(f"unknown schedule '{name}'{extra}; known: {', '.join(self.names())}")

    def generate(self, name: str, p: int, m: int, **options: object) -> Schedule:
        """``options`` may include ``costs`` (a Costs over the schedule's stages) and
        ``message_delay``; generators that are not cost-aware ignore both."""
        return self.get(name)(p, m, **options)
