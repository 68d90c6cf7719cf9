"""Swedish person identifiers: personnummer, samordningsnummer and reservnummer.

Personnummer and samordningsnummer carry a Luhn check digit over the last ten digits; a
samordningsnummer has 60 added to the day of birth. Ten-digit forms use ``-`` as separator, or
``+`` once the person has turned 100. Reservnummer (national or local) carry no check digit.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import date
from enum import StrEnum

from bridge.domain.errors import MessageRejected

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_SYSTEM = "http://electronichealth.se/identifier/samordningsnummer"
NATIONELLT_RESERVNUMMER_SYSTEM = "http://electronichealth.se/identifier/nationelltReservnummer"
PERSONNUMMER_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "1.2.752.129.2.1.3.3"
NATIONELLT_RESERVNUMMER_OID = "1.2.752.129.2.1.3.2"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
HSA_OIDS = ("1.2.752.29.4.19", "1.2.752.129.2.1.4.1")


class IdentifierKind(StrEnum):
    PERSONNUMMER = "personnummer"
    SAMORDNINGSNUMMER = "samordningsnummer"
    NATIONELLT_RESERVNUMMER = "nationelltReservnummer"
    LOKALT_RESERVNUMMER = "lokaltReservnummer"


_TWELVE = re.compile(r"^(\d{8})-?(\d{4})$", re.ASCII)
_TEN = re.compile(r"^(\d{6})([-+]?)(\d{4})$", re.ASCII)
OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$", re.ASCII)


def luhn_ok(digits: str) -> bool:
    """True when the Luhn check digit (last digit) of ``digits`` is right."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(nine_digits: str) -> str:
    """The check digit that makes ``nine_digits`` + digit pass the Luhn test."""
    for candidate in "0123456789":
        if luhn_ok(nine_digits + candidate):
            return candidate
    raise AssertionError("unreachable: one digit always completes a Luhn sum")


def synthetic_personnummers(
    first_year: int = 1920, last_year: int = 1999, serial: str = "98"
) -> Iterator[str]:
    """Distinct 12-digit test personnummer with valid check digits, for simulators and load.

    Born on days 1–28 of ``first_year``…``last_year``, with birth numbers ``serial`` + one digit;
    test data only (the project's rule: synthetic persons everywhere).
    """
    for year, month, day, digit in itertools.product(
        range(first_year, last_year + 1), range(1, 13), range(1, 29), range(10)
    ):
        born = f"{year}{month:02d}{day:02d}"
        nine = f"{born[2:]}{serial}{digit}"
        yield f"{born}{serial}{digit}{luhn_check_digit(nine)}"


def _century_for(yymmdd: str, separator: str, today: date) -> str:
    year = int(yymmdd[:2])
    century = today.year // 100 * 100
    full = century + year
    if full > today.year:
        full -= 100
    if separator == "+":
        full -= 100
    return str(full // 100)


def normalise_person_number(
    raw: str, today: date | None = None, location: str | None = None
) -> tuple[IdentifierKind, str]:
    """Validate a personnummer or samordningsnummer; return its kind and 12-digit form.

    Raises :class:`MessageRejected` with a reason a person can act on when it is malformed,
    has an impossible date or a wrong check digit.
    """
    text = raw.strip().replace(" ", "")
    twelve = _TWELVE.match(text)
    if twelve:
        digits = twelve.group(1) + twelve.group(2)
    else:
        ten = _TEN.match(text)
        if not ten:
            raise MessageRejected(
                "personnummer must be 12 digits (YYYYMMDDNNNC) or 10 digits (YYMMDD-NNNC)",
                location,
            )
        century = _century_for(ten.group(1), ten.group(2), today or date.today())
        digits = century + ten.group(1) + ten.group(3)
    if not luhn_ok(digits[2:]):
        raise MessageRejected("personnummer check digit is wrong", location)
    day = int(digits[6:8])
    kind = IdentifierKind.PERSONNUMMER
    if day > 60:
        kind = IdentifierKind.SAMORDNINGSNUMMER
        day -= 60
    try:
        date(int(digits[:4]), int(digits[4:6]), day)
    except ValueError:
        raise MessageRejected(f"{kind.value} has no valid date of birth", location) from None
    return kind, digits


def birth_date_of(kind: IdentifierKind, digits: str) -> date | None:
    """The date of birth a personnummer or samordningsnummer encodes; None for reservnummer."""
    if kind not in (IdentifierKind.PERSONNUMMER, IdentifierKind.SAMORDNINGSNUMMER):
        return None
    day = int(digits[6:8])
    if kind is IdentifierKind.SAMORDNINGSNUMMER:
        day -= 60
    return date(int(digits[:4]), int(digits[4:6]), day)


def mask(value: str) -> str:
    """Mask an identifier for logs and screens: keep the birth date part, hide the rest.

    The birth date is all a masked form reveals (``19121212-****``, ``121212-****``): the
    pseudonymous patient key is an HMAC with a secret, so the masked form and the key together
    still do not give the number back (docs/security.md).
    """
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 10:
        return digits[:8] + "-****" if len(digits) == 12 else digits[:6] + "-****"
    return "****"


# Every written form the parser accepts: 12 or 10 digits, joined or split by ``-``, ``+`` or a
# space (``19121212 1212``). Not preceded by a letter or digit, so an HSA-id such as
# ``SE2321000188-E000000000001`` or ``SE2321000188-1234`` stays readable.
_PNR_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{8}|\d{6})(?:[-+ ]?)(\d{4})(?!\d)", re.ASCII)


def mask_in_text(text: str) -> str:
    """Replace every personnummer-shaped number in free text with its masked form."""
    return _PNR_IN_TEXT.sub(lambda m: f"{m.group(1)}-****", text)
