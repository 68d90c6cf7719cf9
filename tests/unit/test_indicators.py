"""The monthly indicators on hand-made stays (plain values), and their CSV and FHIR forms."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from bridge.domain.deadlines import DEFAULT_RULE_BOOK, evaluate
from bridge.domain.deviation_message import Deviation, deviation_event, encode_deviation_bundle
from bridge.domain.episodes import EpisodeFacts, Period, Unit
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.identifiers import IdentifierKind
from bridge.domain.indicators import (
    ALL_UNITS,
    COUNTED_BY_SOURCES,
    CSV_COLUMNS,
    DEFINITIONS,
    IndicatorValue,
    Month,
    monthly_indicators,
    to_csv,
)
from bridge.domain.measure_report import INDICATOR_SYSTEM, MEASURE_URL, measure_report
from bridge.domain.model import (
    Address,
    CareTransitionEvent,
    CareUnit,
    Encounter,
    MessageOrigin,
    Patient,
    PatientIdentifier,
    SecurityLabel,
)
from bridge.domain.model import EventCode as E
from support.stays import at, notice, stay

FEB = Month(2025, 2)
M5 = Unit("SE2321000222-7M05", "Avd 5 Medicin")
O9 = Unit("SE2321000222-7O09", "Avd 9 Ortopedi")
HSV = Unit("SE2120000803-HSV1", "Hemsjukvård Visby")
BOTH = frozenset({"region", "municipality"})


def indicators(
    stays: list[EpisodeFacts], periods: list[Period] | None = None, now: str = "2025-03-31 00:00"
) -> dict[tuple[str, str], IndicatorValue]:
    rows = monthly_indicators(stays, periods or [], FEB, DEFAULT_RULE_BOOK, at(now))
    return {(row.indicator, row.unit.key): row for row in rows}


def admitted_stay(
    unit: Unit, admitted: str, delivered_after: timedelta | None, **kwargs: object
) -> EpisodeFacts:
    start = at(admitted)
    notices = []
    if delivered_after is not None:
        sent = start + delivered_after
        notices.append(notice(E.ADMISSION, sent, admitted=start, unit=unit))
    return stay(*notices, **kwargs)  # type: ignore[arg-type]


def test_admission_notices_within_24_hours_and_their_median_delay_per_ward() -> None:
    # Given three stays admitted in February (one notice late) and one cancelled
    stays = [
        admitted_stay(M5, "2025-02-03 10:00", timedelta(minutes=30)),
        admitted_stay(M5, "2025-02-20 09:00", timedelta(minutes=10)),
        admitted_stay(O9, "2025-02-05 08:00", timedelta(hours=26)),
        stay(
            notice(E.ADMISSION, at("2025-02-10 12:00"), admitted=at("2025-02-10 12:00"), unit=O9),
            notice(E.ADMISSION_CANCELLED, at("2025-02-10 13:00"), unit=O9),
        ),
        admitted_stay(M5, "2025-01-30 10:00", timedelta(minutes=5)),  # January: not counted
    ]

    # When February is counted
    found = indicators(stays)

    # Then the shares and medians are per ward and for all units
    share = found[("admission-notice-24h", M5.key)]
    assert (share.numerator, share.denominator, share.value) == (2, 2, 100.0)
    assert found[("admission-notice-24h", O9.key)].value == 0.0
    every = found[("admission-notice-24h", ALL_UNITS.key)]
    assert (every.numerator, every.denominator, every.value) == (2, 3, 66.7)
    assert found[("admission-notice-median-delay", M5.key)].value == 0.33
    assert found[("admission-notice-median-delay", O9.key)].value == 26.0
    assert found[("admission-notice-median-delay", ALL_UNITS.key)].value == 0.5


def test_a_stay_whose_admission_notice_never_came_counts_as_not_in_time() -> None:
    missing = stay(
        notice(E.DISCHARGE_READY, at("2025-02-06 09:00"), admitted=at("2025-02-03"), unit=M5)
    )

    share = indicators([missing])[("admission-notice-24h", M5.key)]

    assert (share.numerator, share.denominator) == (0, 1)


def test_sip_invitations_within_3_days_count_decided_cases_where_a_sip_is_required() -> None:
    def ready_at(when: str, *later: object, home_care: bool = True) -> EpisodeFacts:
        return stay(
            notice(E.ADMISSION, at("2025-02-01 10:00"), admitted=at("2025-02-01 10:00"), unit=M5),
            notice(E.DISCHARGE_READY, at(when), unit=M5),
            *later,  # type: ignore[arg-type]
            home_care=home_care,
        )

    stays = [
        ready_at(
            "2025-02-06 09:00", notice(E.SIP_MEETING_BOOKED, at("2025-02-07 09:00"), parties=BOTH)
        ),
        ready_at("2025-02-12 10:00"),  # no invitation: missing
        ready_at("2025-02-27 10:00"),  # deadline 2 March, after the report time: not decided
        ready_at("2025-02-14 10:00", home_care=False),  # no SIP required
    ]

    share = indicators(stays, now="2025-03-01 12:00")[("sip-invitation-3d", M5.key)]

    assert (share.numerator, share.denominator, share.value) == (1, 2, 50.0)


def test_unreceipted_notices_are_those_sent_in_the_month_without_a_positive_receipt() -> None:
    stays = [
        stay(
            notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03"), unit=M5),
            notice(E.DISCHARGE_READY, at("2025-02-05 10:00"), unit=M5, receipted=None),
            notice(
                E.DISCHARGE, at("2025-02-07 10:00"), unit=M5, receipted=None, receipt_expected=False
            ),
            notice(E.ESTIMATED_DISCHARGE_CHANGED, at("2025-03-01 10:00"), unit=M5, receipted=None),
        )
    ]

    count = indicators(stays)[("unreceipted-notices", M5.key)]

    # the one without a receipt; not the recipient that sends none, not March's
    assert (count.numerator, count.denominator, count.value) == (1, 2, 1.0)


def test_discharge_ready_days_and_the_days_the_municipality_pays_for() -> None:
    # Given a stay ready on 6 Feb, discharged on 10 Feb; one ready 31 Jan, discharged 2 Feb;
    # one whose admission notice was never sent (no payment responsibility)
    stays = [
        stay(
            notice(E.ADMISSION, at("2025-02-01 10:00"), admitted=at("2025-02-01 10:00"), unit=M5),
            notice(E.DISCHARGE_READY, at("2025-02-06 09:00"), unit=M5),
            notice(E.DISCHARGE, at("2025-02-10 14:00"), discharged=at("2025-02-10 14:00"), unit=M5),
        ),
        stay(
            notice(E.ADMISSION, at("2025-01-28 10:00"), admitted=at("2025-01-28 10:00"), unit=M5),
            notice(E.DISCHARGE_READY, at("2025-01-31 23:30"), unit=M5),
            notice(E.DISCHARGE, at("2025-02-02 08:00"), discharged=at("2025-02-02 08:00"), unit=M5),
        ),
        stay(
            notice(E.DISCHARGE_READY, at("2025-02-10 09:00"), admitted=at("2025-02-09"), unit=M5),
            notice(E.DISCHARGE, at("2025-02-20 14:00"), discharged=at("2025-02-20 14:00"), unit=M5),
        ),
    ]

    found = indicators(stays)

    days = found[("discharge-ready-days", M5.key)]
    assert (days.value, days.denominator) == (4 + 2 + 10, 3)
    paid = found[("municipal-payment-days", M5.key)]
    assert (paid.value, paid.denominator) == (1 + 0, 2)


def test_home_care_patients_according_to_each_system() -> None:
    start, feb_20 = at("2024-06-01 00:00"), at("2025-02-20 08:00")
    periods = [
        Period("treserva", start, None, HSV, "p1"),
        Period("takecare", start, None, HSV, "p1"),
        Period("treserva", start, at("2025-01-15 00:00"), HSV, "p2"),  # ended before February
        Period("takecare", start, None, HSV, "p3"),
        Period("treserva", feb_20, None, HSV, "p4"),
    ]

    found = indicators([], periods)

    assert found[("home-care-enrolled-treserva", HSV.key)].numerator == 2
    assert found[("home-care-enrolled-takecare", HSV.key)].numerator == 2
    assert found[("home-care-enrolled-one-system", ALL_UNITS.key)].numerator == 2


def test_unplanned_readmissions_within_30_days_of_patients_aged_65_and_over() -> None:
    def person(
        key: str, birth: str, discharged: str, back: str | None, class_code: str
    ) -> list[EpisodeFacts]:
        first = stay(
            notice(E.ADMISSION, at("2025-02-01 10:00"), admitted=at("2025-02-01 10:00"), unit=M5),
            notice(E.DISCHARGE, at(discharged), discharged=at(discharged), unit=M5),
            patient_key=key,
            birth=birth,
        )
        if back is None:
            return [first]
        again = stay(
            notice(E.ADMISSION, at(back), admitted=at(back), unit=O9, class_code=class_code),
            patient_key=key,
            birth=birth,
        )
        return [first, again]

    stays = [
        *person("a", "1944-05-01", "2025-02-10 14:00", "2025-02-20 09:00", "EMER"),  # counted
        *person("b", "1955-02-01", "2025-02-05 14:00", "2025-02-10 09:00", "IMP"),  # planned
        *person("c", "1959-01-01", "2025-02-06 14:00", "2025-03-10 09:00", "EMER"),  # 32 days
        *person("d", "1961-01-01", "2025-02-06 14:00", "2025-02-08 09:00", "EMER"),  # 64 years
    ]

    share = indicators(stays)[("readmission-30d-65plus", M5.key)]

    assert (share.numerator, share.denominator) == (1, 3)


@pytest.mark.parametrize(
    ("admission_type", "class_code", "counted"),
    [
        ("emergency", "IMP", True),
        ("urgent", "IMP", True),
        ("accident", "AMB", True),
        ("elective", "EMER", False),  # the admission type wins over the class
        ("newborn", "EMER", False),
        (None, "EMER", True),  # no admission type: the class decides (fallback)
        (None, "IMP", False),
    ],
)
def test_the_admission_type_decides_whether_a_readmission_is_unplanned(
    admission_type: str | None, class_code: str, counted: bool
) -> None:
    first = stay(
        notice(E.ADMISSION, at("2025-02-01 10:00"), admitted=at("2025-02-01 10:00"), unit=M5),
        notice(E.DISCHARGE, at("2025-02-10 14:00"), discharged=at("2025-02-10 14:00"), unit=M5),
        patient_key="a",
        birth="1944-05-01",
    )
    back = at("2025-02-20 09:00")
    again = stay(
        notice(
            E.ADMISSION,
            back,
            admitted=back,
            unit=O9,
            class_code=class_code,
            admission_type=admission_type,
        ),
        patient_key="a",
        birth="1944-05-01",
    )

    share = indicators([first, again])[("readmission-30d-65plus", M5.key)]

    assert (share.numerator, share.denominator) == (int(counted), 1)


@pytest.mark.parametrize(
    ("admitted", "month"),
    [
        ("2025-03-31 23:30", Month(2025, 3)),  # 21:30 UTC: still March in Sweden
        ("2025-10-01 00:30", Month(2025, 10)),  # 22:30 UTC on 30 September
        ("2025-10-26 02:30+01:00", Month(2025, 10)),  # the repeated hour
    ],
)
def test_months_are_swedish_calendar_months(admitted: str, month: Month) -> None:
    facts = admitted_stay(M5, admitted, timedelta(minutes=5))

    rows = monthly_indicators([facts], [], month, DEFAULT_RULE_BOOK, at("2025-12-31 00:00"))
    share = {(r.indicator, r.unit.key): r for r in rows}[("admission-notice-24h", M5.key)]

    assert share.denominator == 1
    assert Month.of(at(admitted)) == month


def test_month_arithmetic() -> None:
    assert Month.parse("2025-12").next() == Month(2026, 1)
    assert Month(2025, 1).previous() == Month(2024, 12)
    assert str(Month(2025, 3)) == "2025-03"
    assert Month(2025, 10).end - Month(2025, 10).start == timedelta(days=31, hours=1)
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("2025-13")


# --- exports ----------------------------------------------------------------------------------


def sample() -> list[IndicatorValue]:
    stays = [
        admitted_stay(M5, "2025-02-03 10:00", timedelta(minutes=30)),
        admitted_stay(O9, "2025-02-05 08:00", timedelta(hours=26)),
    ]
    return monthly_indicators(stays, [], FEB, DEFAULT_RULE_BOOK, at("2025-03-31 00:00"))


def test_the_csv_has_one_row_per_indicator_and_unit_with_plain_numbers() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(sample()))))

    assert tuple(rows[0]) == CSV_COLUMNS
    share = next(r for r in rows if r["indicator"] == "admission-notice-24h" and r["unit"] == "all")
    assert share == {
        "month": "2025-02",
        "unit": "all",
        "unit_name": "All units",
        "indicator": "admission-notice-24h",
        "title": "Admission notices delivered within 24 h",
        "numerator": "1",
        "denominator": "2",
        "value": "50",
        "measure_unit": "%",
        "status": "final",
    }
    assert {r["indicator"] for r in rows} == {d.id for d in DEFINITIONS} - COUNTED_BY_SOURCES


def test_the_measure_report_is_valid_fhir_r4_with_a_group_per_indicator_and_units_as_strata() -> (
    None
):
    report = measure_report(sample(), FEB, at("2025-03-31 00:00"))

    assert validate_resource(report) == []
    assert report["measure"] == MEASURE_URL
    assert report["period"] == {
        "start": "2025-02-01T00:00:00+01:00",
        "end": "2025-03-01T00:00:00+01:00",
    }
    groups = {group["code"]["coding"][0]["code"]: group for group in report["group"]}
    assert set(groups) == {d.id for d in DEFINITIONS} - COUNTED_BY_SOURCES
    assert all(g["code"]["coding"][0]["system"] == INDICATOR_SYSTEM for g in groups.values())
    share = groups["admission-notice-24h"]
    assert [(p["code"]["coding"][0]["code"], p["count"]) for p in share["population"]] == [
        ("numerator", 1),
        ("denominator", 2),
    ]
    assert share["measureScore"] == {
        "value": 50.0,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    strata = share["stratifier"][0]["stratum"]
    assert [s["value"]["coding"][0]["code"] for s in strata] == [M5.key, O9.key]


# --- the deviation alert -----------------------------------------------------------------------


def test_the_deviation_alert_is_a_valid_message_focused_on_a_detected_issue() -> None:
    # Given a late admission notice of a patient with a protected address
    facts = admitted_stay(M5, "2025-02-03 10:00", timedelta(hours=24, minutes=1))
    [late] = [
        o
        for o in evaluate(DEFAULT_RULE_BOOK, facts, at("2025-02-05 00:00"))
        if o.rule.id == "admission-notice-24h"
    ]
    deviation = Deviation.from_outcome(
        late, deviation_id="dev-1", episode_id="e1", detected_at=at("2025-02-05 00:00")
    )
    stay_event = CareTransitionEvent(
        event=E.ADMISSION,
        origin=MessageOrigin(sending_facility="VISBY-LASARETT", message_id="TC1"),
        patient=Patient(
            identifiers=(
                PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="194403129804"),
            ),
            address=Address(lines=("Hemlig gatan 1",), city="Visby"),
            security_labels=frozenset({SecurityLabel.SKYDDAD_FOLKBOKFORING}),
        ),
        encounter=Encounter(visit_number="V1", unit=CareUnit(hsa_id=M5.hsa_id, name=M5.name)),
    )

    # When its alert is encoded
    bundle = encode_deviation_bundle(
        deviation_event(stay_event, deviation),
        deviation,
        bundle_id="delivery-1",
        idempotency_key="2f1c1e0e-6c9a-4c36-9d0e-2b8a1f0f0a11",
        source_name="bridge",
        source_endpoint="http://bridge.example/fhir",
        destination_name="quality",
        destination_endpoint="http://quality.example/fhir",
        now=at("2025-02-05 00:00"),
    )

    # Then it is a valid R4 message whose header points at the DetectedIssue
    assert validate_resource(bundle) == []
    header = bundle["entry"][0]["resource"]
    assert header["eventCoding"]["code"] == "deviation"
    issue_entry = bundle["entry"][-1]
    assert header["focus"] == [{"reference": issue_entry["fullUrl"]}]
    issue = issue_entry["resource"]
    extensions = {ext["url"].rsplit("/", 1)[1]: ext for ext in issue["extension"]}
    assert extensions["deviation-late-by"]["valueDuration"]["value"] == 1.0
    assert extensions["deviation-rule"]["valueCoding"]["code"] == "admission-notice-24h"
    assert extensions["deviation-responsible"]["valueCode"] == "sender"
    assert "sent 1 min late" in issue["detail"]
    assert "Hemlig" not in str(bundle)  # a protected person's address never leaves the bridge
