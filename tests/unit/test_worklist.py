"""The coordinator's worklist, organisations' scopes, deviation categories and report periods:
pure functions on hand-made stays (docs/coordinators.md)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest

from bridge.domain.content_checks import missing_routine_fields
from bridge.domain.deadlines import DEFAULT_RULE_BOOK
from bridge.domain.model import (
    AdmissionInformation,
    CareTransitionEvent,
    Encounter,
    MessageOrigin,
    Patient,
    PatientIdentifier,
)
from bridge.domain.model import EventCode as E
from bridge.domain.organisations import Organisations, scope_units
from bridge.domain.report_periods import HalfYear, Year, parse_span, provisional
from bridge.domain.reported_deviations import (
    EXPORT_COLUMNS,
    DeviationEntry,
    category_of_rule,
    per_category,
    to_csv,
    to_json,
)
from bridge.domain.worklist import belongs_to, worklist
from support.stays import VARDCENTRAL, WARD, at, notice, stay

ADMITTED = at("2025-10-06 08:00")


def test_an_open_stay_lists_the_admission_deadline_as_due_then_overdue() -> None:
    # Given a stay whose admission notice was sent but never receipted
    facts = stay(notice(E.ADMISSION, ADMITTED, admitted=ADMITTED, receipted=None))

    # When the worklist is read before and after the 24 hours
    [before] = worklist([facts], DEFAULT_RULE_BOOK, ADMITTED + timedelta(hours=23))
    [after] = worklist([facts], DEFAULT_RULE_BOOK, ADMITTED + timedelta(hours=25))

    # Then it is due, with its deadline and owner, and then overdue
    assert [(d.rule_id, d.overdue) for d in before.items] == [("admission-notice-24h", False)]
    assert before.next_deadline is not None
    assert before.next_deadline.due_at == ADMITTED + timedelta(hours=24)
    assert before.next_deadline.owner == WARD
    assert [(d.rule_id, d.overdue) for d in after.items] == [("admission-notice-24h", True)]
    assert after.next_deadline is None


def test_a_discharge_ready_home_care_patient_has_a_sip_call_due_and_payment_days() -> None:
    ready = at("2025-10-07 10:00")
    facts = stay(
        notice(E.ADMISSION, ADMITTED, admitted=ADMITTED),
        notice(E.DISCHARGE_READY, ready),
        home_care=True,
    )
    [item] = worklist([facts], DEFAULT_RULE_BOOK, at("2025-10-12 09:00"))

    assert item.discharge_ready_at == ready
    assert item.sip_due_at == at("2025-10-10 10:00")
    assert [(d.rule_id, d.overdue) for d in item.items] == [("sip-invitation-3d", True)]
    assert item.items[0].owner == VARDCENTRAL and item.items[0].owner_role == "primary-care"
    assert item.payment_days == 2  # 7 Oct → 12 Oct is 5 calendar days, the first 3 free


def test_only_open_stays_are_listed_and_changes_are_those_of_the_last_day() -> None:
    discharged = stay(
        notice(E.ADMISSION, ADMITTED, admitted=ADMITTED),
        notice(E.DISCHARGE, at("2025-10-08 10:00"), discharged=at("2025-10-08 10:00")),
    )
    cancelled = stay(
        notice(E.ADMISSION, ADMITTED, admitted=ADMITTED),
        notice(E.ADMISSION_CANCELLED, ADMITTED + timedelta(hours=1)),
    )
    fresh = stay(notice(E.ADMISSION, at("2025-10-09 07:00"), admitted=at("2025-10-09 06:00")))
    old = stay(notice(E.ADMISSION, ADMITTED, admitted=ADMITTED))

    items = worklist([discharged, cancelled, fresh, old], DEFAULT_RULE_BOOK, at("2025-10-09 12:00"))

    assert {item.episode_id for item in items} == {fresh.episode_id, old.episode_id}
    by_id = {item.episode_id: item for item in items}
    assert by_id[fresh.episode_id].new_since_yesterday
    assert [c.event for c in by_id[fresh.episode_id].changes] == [E.ADMISSION]
    assert not by_id[old.episode_id].new_since_yesterday and not by_id[old.episode_id].changes
    assert belongs_to(by_id[old.episode_id], frozenset({WARD.hsa_id or ""}))
    assert not belongs_to(by_id[old.episode_id], frozenset({"SE0-OTHER"}))


def test_a_coordinators_scope_is_its_organisations_units_and_fails_closed() -> None:
    organisations = Organisations.model_validate(
        {
            "organisations": [
                {"id": "hsf", "name": "HSF", "units": [{"hsa_id": "A"}, {"hsa_id": "B"}]},
                {"id": "sof", "name": "SOF", "units": [{"hsa_id": "C", "inbox": "c-inbox"}]},
            ]
        }
    )
    assert scope_units(organisations, "hsf") == {"A", "B"}
    assert scope_units(organisations, "hsf", ("B", "C")) == {"B"}  # never another's unit
    assert scope_units(organisations, "nowhere") == frozenset()
    assert scope_units(Organisations(), "hsf") == frozenset()
    assert organisations.inboxes() == {"c-inbox"}
    with pytest.raises(ValueError, match="unique"):
        Organisations.model_validate({"organisations": [{"id": "x", "name": "1"}] * 2})


def entry(category: str, origin: str) -> DeviationEntry:
    return DeviationEntry(
        id=f"{category}-{origin}",
        origin=origin,
        category=category,
        unit_hsa_id="SE2321000222-7M05",
        unit_name="Avd 5 Medicin",
        detected_at=ADMITTED,
        summary="Läkemedelslista saknades",
        status="open",
        patient="19410301-****",
    )


def test_automatic_deviations_fall_in_the_staff_categories_and_are_counted_with_reported_ones() -> (
    None
):
    assert category_of_rule("sip-invitation-3d", "coordinated-planning") == "sip-not-held"
    assert category_of_rule("admission-notice-24h", "information-transfer") == (
        "wrong-or-late-notice"
    )
    assert category_of_rule("incomplete-admission-notice") == "incomplete-information"
    counts = per_category(
        [entry("medication-list", "reported"), entry("medication-list", "automatic")]
    )
    assert counts["medication-list"] == {"automatic": 1, "reported": 1, "total": 2}
    assert counts["other"] == {"automatic": 0, "reported": 0, "total": 0}


def test_the_export_has_the_documented_columns_in_csv_and_json() -> None:
    entries = [entry("medication-list", "reported")]
    rows = list(csv.DictReader(io.StringIO(to_csv(entries))))
    document = json.loads(to_json(entries))

    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert rows[0]["category_text"] == "Läkemedelslista / Medication list"
    assert datetime.fromisoformat(rows[0]["detected_at"]) == ADMITTED
    assert document["schema"] == "bridge-deviations/1"
    assert document["deviations"] == rows


def test_half_years_and_years_run_on_the_swedish_calendar_and_are_provisional_until_over() -> None:
    assert parse_span("2025-H2") == HalfYear(2025, 2)
    assert parse_span("2025") == Year(2025)
    assert parse_span("2025-10") is None
    assert HalfYear(2025, 2).start == at("2025-07-01 00:00")
    assert HalfYear(2025, 2).end == at("2026-01-01 00:00")
    assert HalfYear(2025, 1).next() == HalfYear(2025, 2) == HalfYear(2026, 1).previous()
    assert Year(2025).holds(at("2025-12-31 23:59")) and not Year(2025).holds(at("2026-01-01 00:00"))
    assert provisional(HalfYear(2025, 2), at("2025-12-31 23:59"))
    assert not provisional(HalfYear(2025, 2), at("2026-01-01 00:00"))


def test_an_admission_notice_names_the_routines_fields_it_lacks() -> None:
    base = CareTransitionEvent(
        event=E.ADMISSION,
        origin=MessageOrigin(
            sending_application="TakeCare", sending_facility="X", message_id="1", sent_at=ADMITTED
        ),
        patient=Patient(
            identifiers=(PatientIdentifier(kind="personnummer", value="194103019813"),)
        ),
        encounter=Encounter(admitted_at=ADMITTED, estimated_discharge=ADMITTED + timedelta(days=3)),
        admission_info=AdmissionInformation(
            reason_for_admission="Fall", housing_situation=" ", social_situation="Gift"
        ),
    )
    assert missing_routine_fields(base) == ("housing-situation", "care-needs-assessment")
    bare = base.model_copy(update={"admission_info": None, "encounter": None})
    assert len(missing_routine_fields(bare)) == 5
    assert missing_routine_fields(base.model_copy(update={"event": E.TRANSFER})) == ()
