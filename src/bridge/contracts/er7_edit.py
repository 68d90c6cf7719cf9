"""Edits on an ER7 example: set a field or component, leave out a segment. Pure text work.

Positions count as HL7 does: in MSH, MSH-1 is the field separator itself, so MSH-n is the
(n-1)th item after splitting on ``|``; in other segments SEG-n is the nth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_POSITION = re.compile(r"([A-Z][A-Z0-9]{2})-(\d{1,3})(?:-(\d{1,3}))?\Z")


def edit_message(text: str, set_values: Mapping[str, str], remove: Iterable[str] = ()) -> str:
    """``text`` (segments ending in CR) with the fields set and the segments left out."""
    segments = [line for line in text.split("\r") if line]
    dropped = set(remove)
    segments = [line for line in segments if line[:3] not in dropped]
    for position, value in set_values.items():
        segments = _set(segments, position, value)
    return "\r".join(segments) + "\r"


def field_value(text: str, position: str) -> str:
    """The raw value at ``SEG-n`` or ``SEG-n-c`` of the first such segment ("" if absent)."""
    name, field, component = _parse(position)
    for line in text.replace("\n", "\r").split("\r"):
        if line[:3] == name:
            fields = _fields(line)
            raw = fields[field] if field < len(fields) else ""
            if component is None:
                return raw
            parts = raw.split("~")[0].split("^")
            return parts[component - 1] if component <= len(parts) else ""
    return ""


def _set(segments: list[str], position: str, value: str) -> list[str]:
    name, field, component = _parse(position)
    for number, line in enumerate(segments):
        if line[:3] != name:
            continue
        fields = _fields(line)
        fields += [""] * (field + 1 - len(fields))
        if component is None:
            fields[field] = value
        else:
            parts = fields[field].split("^")
            parts += [""] * (component - len(parts))
            parts[component - 1] = value
            fields[field] = "^".join(parts)
        segments[number] = _join(name, fields)
        return segments
    raise ValueError(f"{position}: the message has no {name} segment")


def _parse(position: str) -> tuple[str, int, int | None]:
    match = _POSITION.match(position)
    if match is None:
        raise ValueError(f"{position!r} is not a position like PID-3 or PID-3-1")
    name, field, component = match.groups()
    return name, int(field), int(component) if component else None


def _fields(line: str) -> list[str]:
    """Index n holds SEG-n (for MSH too: index 1 is the field separator)."""
    if line.startswith("MSH"):
        return ["MSH", "|", *line[4:].split("|")]
    return line.split("|")


def _join(name: str, fields: list[str]) -> str:
    if name == "MSH":
        return "MSH|" + "|".join(fields[2:])
    return "|".join(fields)
