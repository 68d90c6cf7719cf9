"""Load the routing table: the YAML routing file when one is set, else the default route.

A wrong file stops start-up with a :class:`RoutingFileError` naming the line and column of every
problem found: bad YAML, a key given twice, a missing or unknown field, a bad event code, an
unknown destination or source, a name defined twice. Pydantic reports where in the data a
problem is (``routes.1.destinations.0``); the YAML node marks turn that into a line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bridge.config import Settings
from bridge.domain.routing import RoutingTable, default_routing

Location = tuple[str | int, ...]


class RoutingFileError(Exception):
    """The routing file is wrong; start-up stops with this message (one line per problem)."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        lines = [problem.describe(path) for problem in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (1-based line and column) and what."""

    line: int | None
    column: int | None
    where: str
    message: str

    def describe(self, path: Path) -> str:
        place = f", line {self.line}, column {self.column}" if self.line is not None else ""
        where = f" {self.where}:" if self.where else ""
        return f"{path}{place}:{where} {self.message}"


def load_routing(settings: Settings) -> RoutingTable:
    if settings.routing_file is None:
        return default_routing(settings.treserva_url)
    return parse_routing_file(settings.routing_file)


def parse_routing_file(path: Path) -> RoutingTable:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise RoutingFileError(path, [Problem(None, None, "", f"cannot read: {reason}")]) from None
    return parse_routing_text(text, path)


def parse_routing_text(text: str, path: Path) -> RoutingTable:
    """The table in ``text``; ``path`` only names the file in error messages."""
    root = _compose(text, path)
    duplicates = list(_duplicate_keys(root))
    if duplicates:
        raise RoutingFileError(path, duplicates)
    data = yaml.safe_load(text) if root is not None else None
    if not isinstance(data, dict):
        where = _mark(root, ()) if root is not None else (1, 1)
        message = "the routing file must be a mapping with destinations and routes"
        raise RoutingFileError(path, [Problem(*where, "", message)])
    try:
        return RoutingTable.model_validate(data)
    except ValidationError as error:
        assert root is not None
        details = _meaningful(error.errors(include_url=False))
        raise RoutingFileError(path, [_problem(root, detail) for detail in details]) from None


def _compose(text: str, path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        message = f"not valid YAML: {error.problem or error.context}"
        raise RoutingFileError(path, [Problem(line, column, "", message)]) from None
    except yaml.YAMLError as error:
        problem = Problem(None, None, "", f"not valid YAML: {error}")
        raise RoutingFileError(path, [problem]) from None


def _duplicate_keys(node: yaml.Node | None) -> Iterator[Problem]:
    """YAML keeps the last of two equal keys without a word; the bridge refuses the file."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    message = f"key {key.value!r} is given more than once in this mapping"
                    yield Problem(key.start_mark.line + 1, key.start_mark.column + 1, "", message)
                seen.add(key.value)
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _meaningful(details: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop a list's "too short after validation" when its items' own errors explain it."""

    def explained(detail: ErrorDetails) -> bool:
        loc = tuple(detail["loc"])
        return detail["type"] == "too_short" and any(
            tuple(other["loc"])[: len(loc)] == loc and len(other["loc"]) > len(loc)
            for other in details
        )

    return [detail for detail in details if not explained(detail)]


def _problem(root: yaml.Node, detail: ErrorDetails) -> Problem:
    loc: Location = tuple(detail["loc"])
    line, column = _mark(root, loc)
    return Problem(line, column, _dotted(loc), _message(detail))


def _message(detail: ErrorDetails) -> str:
    if detail["type"] == "missing":
        return "this field is required"
    if detail["type"] == "extra_forbidden":
        return "unknown field"
    if detail["type"] == "enum":
        expected = (detail.get("ctx") or {}).get("expected", "")
        return f"{detail['input']!r} is not one of {expected}"
    return str(detail["msg"])


def _dotted(loc: Location) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _mark(root: yaml.Node, loc: Location) -> tuple[int, int]:
    """Line and column (1-based) of the deepest node ``loc`` leads to.

    A mapping key is marked where the key is written, so "unknown field" and a value spread over
    several lines both point at the key's line; a missing key points at the mapping lacking it.
    """
    node, marked = root, root
    for part in loc:
        node_and_key = _child(node, part)
        if node_and_key is None:
            break
        node, marked = node_and_key
    return marked.start_mark.line + 1, marked.start_mark.column + 1


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """The child at ``part`` and the node to mark for it (the key, for a mapping entry)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value, key
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return item, item
    return None
