"""Load a scenario from YAML (or a mapping), apply ``--set key.path=value`` overrides, validate.

Overrides are applied to the raw mapping *before* validation, so an overridden value is checked
exactly like one written in the file, and a section the file leaves out can still be set
(``--set network.policy=fifo``). Paths are checked against the schema, not against the file,
so a typo is caught even where the file has nothing, with a suggestion. Free-form mappings
(``topology``, ``schedule.options``) accept any key; their consumers check them at build time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from pipesim.inputs import InputError, PathPart, render_path
from pipesim.scenario.schema import (
    ROOT,
    Scenario,
    ScenarioError,
    Section,
    section_type,
    unknown_key_message,
)
from pipesim.yamlsafe import load_yaml

# Sections that accept a bare string for their main key (``model: 7b``, ``schedule: zb-v``).
_SHORTHAND = {"model": "preset", "hardware": "gpu", "schedule": "name", "topology": "kind"}


def load_scenario(
    source: str | Path | Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    base_dir: str | Path | None = None,
) -> Scenario:
    """Read ``source`` (a YAML file path or an already parsed mapping), apply ``overrides``
    (``"parallel.microbatches=16"``; values are YAML scalars or lists) and validate.

    Relative paths inside the scenario (``schedule.csv``) are resolved against the file's
    folder, or ``base_dir`` for a mapping. Any problem raises ``ScenarioError`` with one line.
    """
    if isinstance(source, Mapping):
        data: Any = plain_data(source)
        default_name = "scenario"
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        data = read_yaml(path)
        default_name = path.stem
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"the file holds a {type(data).__name__}, not a mapping of sections (name, model or "
                            "costs, parallel, schedule, ...)", (ROOT,))
    data = _expand_shorthand(data)
    origins: list[tuple[tuple[PathPart, ...], str]] = []
    for item in overrides:
        key_path, value = parse_override(item)
        apply_override(data, key_path, value, origin=item)
        origins.append(((ROOT, *key_path), item))
    from pipesim.scenario.schema import validate_scenario

    try:
        scenario = validate_scenario(data, default_name=default_name)
    except ScenarioError as exc:
        raise ScenarioError.collect([_annotate(p, origins) for p in exc.problems]) from None
    scenario._base_dir = folder  # set once, right after validation
    return scenario


def read_yaml(path: Path) -> Any:
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            near = sorted(p.name for p in path.parent.glob("*.y*ml"))
            if near:
                hint = f"; files there: {', '.join(near[:8])}"
        raise ScenarioError(f"scenario file '{path}' not found{hint}")
    if path.is_dir():
        raise ScenarioError(f"scenario file '{path}' is a folder; give a .yaml file")
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ScenarioError(f"scenario file '{path}': YAML syntax error{where}: {exc.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario file '{path}': cannot read it as YAML: {str(exc).splitlines()[0]}") from None


# --------------------------------------------------------------------------------------------
# --set


_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _brief(text: str, limit: int = 80) -> str:
    """``text`` for an error message: a 5,000-character override is not repeated in full."""
    return text if len(text) <= limit else f"{text[:limit]}...({len(text):,} characters)"


def parse_override(item: str) -> tuple[list[PathPart], Any]:
    """``"parallel.placement[2]=5"`` -> ``(["parallel", "placement", 2], 5)``."""
    shown = _brief(item)
    if "=" not in item:
        raise ScenarioError(f"--set {shown!r}: expected KEY.PATH=VALUE, e.g. --set parallel.microbatches=16")
    key, text = item.split("=", 1)
    key = key.strip()
    parts: list[PathPart] = []
    pos = 0
    for m in _TOKEN.finditer(key):
        gap = key[pos:m.start()]
        if gap not in ("", "."):
            break
        parts.append(int(m.group(1)) if m.group(1) is not None else m.group(2).strip())
        pos = m.end()
    if not parts or pos != len(key) or isinstance(parts[0], int):
        raise ScenarioError(f"--set {shown!r}: cannot read the key path {_brief(key)!r}; expected e.g. parallel.microbatches "
                            "or parallel.placement[2]")
    try:
        value = load_yaml(text) if text.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"--set {shown!r}: cannot read the value {_brief(text)!r} as YAML ({problem}); "
                            "quote strings, write lists as [1, 2]") from None
    return parts, value


def apply_override(data: dict[str, Any], path: Sequence[PathPart], value: Any, *, origin: str = "") -> None:
    """Set ``data[path] = value`` in place, creating absent sections, after checking every key
    of ``path`` against the schema."""
    suffix = f" (from --set {origin})" if origin else ""
    model: type[BaseModel] | None = Scenario
    node: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        here = (ROOT, *path[:i])
        inner = (ROOT, *path[:i + 1])
        if model is not None:  # a schema section: keys are known
            if isinstance(part, int) or part not in model.model_fields:
                valid = list(model.model_fields)
                raise ScenarioError(f"{unknown_key_message(part, valid)}{suffix}", here)
            field = model.model_fields[part]
            target = section_type(field.annotation)
            if last:
                node[part] = value
                return
            if isinstance(target, type) and issubclass(target, Section):
                model = target
                node = _child_mapping(node, part, target.shorthand, inner, suffix)
                continue
            model = None
            if target == "free":
                node = _child_mapping(node, part, _SHORTHAND.get(part) if i == 0 else None, inner, suffix)
                continue
            # A scalar or list field: only list indices may follow.
            node = _child_list(node, part, path[i + 1], inner, suffix)
            continue
        # Free-form content (topology, schedule options) or a list.
        if isinstance(node, list):
            if not isinstance(part, int) or not 0 <= part < len(node):
                raise ScenarioError(f"index {part!r} is outside the list (length {len(node)}){suffix}", here)
        elif isinstance(part, int):
            raise ScenarioError(f"is a mapping, not a list; use .key instead of [{part}]{suffix}", here)
        if last:
            node[part] = value
            return
        if isinstance(node, dict):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            node = child
        else:
            node = node[part]
        if not isinstance(node, dict | list):
            raise ScenarioError(f"is a value ({node!r}), not a section; cannot set {path[i + 1]!r} inside it{suffix}",
                                inner)


Where = tuple[PathPart, ...]


def _child_mapping(node: dict[str, Any], key: str, shorthand: str | None, where: Where, suffix: str) -> dict[str, Any]:
    child = node.get(key)
    if child is None:
        child = node[key] = {}
    elif isinstance(child, str) and shorthand:
        child = node[key] = {shorthand: child}
    elif not isinstance(child, dict):
        raise ScenarioError(f"is {child!r}, not a section; cannot set keys inside it{suffix}", where)
    return child


def _child_list(node: dict[str, Any], key: str, index: PathPart, where: Where, suffix: str) -> list[Any]:
    child = node.get(key)
    if not isinstance(index, int):
        raise ScenarioError(f"is a value, not a section; cannot set {index!r} inside it{suffix}", where)
    if not isinstance(child, list):
        raise ScenarioError(f"has no list to index with [{index}]; set the whole list, e.g. "
                            f"--set {render_path(where[1:])}=[...]{suffix}", where)
    return child


def _expand_shorthand(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for section, key in _SHORTHAND.items():
        if isinstance(out.get(section), str):
            out[section] = {key: out[section]}
    return out


def _annotate(problem: InputError, origins: list[tuple[Where, str]]) -> InputError:
    """Name the ``--set`` an error comes from (errors at or below the overridden path)."""
    if "(from --set " in problem.message:
        return problem
    for where, item in reversed(origins):
        if problem.path[:len(where)] == where:
            return problem.with_message(f"{problem.message} (from --set {_brief(item)})")
    return problem


def plain_data(data: Any) -> Any:
    """A deep copy of nested mappings/lists as plain dicts/lists (overrides mutate it)."""
    if isinstance(data, Mapping):
        return {k: plain_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [plain_data(v) for v in data]
    return data


# --------------------------------------------------------------------------------------------
# Echo


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain data (SI numbers, lists), JSON/YAML ready; absent optional
    sections are left out. ``load_scenario(scenario_to_dict(s))`` gives ``s`` back."""
    out = scenario.model_dump(mode="json")
    for key in ("model", "costs", "hardware", "topology", "compression"):
        if out.get(key) is None:
            out.pop(key, None)
    return out
