"""Load the routing table: the YAML routing file when one is set, else the default route."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from bridge.config import Settings
from bridge.domain.routing import RoutingTable, default_routing


class RoutingFileError(Exception):
    """The routing file is wrong; start-up stops with this message."""


def load_routing(settings: Settings) -> RoutingTable:
    if settings.routing_file is None:
        return default_routing(settings.treserva_url)
    return parse_routing_file(settings.routing_file)


def parse_routing_file(path: Path) -> RoutingTable:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RoutingFileError(f"{path}: cannot read routing file: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise RoutingFileError(f"{path}: {line}{error.problem}") from None
    try:
        table = RoutingTable.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RoutingFileError(f"{path}: {where}: {first['msg']}") from None
    for route in table.routes:
        for name in route.destinations:
            try:
                table.destination(name)
            except KeyError:
                raise RoutingFileError(
                    f"{path}: route names unknown destination {name!r}"
                ) from None
    return table
