"""Field lengths checked in the domain, naming the field; limits agree with the columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.examples import admission_example
from bridge.domain.field_limits import LIMITS, check_field_lengths
from bridge.service.delivery.accept import Inbound, decode
from bridge.service.delivery.outbound import HL7_V2
from bridge.store.tables import Base

FIXTURE = Path(__file__).parents[1] / "fixtures" / "hl7" / "adt_a01_v25.hl7"


def hl7(text: str) -> Inbound:
    return Inbound(text.replace("\n", "\r").encode(), HL7_V2, "test", "cid")


def fixture() -> str:
    return FIXTURE.read_text(encoding="utf-8")


def test_every_limit_matches_the_columns_it_protects() -> None:
    tables = Base.metadata.tables
    for limit in LIMITS:
        for name in limit.columns:
            table, column = name.split(".")
            assert table in tables, name
            length = tables[table].columns[column].type.length  # type: ignore[attr-defined]
            assert length == limit.max_length, (name, length, limit.max_length)


@pytest.mark.parametrize(
    ("old", "new", "location", "label"),
    [
        ("Medicinavdelning 3&", "W" * 201 + "&", "PV1-3", "ward name"),
        ("SE2120000803-T3003&HSA", "SE" + "9" * 70 + "&HSA", "PV1-3", "ward HSA-id"),
        ("VN-2024-000123", "V" * 65, "PV1-19", "visit number"),
        ("^^SE2120000803-T1001", "^^SE" + "1" * 70, "PD1-3", "primary care unit HSA-id"),
    ],
)
def test_a_too_long_hl7_field_is_rejected_naming_segment_and_field(
    old: str, new: str, location: str, label: str
) -> None:
    text = fixture()
    assert old in text
    with pytest.raises(MessageRejected) as caught:
        decode(hl7(text.replace(old, new)))
    assert caught.value.location == location
    assert label in caught.value.reason


def test_values_at_the_limit_are_accepted() -> None:
    text = fixture().replace("Medicinavdelning 3&", "W" * 200 + "&")
    text = text.replace("VN-2024-000123", "V" * 64)
    event = decode(hl7(text))
    assert event.encounter is not None and event.encounter.visit_number == "V" * 64


def test_fhir_locations_name_the_element() -> None:
    event = admission_example()
    assert event.encounter is not None and event.encounter.unit is not None
    unit = event.encounter.unit.model_copy(update={"name": "x" * 201})
    encounter = event.encounter.model_copy(update={"unit": unit})
    long = event.model_copy(update={"encounter": encounter})
    with pytest.raises(MessageRejected) as caught:
        check_field_lengths(long, fhir=True)
    assert caught.value.location == "Encounter.serviceProvider"
