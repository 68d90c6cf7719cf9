"""FHIR dateTime values: written with an allowed offset, read strictly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.datetimes import format_datetime, parse_date, parse_datetime

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2025, 3, 3, 8, 15, tzinfo=STOCKHOLM), "2025-03-03T08:15:00+01:00"),
        (datetime(2025, 7, 3, 8, 15, tzinfo=STOCKHOLM), "2025-07-03T08:15:00+02:00"),
        (datetime(2025, 3, 3, 8, 15, 0, 120000, tzinfo=UTC), "2025-03-03T08:15:00.120000+00:00"),
        (
            datetime(2025, 3, 3, 8, 15, tzinfo=timezone(timedelta(hours=15))),
            "2025-03-02T17:15:00+00:00",
        ),
    ],
)
def test_format_writes_an_offset_fhir_allows(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


def test_format_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_datetime(datetime(2025, 3, 3, 8, 15))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-03T08:15:00+01:00", datetime(2025, 3, 3, 7, 15, tzinfo=UTC)),
        ("2025-03-03T07:15:00Z", datetime(2025, 3, 3, 7, 15, tzinfo=UTC)),
        ("2025-03-03T07:15:00.123456789Z", datetime(2025, 3, 3, 7, 15, 0, 123456, tzinfo=UTC)),
        ("2025-03-03", datetime(2025, 3, 3, tzinfo=STOCKHOLM)),
    ],
)
def test_parse_reads_full_datetimes_and_dates(text: str, expected: datetime) -> None:
    assert parse_datetime(text, "X.y") == expected


@pytest.mark.parametrize(
    "text",
    ["2025", "2025-03", "2025-03-03T08:15", "2025-03-03T08:15:00", "2025-03-03T24:00:00Z",
     "2025-03-03T08:15:60Z", "2025-02-30", "2025-03-03T08:15:00+15:00", "٢٠٢٥-03-03", 20250303],
)  # fmt: skip
def test_parse_rejects_what_the_model_cannot_hold(text: object) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_datetime(text, "Encounter.period.start")
    assert caught.value.location == "Encounter.period.start"


def test_parse_date_needs_day_precision() -> None:
    assert parse_date("1912-12-12", "Patient.birthDate") == date(1912, 12, 12)
    with pytest.raises(MessageRejected):
        parse_date("1912-12", "Patient.birthDate")
