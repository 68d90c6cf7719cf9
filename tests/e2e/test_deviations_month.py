"""Issue 6, must show 2: a month of two wards' traffic played through the bridge; the monthly
indicators equal a count made independently from the generator's own log.

The bridge runs whole (HTTP entrypoint, accept, relay, delivery worker, receipts, deadline check)
on a controllable clock set to each message's synthetic time, so a month plays in seconds.
TakeCare's notices go in as HL7 v2, Treserva's enrolments and receipts as FHIR; Treserva's
answers (receipt after minutes, hours, or never) are the generator's. Both runtime databases.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from services import require_postgres

from bridge.bootstrap import Bridge
from bridge.domain.episodes import STOCKHOLM
from bridge.domain.indicators import ALL_UNITS, COUNTED_BY_SOURCES, DEFINITIONS, Month
from bridge.domain.reported_deviations import CATEGORIES
from support.indicator_count import Window, count, unplanned
from support.playback import Receivers, month_settings, played
from support.ward_month import (
    TAKECARE,
    StayLog,
    WardMonth,
    generate,
)

MONTH = Month(2025, 10)  # summer time ends on 26 October: a 25-hour day inside the month
Expected = dict[tuple[str, str], tuple[float | None, int | None]]
Add = Callable[[str, str, float], None]


SHARED_LOOP = pytest.mark.asyncio(loop_scope="module")  # the month fixture lives in it


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("production", marks=pytest.mark.postgres)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "embedded":
        yield f"sqlite:///{tmp_path_factory.mktemp('month') / 'bridge.db'}"
    else:
        with require_postgres() as url:
            yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def month(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Bridge, Receivers]]:
    """The generator's month, played through a bridge to its end (once per runtime mode)."""
    settings = month_settings(database_url, tmp_path_factory.mktemp("routing"))
    async with played(generate(MONTH), settings) as result:
        yield result


@SHARED_LOOP
async def test_a_months_indicators_match_an_independent_count_from_the_generators_log(
    month: tuple[Bridge, Receivers],
) -> None:
    # Given a month of traffic played through the bridge (fixture), and the generator's own log
    bridge, receivers = month
    traffic = generate(MONTH)
    report_time = traffic.ends_at

    # When the bridge reports the month's indicators
    values = await bridge.indicators.month(MONTH)

    # Then every indicator, for every ward and for all units, is what the log says
    expected = independent_count(traffic, report_time)
    sums = {"discharge-ready-days", "municipal-payment-days"}
    actual = {
        (row.indicator, row.unit.key): (
            row.value if row.indicator in sums else row.numerator,
            row.denominator,
        )
        for row in values
        if row.indicator in {key[0] for key in expected}
    }
    assert actual == {key: (num, den) for key, (num, den) in expected.items()}
    delays = {row.unit.key: row.value for row in values if row.indicator.endswith("median-delay")}
    assert delays == median_delays(traffic)

    # And the traffic was realistic: some of everything, lateness included
    by_indicator = {(row.indicator, row.unit.key): row for row in values}
    admission = by_indicator[("admission-notice-24h", ALL_UNITS.key)]
    assert admission.denominator and 50 <= (admission.value or 0) < 100
    assert by_indicator[("unreceipted-notices", ALL_UNITS.key)].numerator
    assert by_indicator[("readmission-30d-65plus", ALL_UNITS.key)].numerator
    assert by_indicator[("home-care-enrolled-one-system", ALL_UNITS.key)].numerator

    # And every notice reached Treserva exactly once
    keys = [item.idempotency_key for item in receivers.at("treserva")]
    assert (
        len(keys)
        == len(set(keys))
        == sum(
            send.system == TAKECARE and not send.event.event.value.startswith("homecare")
            for send in traffic.sends
        )
    )


@SHARED_LOOP
async def test_the_months_deviations_were_alerted_once_each_to_the_quality_inbox(
    month: tuple[Bridge, Receivers],
) -> None:
    bridge, receivers = month
    deviations = await bridge.deviations.find()
    alerts = receivers.at("quality")

    assert deviations, "a month with late notices has deviations"
    assert sorted(item.header_id for item in alerts) == sorted({item.header_id for item in alerts})
    assert {item.event_code for item in alerts} == {"deviation"}
    alerted = {_deviation_id(item.bundle) for item in alerts}
    assert alerted == {deviation.id for deviation in deviations}


def _deviation_id(bundle: dict[str, object]) -> str:
    entries = bundle["entry"]
    assert isinstance(entries, list)
    [issue] = [e["resource"] for e in entries if e["resource"]["resourceType"] == "DetectedIssue"]
    return str(issue["identifier"][0]["value"])


# --- the independent count: the generator's log, the law's words, nothing of the bridge -------


def local(moment: datetime) -> datetime:
    return moment.astimezone(STOCKHOLM)


def in_month(moment: datetime | None) -> bool:
    return moment is not None and (local(moment).year, local(moment).month) == MONTH


def plus_calendar_days(moment: datetime, days: int) -> datetime:
    wall = local(moment).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=STOCKHOLM)


def independent_count(traffic: WardMonth, report_time: datetime) -> Expected:
    counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0])

    def add(indicator: str, unit: str, hit: float) -> None:
        for key in ((indicator, unit), (indicator, ALL_UNITS.key)):
            counts[key][0] += hit
            counts[key][1] += 1

    stays = [stay for stay in traffic.stays if not stay.cancelled]
    for stay in stays:
        ward = stay.ward.hsa_id or ""
        if in_month(stay.admitted_at):
            sent = stay.admission_sent
            on_time = sent is not None and sent - stay.admitted_at <= timedelta(hours=24)
            add("admission-notice-24h", ward, on_time)
        _sip(stay, traffic, report_time, add)
        _ready_days(stay, add)
        _readmission(stay, stays, add)
    for send in traffic.sends:
        if send.system != TAKECARE or send.event.event.value.startswith("homecare"):
            continue
        if in_month(send.at):
            ward = _ward_of(send.message_id, traffic)
            receipted = send.receipt_after is not None and send.at + send.receipt_after <= (
                report_time
            )
            add("unreceipted-notices", ward, not receipted)
    expected: Expected = {key: (hit, int(total)) for key, (hit, total) in counts.items()}
    expected.update(_enrolments(traffic))
    return expected


def _sip(stay: StayLog, traffic: WardMonth, report_time: datetime, add: Add) -> None:
    if not stay.ready_sent or not in_month(stay.ready_sent[-1]):
        return
    ready = stay.ready_sent[-1]
    enrolled = any(
        e.personnummer == stay.personnummer and e.start <= ready for e in traffic.enrolments
    )
    if not enrolled:
        return
    deadline = plus_calendar_days(ready, 3)
    if stay.sip_sent is None and report_time <= deadline:
        return  # not decided yet
    on_time = stay.sip_sent is not None and stay.sip_sent <= deadline
    add("sip-invitation-3d", stay.ward.hsa_id or "", on_time)


def _ready_days(stay: StayLog, add: Add) -> None:
    if not in_month(stay.discharged_at) or not stay.ready_sent:
        return
    assert stay.discharged_at is not None
    days = max((local(stay.discharged_at).date() - local(stay.ready_sent[-1]).date()).days, 0)
    ward = stay.ward.hsa_id or ""
    add("discharge-ready-days", ward, days)
    if stay.admission_sent is not None:
        add("municipal-payment-days", ward, max(days - 3, 0))


def _readmission(stay: StayLog, stays: list[StayLog], add: Add) -> None:
    if not in_month(stay.discharged_at):
        return
    assert stay.discharged_at is not None
    day = local(stay.discharged_at).date()
    born = stay.birth_date
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    if age < 65:
        return
    back = any(
        other.personnummer == stay.personnummer
        and unplanned(other)
        and stay.discharged_at < other.admitted_at <= stay.discharged_at + timedelta(days=30)
        for other in stays
    )
    add("readmission-30d-65plus", stay.ward.hsa_id or "", back)


def _enrolments(traffic: WardMonth) -> Expected:
    start = datetime(MONTH.year, MONTH.month, 1, tzinfo=STOCKHOLM)
    end = datetime(MONTH.year, MONTH.month + 1, 1, tzinfo=STOCKHOLM)
    patients: dict[tuple[str, str], set[str]] = defaultdict(set)
    systems: dict[str, set[str]] = defaultdict(set)
    unit_of: dict[str, str] = {}
    for e in traffic.enrolments:
        if e.start < end and (e.end is None or e.end > start):
            indicator = f"home-care-enrolled-{e.system.lower()}"
            for unit in (e.unit.hsa_id or "", ALL_UNITS.key):
                patients[(indicator, unit)].add(e.personnummer)
            systems[e.personnummer].add(e.system)
            unit_of.setdefault(e.personnummer, e.unit.hsa_id or "")
    for person, seen in systems.items():
        if len(seen) == 1:
            for unit in (unit_of[person], ALL_UNITS.key):
                patients[("home-care-enrolled-one-system", unit)].add(person)
    return {key: (len(found), None) for key, found in patients.items()}


def _ward_of(message_id: str, traffic: WardMonth) -> str:
    for stay in traffic.stays:
        if any(send.message_id == message_id for send in stay.notices):
            return stay.ward.hsa_id or ""
    raise AssertionError(f"no stay sent {message_id}")


def median_delays(traffic: WardMonth) -> dict[str, float]:
    delays: dict[str, list[float]] = defaultdict(list)
    for stay in traffic.stays:
        if stay.cancelled or not in_month(stay.admitted_at) or stay.admission_sent is None:
            continue
        hours = (stay.admission_sent - stay.admitted_at).total_seconds() / 3600
        delays[stay.ward.hsa_id or ""].append(hours)
        delays[ALL_UNITS.key].append(hours)
    return {unit: round(statistics.median(found), 2) for unit, found in delays.items()}


def test_the_independent_count_covers_every_indicator() -> None:
    """The comparison is only as good as its coverage: it must name every indicator."""
    traffic = generate(MONTH)
    counted = {key[0] for key in independent_count(traffic, traffic.ends_at)}
    # Length of stay and SIP plans: tests/e2e/test_indicators_half_year.py counts them from the
    # log (support/indicator_count.py); deviations per category there too, from the one list.
    window = Window(MONTH.start, MONTH.end)
    counted |= {key[0] for key in count(traffic, window, traffic.ends_at)}
    counted |= {f"deviations-{category}" for category in CATEGORIES}

    assert (
        counted | {"admission-notice-median-delay"}
        == {d.id for d in DEFINITIONS} - COUNTED_BY_SOURCES
    )
