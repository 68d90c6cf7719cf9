"""Test messages for the end-to-end tests: a real-shaped ADT^A01 with chosen ids."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

from bridge.domain.identifiers import luhn_check_digit

FIXTURE = Path(__file__).parent.parent / "fixtures" / "hl7" / "adt_a01_v25.hl7"
_serials = itertools.count(1)


def synthetic_personnummer() -> str:
    """A 12-digit test personnummer with a valid check digit (birth 1940, serial 98x)."""
    n = next(_serials)
    date = f"1940{(n % 12) + 1:02d}{(n % 28) + 1:02d}"
    nine = f"{date[2:]}98{n % 10}"
    return f"{date}98{n % 10}{luhn_check_digit(nine)}"


def control_id() -> str:
    return f"E2E{uuid.uuid4().hex[:16].upper()}"


def admission(control: str, personnummer: str = "191212121212", *, enhanced: bool = False) -> str:
    """ADT^A01 v2.5 from the golden fixture with a new MSH-10 and patient."""
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace("TC20240301-000123", control).replace("191212121212", personnummer)
    if not enhanced:
        text = text.replace("|P|2.5|||AL|NE|", "|P|2.5|||||")
    return text.replace("\r\n", "\r").replace("\n", "\r")


def notice(control: str, personnummer: str, trigger: str) -> str:
    """Another ADT event of the same stay (A03 discharge, A16 discharge-ready, A08 …)."""
    return (
        admission(control, personnummer)
        .replace("ADT^A01^ADT_A01", f"ADT^{trigger}^ADT_{trigger}")
        .replace("EVN|A01", f"EVN|{trigger}")
    )
