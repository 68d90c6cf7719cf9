"""Home-care enrolments (inskrivning i hemsjukvården) Treserva sends to the bridge.

On demand (``POST /api/enrolments``) or on a schedule. The patient is the one asked for, else a
patient from the inbox (someone the hospital told home care about) not yet enrolled, else a
synthetic test person. Ending an enrolment ends the patient's active one.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bridge.domain.identifiers import luhn_check_digit, mask
from treserva_sim.bridge_link import BridgeLink, Posted
from treserva_sim.fhir import resources
from treserva_sim.inbox import Inbox
from treserva_sim.masking import logger
from treserva_sim.outbound import Enrolment, HomeCareUnit, enrolment_bundle
from treserva_sim.stats import Stats

_log = logger()
HOME_CARE_UNITS = (
    HomeCareUnit("SE2321000040-H001", "Hemsjukvården Visby"),
    HomeCareUnit("SE2321000040-H002", "Hemsjukvården Södra Gotland"),
    HomeCareUnit("SE2321000040-H003", "Hemsjukvården Norra Gotland"),
)


class EnrolmentRequest(BaseModel):
    """``POST /api/enrolments``: every field may be left out."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["started", "ended"] = "started"
    personnummer: str | None = Field(default=None, pattern=r"^\d{12}$")
    episode_id: str | None = Field(default=None, min_length=1, max_length=64)
    unit_hsa_id: str | None = None


class NothingToEndError(Exception):
    """Asked to end an enrolment when none is active."""


@dataclass(frozen=True)
class SentEnrolment:
    enrolment: Enrolment
    answer: Posted
    sent_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "event_code": f"homecare-enrolment-{self.enrolment.status}",
            "episode_id": self.enrolment.episode_id,
            "patient_identifier": self.enrolment.personnummer,
            "unit": self.enrolment.unit.hsa_id,
            "sent_at": self.sent_at.isoformat(),
            "bridge_status": self.answer.status,
            "bridge_code": self.answer.code,
            "error": self.answer.error,
        }


def synthetic_personnummer(rng: random.Random) -> str:
    """A test-series personnummer (birth number 980–999) with a valid check digit."""
    born = date(1925, 1, 1) + timedelta(days=rng.randint(0, 25 * 365))
    ten = f"{born:%y%m%d}{rng.randint(980, 999)}"
    return f"{born:%Y%m%d}{ten[6:]}{luhn_check_digit(ten)}"


class Enrolments:
    def __init__(self, link: BridgeLink, inbox: Inbox, stats: Stats, seed: int | None) -> None:
        self._link, self._inbox, self._stats = link, inbox, stats
        self._rng = random.Random(seed)
        self.active: dict[str, Enrolment] = {}
        self.sent: list[SentEnrolment] = []

    async def send(self, request: EnrolmentRequest) -> SentEnrolment:
        enrolment = self._started(request) if request.status == "started" else self._ended(request)
        answer = await self._link.post(enrolment_bundle(self._link.sender(), enrolment))
        if answer.ok:
            self._stats.enrolments_sent += 1
            self._remember(enrolment)
        else:
            self._stats.enrolments_failed += 1
        sent = SentEnrolment(enrolment, answer, datetime.now(UTC))
        self.sent.append(sent)
        who = mask(enrolment.personnummer)
        _log.info(
            "sent enrolment %s for %s: %s", enrolment.status, who, answer.code or answer.error
        )
        return sent

    def _remember(self, enrolment: Enrolment) -> None:
        if enrolment.end is None:
            self.active[enrolment.personnummer] = enrolment
        else:
            self.active.pop(enrolment.personnummer, None)

    def _started(self, request: EnrolmentRequest) -> Enrolment:
        personnummer, family, given = self._patient(request.personnummer)
        unit = self._unit(request.unit_hsa_id)
        episode_id = (
            request.episode_id or f"HSV-{uuid.UUID(int=self._rng.getrandbits(128)).hex[:10]}"
        )
        now = datetime.now(UTC).replace(microsecond=0)
        return Enrolment(episode_id, personnummer, family, given, unit, now)

    def _ended(self, request: EnrolmentRequest) -> Enrolment:
        now = datetime.now(UTC).replace(microsecond=0)
        personnummer = request.personnummer
        if personnummer is None:
            if not self.active:
                raise NothingToEndError("no active enrolment to end; name a personnummer")
            personnummer = self._rng.choice(sorted(self.active))
        active = self.active.get(personnummer)
        if active is None:
            started = self._started(request.model_copy(update={"personnummer": personnummer}))
            active = replace(started, start=now - timedelta(days=self._rng.randint(7, 90)))
        episode_id = request.episode_id or active.episode_id
        return replace(active, episode_id=episode_id, end=now)

    def _unit(self, hsa_id: str | None) -> HomeCareUnit:
        for unit in HOME_CARE_UNITS:
            if unit.hsa_id == hsa_id:
                return unit
        return (
            HomeCareUnit(hsa_id, "Hemsjukvården") if hsa_id else self._rng.choice(HOME_CARE_UNITS)
        )

    def _patient(self, wanted: str | None) -> tuple[str, str | None, tuple[str, ...]]:
        """Personnummer, family and given names: asked for, from the inbox, or synthetic."""
        candidates: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        for item in self._inbox.items(500):
            number = item.patient_identifier
            if number and number not in self.active and number not in candidates:
                candidates[number] = _name(item.bundle)
        if wanted is not None:
            return (wanted, *candidates.get(wanted, (None, ())))
        if candidates:
            chosen = self._rng.choice(sorted(candidates))
            return (chosen, *candidates[chosen])
        return synthetic_personnummer(self._rng), "Testsson", ("Elsa",)

    async def run_schedule(self, rate_per_min: float) -> None:
        """Send enrolments at ``rate_per_min`` until cancelled: mostly starts, some ends."""
        while True:
            await asyncio.sleep(60.0 / rate_per_min)
            status = "ended" if self.active and self._rng.random() < 0.3 else "started"
            try:
                await self.send(EnrolmentRequest(status=status))
            except NothingToEndError:
                continue


def _name(bundle: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    for patient in resources(bundle, "Patient"):
        names = patient.get("name") or [{}]
        name = names[0] if isinstance(names[0], dict) else {}
        family = name.get("family")
        given = tuple(str(part) for part in name.get("given") or [])
        return (str(family) if family else None), given
    return None, ()
