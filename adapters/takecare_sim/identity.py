"""Synthetic Swedish person identifiers that no real person holds.

Birth dates fall in 1920–1950 and the birth number (födelsenummer) is taken from 980–999, the
series Swedish test personnummer use. The last digit of the birth number is odd for men and
even for women; the check digit is Luhn over the last ten digits of the twelve.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Literal

from bridge.domain.identifiers import luhn_check_digit

IdentifierKind = Literal["personnummer", "samordningsnummer"]
Gender = Literal["M", "F"]

FIRST_BIRTH_DATE = date(1920, 1, 1)
LAST_BIRTH_DATE = date(1950, 12, 31)
TEST_BIRTH_NUMBERS = range(980, 1000)
SAMORDNING_DAY_OFFSET = 60


def birth_numbers(gender: Gender) -> list[int]:
    """Test-series birth numbers whose last digit encodes ``gender``."""
    parity = 1 if gender == "M" else 0
    return [number for number in TEST_BIRTH_NUMBERS if number % 2 == parity]


def random_birth_date(rng: random.Random) -> date:
    span = (LAST_BIRTH_DATE - FIRST_BIRTH_DATE).days
    return FIRST_BIRTH_DATE + timedelta(days=rng.randint(0, span))


def person_number(
    birth_date: date, birth_number: int, kind: IdentifierKind = "personnummer"
) -> str:
    """The 12-digit identifier (YYYYMMDDNNNC); a samordningsnummer adds 60 to the day."""
    day = birth_date.day + (SAMORDNING_DAY_OFFSET if kind == "samordningsnummer" else 0)
    ten_without_check = f"{birth_date:%y%m}{day:02d}{birth_number:03d}"
    return f"{birth_date:%Y%m}{day:02d}{birth_number:03d}" + luhn_check_digit(ten_without_check)
