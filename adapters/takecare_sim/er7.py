"""ER7 (pipe-and-hat) building blocks: escaping, times, segments by field position."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
SEGMENT_END = "\r"
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    """Escape ER7 delimiters in free text (``\\`` first, so escapes are not escaped again)."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def hl7_time(moment: datetime) -> str:
    """DTM to the second with its UTC offset, in Stockholm time."""
    return moment.astimezone(STOCKHOLM).strftime("%Y%m%d%H%M%S%z")


def hl7_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def version_at_least(version: str, minimum: str) -> bool:
    """Compare HL7 versions such as ``2.5.1`` and ``2.5`` numerically."""

    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    return parts(version) >= parts(minimum)


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment from its fields keyed by position as the standard counts them (PID-3 → 3).

    For MSH, position 1 is the field separator itself, so MSH-2 is the first joined field.
    """
    offset = 1 if name == "MSH" else 0
    values = [name] + [""] * (max(fields) - offset)
    for position, value in fields.items():
        values[position - offset] = value
    return "|".join(values)


def control_ids(prefix: str | None = None) -> Iterator[str]:
    """Unique MSH-10 values: a per-run prefix (random unless given) and a counter, ≤ 20 chars."""
    run = prefix if prefix is not None else "TC" + uuid.uuid4().hex[:8].upper()
    number = 0
    while True:
        number += 1
        yield f"{run}{number:06d}"
