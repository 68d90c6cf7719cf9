"""How the CLI writes times and JSON: ISO 8601 with the offset, everywhere.

The bridge stores times in UTC; a time read back without its zone (SQLite keeps none) is UTC.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str:
    """``2026-12-02T15:38:57+00:00``; ``-`` for no time."""
    return aware(moment).isoformat(timespec="seconds") if moment else "-"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return getattr(value, "label", None) or value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(value: Any) -> str:
    """Indented JSON; datetimes as ISO 8601 with offset, dataclasses and enums as plain data."""
    return json.dumps(value, default=_plain, ensure_ascii=False, indent=2)


def echo_json(value: Any) -> None:
    typer.echo(dumps(value))
