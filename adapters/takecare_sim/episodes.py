"""Whole hospital episodes of synthetic patients: deterministic for a given seed.

An episode is what the law's chain looks like in TakeCare: admission (A01) → estimated discharge
date (A08 with PV2-9) → discharge-ready (A16) → SIP meeting booked (SIU^S12) → discharge (A03).
Now and then something is undone: the admission cancelled (A11, which ends the episode), the
discharge-ready withdrawn (A25, then A16 again), the meeting moved (S13) or cancelled (S15, then
booked anew), the discharge cancelled (A13, then A03 again). :class:`EpisodePlanner` interleaves
several patients' episodes as a ward would, each patient's steps in order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal

from takecare_sim import gotland
from takecare_sim.er7 import STOCKHOLM
from takecare_sim.patients import Admission, AdmissionGenerator

StepKind = Literal["A01", "A08", "A16", "A25", "A03", "A13", "A11", "S12", "S13", "S15"]


@dataclass(frozen=True)
class Mix:
    """How often each undoing happens (shares between 0 and 1)."""

    admission_cancelled: float = 0.05
    discharge_ready_withdrawn: float = 0.10
    meeting_moved: float = 0.10
    meeting_cancelled: float = 0.10
    discharge_cancelled: float = 0.05


@dataclass(frozen=True)
class SipMeeting:
    appointment_id: str
    start: datetime
    end: datetime
    location: str
    participants: tuple[gotland.SipParty, ...]
    cancelled: bool = False


@dataclass(frozen=True)
class Step:
    """One message of an episode; ``estimated_discharge`` is the date in force at that step."""

    kind: StepKind
    estimated_discharge: date
    meeting: SipMeeting | None = None


@dataclass(frozen=True)
class Episode:
    admission: Admission
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class PlannedMessage:
    """The next message to send: which episode (by number), its admission, and the step."""

    episode: int
    admission: Admission
    step: Step


def plan_episode(rng: random.Random, admission: Admission, mix: Mix) -> Episode:
    """The steps of one episode, cancellations drawn from ``rng``."""
    date_now = admission.estimated_discharge
    steps = [Step("A01", date_now)]
    if rng.random() < mix.admission_cancelled:
        return Episode(admission, (*steps, Step("A11", date_now)))
    earliest = admission.admitted_at.date() + timedelta(days=1)
    date_now = max(earliest, date_now + timedelta(days=rng.choice((-1, 1, 2, 3))))
    steps += [Step("A08", date_now), Step("A16", date_now)]
    if rng.random() < mix.discharge_ready_withdrawn:
        steps += [Step("A25", date_now), Step("A16", date_now)]
    meeting = _meeting(rng, admission, 1)
    steps.append(Step("S12", date_now, meeting))
    if rng.random() < mix.meeting_moved:
        meeting = replace(meeting, start=meeting.start + timedelta(days=1))
        meeting = replace(meeting, end=meeting.end + timedelta(days=1))
        steps.append(Step("S13", date_now, meeting))
    if rng.random() < mix.meeting_cancelled:
        steps.append(Step("S15", date_now, replace(meeting, cancelled=True)))
        steps.append(Step("S12", date_now, _meeting(rng, admission, 2)))
    steps.append(Step("A03", date_now))
    if rng.random() < mix.discharge_cancelled:
        steps += [Step("A13", date_now), Step("A03", date_now)]
    return Episode(admission, tuple(steps))


def _meeting(rng: random.Random, admission: Admission, number: int) -> SipMeeting:
    """A SIP meeting within three days of the discharge-ready judgement."""
    day = admission.admitted_at.date() + timedelta(days=rng.randint(1, 3))
    start = datetime.combine(day, time(rng.choice((9, 10, 13, 14))), STOCKHOLM)
    care_contact = rng.choice(gotland.CARE_CONTACTS)
    participants = (
        rng.choice(gotland.HOME_CARE_UNITS),
        care_contact,
        rng.choice(gotland.NEEDS_ASSESSORS),
    )
    return SipMeeting(
        appointment_id=f"SIP-{admission.visit_number}-{number}",
        start=start,
        end=start + timedelta(hours=1),
        location=rng.choice(gotland.MEETING_PLACES),
        participants=participants,
    )


class EpisodePlanner:
    """Messages of ``episodes`` episodes (None: endless), ``concurrency`` patients at a time.

    Which patient's episode moves next is drawn from the seed, so a seed (and ``now``) gives the
    same messages in the same order every time.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        now: datetime | None = None,
        episodes: int | None = None,
        concurrency: int = 4,
        mix: Mix | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self._admissions = AdmissionGenerator(self._rng.randrange(1 << 30), now)
        self._remaining = episodes
        self._concurrency = max(1, concurrency)
        self._mix = mix or Mix()
        self._started = 0

    def __iter__(self) -> Iterator[PlannedMessage]:
        active: list[tuple[int, Episode, int]] = []
        while True:
            while len(active) < self._concurrency and self._may_start():
                episode = plan_episode(self._rng, next(self._admissions), self._mix)
                active.append((self._started, episode, 0))
                self._started += 1
            if not active:
                return
            slot = self._rng.randrange(len(active))
            number, episode, position = active[slot]
            yield PlannedMessage(number, episode.admission, episode.steps[position])
            if position + 1 < len(episode.steps):
                active[slot] = (number, episode, position + 1)
            else:
                del active[slot]

    def _may_start(self) -> bool:
        return self._remaining is None or self._started < self._remaining


def plan_messages(
    episodes: int,
    seed: int | None = None,
    now: datetime | None = None,
    concurrency: int = 4,
    mix: Mix | None = None,
) -> list[PlannedMessage]:
    """Every message of ``episodes`` episodes, in sending order."""
    planner = EpisodePlanner(seed, now=now, episodes=episodes, concurrency=concurrency, mix=mix)
    return list(planner)
