"""Synthetic patients being admitted to Visby lasarett: deterministic for a given seed.

Each :class:`Admission` carries what an inskrivningsmeddelande needs, with Gotland's routine
fields. About 8 % have a samordningsnummer and about 5 % a protected identity.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from takecare_sim import gotland
from takecare_sim.er7 import STOCKHOLM
from takecare_sim.gotland import CareUnit
from takecare_sim.identity import (
    Gender,
    IdentifierKind,
    birth_numbers,
    person_number,
    random_birth_date,
)

SAMORDNINGSNUMMER_SHARE = 0.08
PROTECTED_SHARE = 0.05
Protection = Literal["sekretessmarkering", "skyddadFolkbokforing"]


@dataclass(frozen=True)
class Address:
    street: str
    postal_code: str
    city: str


@dataclass(frozen=True)
class SyntheticPatient:
    identifier: str
    identifier_kind: IdentifierKind
    family_name: str
    given_names: tuple[str, ...]
    birth_date: date
    gender: Gender
    address: Address
    primary_care: CareUnit
    protection: Protection | None = None


@dataclass(frozen=True)
class Admission:
    """One admission to a ward: the patient, the stay and the routine's admission fields."""

    patient: SyntheticPatient
    ward: CareUnit
    visit_number: str
    admitted_at: datetime
    estimated_discharge: date
    reason_code: str
    reason_text: str
    housing_situation: str
    social_situation: str
    care_needs_assessment: str


class AdmissionGenerator:
    """An endless, reproducible stream of admissions; no patient appears twice in one stream.

    ``now`` anchors the admission times (each a few hours before it); pass it to reproduce a
    stream exactly.
    """

    def __init__(self, seed: int | None = None, now: datetime | None = None) -> None:
        self._rng = random.Random(seed)
        self._now = (now or datetime.now(STOCKHOLM)).astimezone(STOCKHOLM)
        self._used: set[str] = set()

    def __iter__(self) -> Iterator[Admission]:
        return self

    def __next__(self) -> Admission:
        return self._admission(self._patient())

    def _identifier(self, gender: Gender) -> tuple[str, IdentifierKind, date]:
        rng = self._rng
        kind: IdentifierKind = "personnummer"
        if rng.random() < SAMORDNINGSNUMMER_SHARE:
            kind = "samordningsnummer"
        while True:
            birth_date = random_birth_date(rng)
            number = person_number(birth_date, rng.choice(birth_numbers(gender)), kind)
            if number not in self._used:
                self._used.add(number)
                return number, kind, birth_date

    def _protection(self) -> Protection | None:
        draw = self._rng.random()
        if draw < PROTECTED_SHARE * 0.6:
            return "sekretessmarkering"
        return "skyddadFolkbokforing" if draw < PROTECTED_SHARE else None

    def _patient(self) -> SyntheticPatient:
        rng = self._rng
        gender: Gender = rng.choice(("M", "F"))
        identifier, kind, birth_date = self._identifier(gender)
        given_pool = gotland.GIVEN_MALE if gender == "M" else gotland.GIVEN_FEMALE
        given = tuple(rng.sample(given_pool, rng.choice((1, 1, 2))))
        family = rng.choice(gotland.SURNAME_STEMS) + rng.choice(gotland.SURNAME_ENDINGS)
        town = rng.choice(gotland.TOWNS)
        street = f"{rng.choice(gotland.STREETS)} {rng.randint(1, 60)}"
        address = Address(street, town.postal_code, town.name)
        protection = self._protection()
        return SyntheticPatient(
            identifier, kind, family, given, birth_date, gender, address, town.primary_care,
            protection,
        )  # fmt: skip

    def _admission(self, patient: SyntheticPatient) -> Admission:
        rng = self._rng
        admitted_at = self._now - timedelta(minutes=rng.randint(5, 20 * 60))
        admitted_at = admitted_at.replace(second=0, microsecond=0)
        reason_code, reason_text = rng.choice(gotland.REASONS)
        return Admission(
            patient=patient,
            ward=rng.choice(gotland.WARDS),
            visit_number=f"V{rng.randrange(10**7):07d}",
            admitted_at=admitted_at,
            estimated_discharge=admitted_at.date() + timedelta(days=rng.randint(2, 10)),
            reason_code=reason_code,
            reason_text=reason_text,
            housing_situation=rng.choice(gotland.HOUSING),
            social_situation=rng.choice(gotland.SOCIAL),
            care_needs_assessment=rng.choice(gotland.CARE_NEEDS),
        )


def generate_admissions(
    count: int, seed: int | None = None, now: datetime | None = None
) -> list[Admission]:
    """``count`` admissions of distinct synthetic patients."""
    generator = AdmissionGenerator(seed, now)
    return [next(generator) for _ in range(count)]
