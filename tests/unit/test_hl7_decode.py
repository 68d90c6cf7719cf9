"""decode_hl7: golden fixtures field by field, event mapping, times and rejections."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.er7 import split_batch
from bridge.domain.hl7.timestamps import STOCKHOLM
from bridge.domain.identifiers import IdentifierKind
from bridge.domain.model import (
    AdmissionInformation,
    CareUnit,
    EventCode,
    HumanName,
    PatientIdentifier,
    SecurityLabel,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"
CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
NEWFOUNDLAND = timezone(-timedelta(hours=3, minutes=30))
TOLVAN = PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="191212121212")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def with_field(text: str, path: str, value: str) -> str:
    """``text`` with field ``SEG-n`` (first such segment) replaced by raw ``value``."""
    name, number = path.split("-")
    index = int(number) - (1 if name == "MSH" else 0)
    segments = text.replace("\r\n", "\r").rstrip("\r").split("\r")
    for position, segment in enumerate(segments):
        if segment.startswith(name):
            fields = segment.split("|")
            fields += [""] * (index + 1 - len(fields))
            fields[index] = value
            segments[position] = "|".join(fields)
            break
    return "\r".join(segments) + "\r"


def without_segment(text: str, name: str) -> str:
    segments = text.rstrip("\r").split("\r")
    return "\r".join(segment for segment in segments if not segment.startswith(name)) + "\r"


V25 = fixture("adt_a01_v25.hl7")


# --- golden fixtures -------------------------------------------------------------------------


def test_v25_admission_is_decoded_field_by_field() -> None:
    # Given the full v2.5 admission notice from TakeCare
    # When it is decoded
    event = decode_hl7(V25)
    # Then every canonical field holds what the message says
    assert event.event is EventCode.ADMISSION
    origin = event.origin
    assert origin.sending_application == "TakeCare"
    assert origin.sending_facility == "SE2120000803"
    assert origin.message_id == "TC20240301-000123"
    assert origin.sent_at == datetime(2024, 3, 1, 10, 15, tzinfo=CET)
    assert origin.hl7_version == "2.5"
    assert event.occurred_at == datetime(2024, 3, 1, 9, 30, tzinfo=CET)  # EVN-6 over EVN-2
    patient = event.patient
    assert patient.identifiers == (TOLVAN,)
    assert patient.name == HumanName(family="Tolvansson", given=("Tolvan", "Erik"))
    assert patient.birth_date == date(1912, 12, 12)
    assert patient.gender == "male"
    assert patient.address is not None
    assert patient.address.lines == ("Testgatan 12", "Lgh 1102")
    assert patient.address.city == "Visby"
    assert patient.address.postal_code == "62155"
    assert patient.address.country == "SE"
    assert patient.security_labels == frozenset()
    assert patient.primary_care_unit == CareUnit(
        hsa_id="SE2120000803-T1001", name="Hälsocentralen Visby Norr"
    )
    encounter = event.encounter
    assert encounter is not None
    assert encounter.class_code == "IMP"
    assert encounter.unit == CareUnit(
        hsa_id="SE2120000803-T3003", name="Medicinavdelning 3", code="MAVD3"
    )
    assert encounter.visit_number == "VN-2024-000123"
    assert encounter.admitted_at == datetime(2024, 3, 1, 9, 5, tzinfo=CET)
    assert encounter.discharged_at is None
    assert encounter.estimated_discharge == datetime(2024, 3, 8, 12, 0, tzinfo=CET)
    assert event.admission_info == AdmissionInformation(
        reason_for_admission="Svimning och kollaps",
        housing_situation="Bor ensam i lägenhet, 3 tr utan hiss.",
        social_situation="Änkling. Dotter i Stockholm, granne ser till honom dagligen.",
        care_needs_assessment=(
            "Hemtjänst 2 ggr/dag sedan tidigare.\nBehöver troligen utökad hjälp med förflyttning."
        ),
    )


def test_v23_admission_with_nnswe_only_hyphenated_number_and_xon_3() -> None:
    # Given a v2.3 message (CRLF) marking the personnummer only by CX-5 NNSWE, plus a hospital MRN
    event = decode_hl7(fixture("adt_a01_v23.hl7"))
    # Then the personnummer is normalised, the MRN ignored, times are Swedish winter time
    assert event.origin.hl7_version == "2.3"
    assert event.patient.identifiers == (
        PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="191212129819"),
    )
    assert event.patient.name == HumanName(family="Testsson", given=("Anna", "Maria", "Kristina"))
    assert event.patient.primary_care_unit == CareUnit(
        hsa_id="SE2120000803-T1002", name="Hälsocentralen Slite"
    )
    assert event.occurred_at == datetime(2024, 1, 15, 8, 29, tzinfo=STOCKHOLM)
    assert event.origin.sent_at is not None
    assert event.origin.sent_at.utcoffset() == timedelta(hours=1)
    assert event.encounter is not None
    assert event.encounter.estimated_discharge == datetime(2024, 1, 22, tzinfo=STOCKHOLM)
    assert event.admission_info == AdmissionInformation(reason_for_admission="Höftfraktur")


def test_v28_admission_with_oid_only_empty_repetitions_and_fractions() -> None:
    event = decode_hl7(fixture("adt_a01_v28.hl7"))
    assert event.origin.hl7_version == "2.8"
    assert event.origin.sending_application == "TakeCare"
    assert event.origin.sent_at == datetime(2024, 6, 15, 14, 30, 0, 123400, tzinfo=CEST)
    assert event.patient.identifiers == (
        PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="191211109853"),
    )
    assert event.patient.primary_care_unit == CareUnit(
        hsa_id="SE2120000803-T1003", name="Hälsocentralen Klintehamn"
    )
    assert event.occurred_at == datetime(2024, 6, 15, 14, 0, tzinfo=CEST)
    assert event.admission_info is not None
    assert event.admission_info.housing_situation == "Särskilt boende, Solgården"


def test_samordningsnummer_is_recognised_by_its_day_plus_60() -> None:
    event = decode_hl7(fixture("adt_a01_samordningsnummer.hl7"))
    assert event.origin.hl7_version == "2.5.1"
    assert event.patient.identifiers == (
        PatientIdentifier(kind=IdentifierKind.SAMORDNINGSNUMMER, value="191212722381"),
    )


def test_local_and_national_reservnummer_count_as_swedish_identifiers() -> None:
    event = decode_hl7(fixture("adt_a01_local_reservnummer.hl7"))
    assert event.patient.identifiers == (
        PatientIdentifier(
            kind=IdentifierKind.LOKALT_RESERVNUMMER,
            value="TC-R-2024-0042",
            assigner="TAKECARE-GOTLAND",
        ),
        PatientIdentifier(kind=IdentifierKind.NATIONELLT_RESERVNUMMER, value="990000000042"),
    )
    assert event.patient.name == HumanName(family="Okänd", given=("Man",))
    assert event.encounter is not None
    assert event.encounter.class_code == "EMER"


def test_protected_person_with_arv_keeps_skyddad_folkbokforing_distinct() -> None:
    # Given a v2.6 message with PD1-12 Y and ARV skyddadFolkbokforing
    event = decode_hl7(fixture("adt_a01_protected_arv.hl7"))
    # Then the label is skyddad folkbokföring only, and the address goes no further
    assert event.patient.security_labels == frozenset({SecurityLabel.SKYDDAD_FOLKBOKFORING})
    assert event.patient.address is not None
    assert event.for_destination().patient.address is None


def test_protected_person_with_pd1_12_only_is_sekretessmarkering() -> None:
    event = decode_hl7(fixture("adt_a01_protected_pd1.hl7"))
    assert event.patient.security_labels == frozenset({SecurityLabel.SEKRETESSMARKERING})
    assert event.for_destination().patient.address is None


def test_an_arv_that_deletes_a_restriction_is_not_read_as_one() -> None:
    text = fixture("adt_a01_protected_arv.hl7").replace("ARV|1|A|", "ARV|1|D|")
    labels = decode_hl7(text).patient.security_labels
    assert labels == frozenset({SecurityLabel.SEKRETESSMARKERING})  # PD1-12 Y remains


def test_z_segments_do_not_disturb_decoding() -> None:
    event = decode_hl7(fixture("adt_a01_zsegment.hl7"))
    assert event.patient.identifiers == (TOLVAN,)
    assert event.encounter is not None
    assert event.encounter.visit_number == "VN-2024-000124"


def test_escaped_text_is_decoded() -> None:
    event = decode_hl7(fixture("adt_a01_escapes.hl7"))
    assert event.patient.name == HumanName(family="Tolvansson & Berg", given=("Tolvan",))
    assert event.patient.address is not None
    assert event.patient.address.lines == ("Testgatan 12^B", "c/o Svensson | Lund")
    assert event.admission_info is not None
    assert event.admission_info.reason_for_admission == "Fall ~ yrsel"
    assert event.admission_info.care_needs_assessment == (
        "Rad 1\nRad 2 \\ snedstreck, hex A och å, okänd \\H\\fet\\N\\ kvar"
    )


@pytest.mark.parametrize("name", ["adt_a01_lf.hl7", "adt_a01_bom.hl7"])
def test_lf_only_and_bom_messages_decode_like_the_cr_one(name: str) -> None:
    event = decode_hl7(fixture(name))
    assert event.patient.identifiers == (TOLVAN,)
    assert event.patient.address is not None
    assert event.patient.address.postal_code == "62155"
    assert event.occurred_at == datetime(2024, 3, 1, 10, 14, tzinfo=STOCKHOLM)
    assert event.encounter is not None
    assert event.encounter.admitted_at == datetime(2024, 3, 1, 9, 5, tzinfo=STOCKHOLM)


def test_batch_messages_decode_to_an_episode() -> None:
    events = [decode_hl7(message) for message in split_batch(fixture("batch_adt.hl7"))]
    assert [event.event for event in events] == [
        EventCode.ADMISSION,
        EventCode.ESTIMATED_DISCHARGE_CHANGED,
        EventCode.DISCHARGE_READY,
        EventCode.DISCHARGE,
    ]
    assert events[1].encounter is not None
    assert events[1].encounter.estimated_discharge == datetime(2024, 6, 10, tzinfo=STOCKHOLM)
    assert events[3].encounter is not None
    assert events[3].encounter.discharged_at == datetime(2024, 6, 10, 11, 0, tzinfo=STOCKHOLM)


# --- events ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "event"),
    [
        ("A01", EventCode.ADMISSION),
        ("A08", EventCode.ESTIMATED_DISCHARGE_CHANGED),
        ("A16", EventCode.DISCHARGE_READY),
        ("A25", EventCode.DISCHARGE_READY_WITHDRAWN),
        ("A03", EventCode.DISCHARGE),
        ("A13", EventCode.DISCHARGE_CANCELLED),
        ("A11", EventCode.ADMISSION_CANCELLED),
        ("A02", EventCode.TRANSFER),
    ],
)
def test_each_adt_trigger_maps_to_its_event(trigger: str, event: EventCode) -> None:
    text = with_field(V25, "MSH-9", f"ADT^{trigger}")
    assert decode_hl7(text).event is event


def test_msh_9_wins_over_evn_1() -> None:
    # Given MSH-9 says A16 while EVN-1 still says A01
    text = with_field(V25, "MSH-9", "ADT^A16^ADT_A16")
    # Then the event is discharge-ready
    assert decode_hl7(text).event is EventCode.DISCHARGE_READY


def test_evn_1_is_read_when_msh_9_has_no_trigger() -> None:
    text = with_field(with_field(V25, "MSH-9", "ADT"), "EVN-1", "A03")
    assert decode_hl7(text).event is EventCode.DISCHARGE


# --- times and identifiers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240301101500", datetime(2024, 3, 1, 10, 15, tzinfo=CET)),
        ("20240615101500", datetime(2024, 6, 15, 10, 15, tzinfo=CEST)),
        ("20240615101500+0000", datetime(2024, 6, 15, 10, 15, tzinfo=UTC)),
        ("20240615101500-0330", datetime(2024, 6, 15, 10, 15, tzinfo=NEWFOUNDLAND)),
        ("202406151015", datetime(2024, 6, 15, 10, 15, tzinfo=CEST)),
        ("20240615", datetime(2024, 6, 15, tzinfo=CEST)),
        ("20240615101500.5", datetime(2024, 6, 15, 10, 15, 0, 500000, tzinfo=CEST)),
        ('""', None),
    ],
)
def test_times_are_swedish_local_time_unless_they_carry_an_offset(
    value: str, expected: datetime
) -> None:
    event = decode_hl7(with_field(V25, "MSH-7", value))
    assert event.origin.sent_at == expected
    if expected is not None:
        assert event.origin.sent_at is not None
        assert event.origin.sent_at.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("written", "today", "expected"),
    [
        ("121212-1212", date(2024, 1, 1), "201212121212"),
        ("121212+1212", date(2024, 1, 1), "191212121212"),
        ("1912 1212-1212", date(2024, 1, 1), "191212121212"),
    ],
)
def test_ten_digit_personnummer_take_their_century_from_today(
    written: str, today: date, expected: str
) -> None:
    text = with_field(V25, "PID-3", f"{written}^^^^NNSWE")
    event = decode_hl7(text, today=today)
    assert event.patient.identifiers[0].value == expected


def test_duplicate_identifiers_are_kept_once() -> None:
    text = with_field(
        V25, "PID-3", "191212121212^^^^NNSWE~19121212-1212^^^&1.2.752.129.2.1.3.1&ISO"
    )
    assert decode_hl7(text).patient.identifiers == (TOLVAN,)


def test_birth_date_known_only_to_the_year_is_left_out() -> None:
    assert decode_hl7(with_field(V25, "PID-7", "1912")).patient.birth_date is None


def test_unknown_gender_code_is_left_out() -> None:
    assert decode_hl7(with_field(V25, "PID-8", "X")).patient.gender is None


def test_no_pv1_no_pv2_means_no_encounter() -> None:
    text = without_segment(without_segment(V25, "PV1"), "PV2")
    event = decode_hl7(text)
    assert event.encounter is None
    assert event.admission_info is not None
    assert event.admission_info.reason_for_admission is None


# --- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("", "MSH"),
        ("this is not HL7", "MSH"),
        ('{"resourceType": "Bundle"}', "MSH"),
        (V25.replace("\rEVN", "\rnot a segment\rEVN"), "MSH"),
        (fixture("batch_adt.hl7"), "MSH"),
        (with_field(V25, "MSH-9", "ORU^R01^ORU_R01"), "MSH-9"),
        (with_field(V25, "MSH-9", "ADT^A04^ADT_A01"), "MSH-9"),
        (with_field(V25, "MSH-9", ""), "MSH-9"),
        (with_field(V25, "MSH-12", "2.2"), "MSH-12"),
        (with_field(V25, "MSH-12", "2.9"), "MSH-12"),
        (with_field(V25, "MSH-12", "3.0"), "MSH-12"),
        (with_field(V25, "MSH-12", ""), "MSH-12"),
        (with_field(V25, "MSH-10", ""), "MSH-10"),
        (with_field(V25, "MSH-10", "x" * 200), "MSH-10"),
        (with_field(V25, "MSH-4", ""), "MSH-4"),
        (with_field(V25, "MSH-7", "2024-03-01T10:15"), "MSH-7"),
        (with_field(V25, "EVN-6", "20241301"), "EVN-6"),
        (without_segment(V25, "PID"), "PID"),
        (with_field(V25, "PID-3", ""), "PID-3"),
        (with_field(V25, "PID-3", "4711^^^VISBY-LAS^MR"), "PID-3"),
        (with_field(V25, "PID-3", "191212121213^^^^NNSWE"), "PID-3"),
        (with_field(V25, "PID-3", "191213321212^^^&1.2.752.129.2.1.3.1&ISO"), "PID-3"),
        (with_field(V25, "PID-3", "19121212^^^^NNSWE"), "PID-3"),
        (with_field(V25, "PID-3", "١٩١٢١٢١٢١٢١٢^^^^NNSWE"), "PID-3"),
        (with_field(V25, "PID-3", "R" * 65 + "^^^X^RN"), "PID-3"),
        (with_field(V25, "PID-7", "19121312"), "PID-7"),
        (with_field(V25, "PV1-44", "yesterday"), "PV1-44"),
        (with_field(V25, "PV1-45", "20240230"), "PV1-45"),
        (with_field(V25, "PV2-9", "20240308+2500"), "PV2-9"),
        (with_field(V25, "PV2-9", "2024030812.5"), "PV2-9"),
    ],
)
def test_each_problem_is_rejected_at_its_location(text: str, location: str) -> None:
    with pytest.raises(MessageRejected) as rejected:
        decode_hl7(text)
    assert rejected.value.location == location


def test_a_wrong_check_digit_says_so_without_repeating_the_number() -> None:
    with pytest.raises(MessageRejected) as rejected:
        decode_hl7(with_field(V25, "PID-3", "191212121213^^^^NNSWE"))
    assert str(rejected.value) == "PID-3: personnummer check digit is wrong"
