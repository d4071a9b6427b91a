"""A YAML loader for inventories that refuses alias bombs before anything walks the document.

YAML aliases share nodes: nine lines of `&a`/`*a` can stand for a billion nodes ("billion
laughs"), and the inventory reader, which walks groups and hosts node by node, would spend
hours on them. `BoundedLoader` counts, while it composes, how many nodes each node stands for
once its aliases are expanded (children's counts are known by then, so this costs one
addition per node) and stops at the first node past `MAX_NODES`, with the line of the alias
or node at fault. An alias to a node that contains it (a recursive document) is refused too,
and so is nesting deeper than `MAX_DEPTH` (PyYAML composes recursively: a few thousand `[`
would crash it with a RecursionError).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError

__all__ = ["MAX_DEPTH", "MAX_NODES", "BoundedLoader"]

MAX_NODES = 1_000_000  # expanded nodes in one document: ~4 s to walk, far beyond 10,000 hosts
MAX_DEPTH = 100  # nested collections; an inventory needs about 10


class BoundedLoader(yaml.SafeLoader):
    """A SafeLoader whose documents expand (aliases followed) to at most `max_nodes` nodes."""

    def __init__(self, stream: str, *, max_nodes: int = MAX_NODES) -> None:
        super().__init__(stream)
        self.max_nodes = max_nodes
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, once composed
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node and count it; raise ComposerError past the bound or on a loop."""
        is_alias = self.check_event(yaml.AliasEvent)
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, "nested too deeply", mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        size = self._sizes.get(id(node))
        if size is None:
            if is_alias:  # its anchor is still being composed: the alias is inside it
                raise ComposerError(None, None, "an alias refers to a node that contains it", mark)
            size = 1 + sum([self._sizes.get(id(child), 1) for child in _children(node)])
            self._sizes[id(node)] = size
        if size > self.max_nodes:
            raise ComposerError(
                None,
                None,
                f"aliases expand the document past {self.max_nodes:,} nodes (an alias bomb?)",
                mark,
            )
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
