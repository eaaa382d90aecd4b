"""Safe YAML loading that remembers where each mapping and value came from.

Form authors are told "line 42: ..." rather than "somewhere in the file", and a
key written twice in one mapping is reported instead of silently overwritten
(PyYAML keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


class LineDict(dict[str, Any]):  # Any: the values are whatever the YAML holds
    """A mapping from YAML that knows its own line and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]
    duplicate_keys: list[tuple[str, int]]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


@dataclass(frozen=True)
class YamlSyntaxError(Exception):
    line: int
    message: str


# libyaml's parser (PyYAML's C extension, in its wheels) when present: five times faster,
# and form files are parsed at every kit start. Both keep the marks the lines come from.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    mapping.duplicate_keys = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)
        if key in mapping:
            mapping.duplicate_keys.append((key, line))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    sequence = LineList(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [child.start_mark.line + 1 for child in node.value]
    return sequence


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_with_lines(text: str) -> object:
    """Parse one YAML document; raise :class:`YamlSyntaxError` with a line number."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506  # nosec B506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlSyntaxError(line, f"YAML syntax: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(0, f"YAML syntax: {error}") from None
