"""HL7 v2 time stamps (TS/DTM): ``YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]``.

A time without an offset is Swedish local time (Europe/Stockholm), as TakeCare sends it, and is
returned with the fixed UTC offset in force at that moment. Times
are written back in Swedish local time with their offset, so a reader never has to guess.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from bridge.domain.errors import MessageRejected
from bridge.domain.time_range import check_year

STOCKHOLM = ZoneInfo("Europe/Stockholm")

_TS = re.compile(
    r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d+))?([+-]\d{4})?\Z", re.ASCII
)
_HL7_NULL = '""'


def parse_ts(value: str, location: str) -> datetime | None:
    """Read a TS/DTM value; None when empty; :class:`MessageRejected` naming ``location``.

    Missing parts count from the start of the period (``202403`` is 1 March 2024, 00:00).
    """
    parts = _match(value, location)
    if parts is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = parts
    if fraction and not second:
        raise _unreadable(location, "fractions of a second need seconds")
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    zone = _zone(offset, location) if offset else STOCKHOLM
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=zone,
        )
    except ValueError:
        raise _unreadable(location, "no such date or time") from None
    check_year(moment, location)
    return moment if offset else _fixed_offset(moment)


def _fixed_offset(local: datetime) -> datetime:
    """Swedish local time pinned to the offset in force then.

    A ZoneInfo time in the autumn's repeated hour never compares equal to a time in another
    zone (PEP 495), so decoded times carry a fixed offset. In the repeated hour the first
    (summer-time) reading is taken; a time in the spring gap is read with winter offset.
    """
    offset = local.utcoffset()
    return local.replace(tzinfo=timezone(offset)) if offset is not None else local


def parse_date(value: str, location: str) -> date | None:
    """Read the date part of a TS value; None when empty or less precise than a day.

    A birth date known only to the year or month is real (some immigrants have one); the
    canonical model has no place for it, so it is left out rather than made up.
    """
    parts = _match(value, location)
    if parts is None or not parts[2]:
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise _unreadable(location, "no such date") from None


def _match(value: str, location: str) -> tuple[str, ...] | None:
    text = value.strip()
    if not text or text == _HL7_NULL:
        return None
    match = _TS.match(text)
    if match is None:
        raise _unreadable(location, "expected YYYYMMDDHHMMSS[.S][+/-ZZZZ]")
    return tuple(part or "" for part in match.groups())


def _zone(offset: str, location: str) -> timezone:
    zone = _fixed_zone(offset)
    if zone is None:
        raise _unreadable(location, "the UTC offset is out of range")
    return zone


@lru_cache(maxsize=64)
def _fixed_zone(offset: str) -> timezone | None:
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if offset[0] == "-" else delta)


def _unreadable(location: str, detail: str) -> MessageRejected:
    return MessageRejected(f"time cannot be read ({detail})", location, code="value")


def format_ts(moment: datetime) -> str:
    """Write a TS/DTM in Swedish local time with its offset; naive times are taken as Swedish.

    Fractions are written only when present, with up to six digits (HL7 allows four; more are
    written only when the canonical time carries them, so that nothing is lost).
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=STOCKHOLM)
    local = aware.astimezone(STOCKHOLM)
    offset = local.utcoffset() or timedelta(0)
    if offset.seconds % 60 or offset.microseconds:
        # Stockholm before 1879 ran on local mean time, an offset HL7 cannot write.
        local, offset = aware.astimezone(UTC), timedelta(0)
    text = (
        f"{local.year:04d}{local.month:02d}{local.day:02d}"
        f"{local.hour:02d}{local.minute:02d}{local.second:02d}"
    )
    if local.microsecond:
        text += "." + f"{local.microsecond:06d}".rstrip("0")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{text}{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def format_date(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"
