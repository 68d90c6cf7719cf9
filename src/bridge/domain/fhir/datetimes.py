"""FHIR date and dateTime values, written and read.

The canonical model holds timezone-aware datetimes. FHIR requires an offset whenever a time is
given, and allows offsets only in whole minutes up to ±14:00; anything else is written in UTC
(the same instant). A date without a time (as another system may send for an estimated
discharge date) is read as midnight Europe/Stockholm, like an HL7 v2 time without an offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from bridge.domain.errors import MessageRejected
from bridge.domain.time_range import check_year

_MAX_OFFSET = timedelta(hours=14)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


@cache
def _stockholm() -> ZoneInfo:
    return ZoneInfo("Europe/Stockholm")


def format_datetime(value: datetime) -> str:
    """A FHIR dateTime/instant for an aware datetime."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("a FHIR dateTime needs a timezone")
    if offset.seconds % 60 or offset.microseconds or abs(offset) > _MAX_OFFSET:
        value = value.astimezone(UTC)
    return value.isoformat()


def parse_datetime(text: object, location: str) -> datetime:
    """An aware datetime from a FHIR dateTime with at least day precision."""
    if not isinstance(text, str):
        raise MessageRejected("must be a dateTime string", location)
    if _DATETIME.fullmatch(text):
        return check_year(_from_iso(text, location), location)
    if _DATE.fullmatch(text):
        day = parse_date(text, location)
        return check_year(datetime(day.year, day.month, day.day, tzinfo=_stockholm()), location)
    raise MessageRejected(
        "must be a dateTime with a timezone (YYYY-MM-DDThh:mm:ss+hh:mm) or a date (YYYY-MM-DD)",
        location,
    )


def parse_date(text: object, location: str) -> date:
    """A full FHIR date (YYYY-MM-DD); partial dates cannot be carried by the canonical model."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise MessageRejected("must be a full date (YYYY-MM-DD)", location)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MessageRejected("is not a valid date", location) from None


def _from_iso(text: str, location: str) -> datetime:
    fraction = text.find(".")
    if fraction != -1:
        end = fraction + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        text = text[: fraction + 7] + text[end:] if end - fraction > 7 else text
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise MessageRejected("is not a valid dateTime", location) from None
    offset = value.utcoffset()
    if offset is None or abs(offset) > _MAX_OFFSET:
        raise MessageRejected("has a timezone offset outside ±14:00", location)
    return value
