"""Edits on a JSON example, so a contract can say "the valid message, but with this changed".

Paths are dotted with list indexes: ``entry[1].resource.identifier[0].value``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def steps(path: str) -> list[str | int]:
    """``a.b[2].c`` → ``["a", "b", 2, "c"]``."""
    found: list[str | int] = []
    for name, index in _STEP.findall(path):
        found.append(int(index) if index else name)
    if not found:
        raise ValueError(f"empty JSON path {path!r}")
    return found


def apply_edits(document: Any, set_values: Mapping[str, Any], delete: Iterable[str]) -> Any:
    """A copy of ``document`` with values set and keys (or list items) deleted."""
    edited = copy.deepcopy(document)
    for path, value in set_values.items():
        parent, last = _parent(edited, path)
        parent[last] = value
    for path in delete:
        parent, last = _parent(edited, path)
        del parent[last]
    return edited


def _parent(document: Any, path: str) -> tuple[Any, Any]:
    parts = steps(path)
    node = document
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def wrap_values(document: Any, paths: Iterable[str], wrap: Callable[[Any], Any]) -> Any:
    """A copy of ``document`` with the value at each path replaced by ``wrap(value)``."""
    wrapped = copy.deepcopy(document)
    for path in paths:
        parent, last = _parent(wrapped, path)
        parent[last] = wrap(parent[last])
    return wrapped
