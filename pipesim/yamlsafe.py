"""YAML loading with limits, for every file format pipesim reads (scenarios, sweeps, flows).

``yaml.safe_load`` builds only plain data, but two things in plain YAML can still hang or crash
a reader: aliases that refer to aliases ("billion laughs": a few lines that stand for 10^9
items once anything walks them, as hashing or copying a scenario does) and deep nesting (the
composer recurses once per level, so ``[[[[...]]]]`` ends in a RecursionError). A loader that
counts aliases, the size the data would have with every alias expanded, and the depth while it
composes refuses all three with one line, before anything walks the data. Real scenario files use a handful of aliases and nest a few levels deep.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_ALIASES = 100  # alias references (*name) in one document
MAX_DEPTH = 50  # nested mappings and lists
MAX_NODES = 1_000_000  # values once every alias is expanded (what a walk of the data visits)
MAX_CHARS = 10_000_000  # a scenario is a few kB; a sweep's inline base a few more


class YamlLimitError(yaml.YAMLError):
    """A document past one of the limits above; its message names the limit."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._size: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError(f"more than {MAX_ALIASES} alias references (*name); write the values out")
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        # Children were composed first (an alias returns its anchor's node, already sized), so
        # this sums known sizes: linear in the document, however large its expansion.
        size = self._size
        if isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size.get(id(c), 1) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            n = 1 + sum(size.get(id(k), 1) + size.get(id(v), 1) for k, v in node.value)
        else:
            n = 1
        if n > MAX_NODES:
            raise YamlLimitError(f"more than {MAX_NODES:,} values once its aliases (*name) are expanded; "
                                 "write the values out")
        size[id(node)] = n
        return node


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` within the limits; raises ``yaml.YAMLError`` (``YamlLimitError`` for a
    limit) like it."""
    if len(text) > MAX_CHARS:
        raise YamlLimitError(f"{len(text):,} characters; a pipesim input has at most {MAX_CHARS:,}")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except ValueError as exc:
        # PyYAML's constructors call int()/float() on the token: an integer of more than 4,300
        # digits raises Python's own ValueError, which is the file's fault, not ours.
        raise YamlLimitError(f"a value cannot be read ({exc})".split(";")[0]) from None
    finally:
        loader.dispose()
