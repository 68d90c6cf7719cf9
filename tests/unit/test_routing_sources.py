"""Accept takes a message's source from the routing file's source definitions.

A bridge on a SQLite file (the embedded default) accepts messages without delivering them; the
message row and the accept result show which source and destinations were chosen.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.service.delivery.accept import AcceptStatus, Inbound
from bridge.service.delivery.outbound import FHIR_JSON, HL7_V2
from bridge.store.tables import MessageRow
from takecare_sim import Sender, build_admission, generate_admissions
from treserva_sim.outbound import Enrolment, HomeCareUnit, enrolment_bundle
from treserva_sim.outbound import Sender as TreservaSender

ROUTING = """\
sources:
  - name: takecare
    facilities: [VISBY_LAS]
  - name: treserva
    facilities: [GOTLAND-SOF]
destinations:
  - name: treserva
    address: http://127.0.0.1:9/fhir
  - name: primary-care
    address: mllp://127.0.0.1:9
    format: hl7v2
    transport: mllp
  - name: takecare
    address: http://127.0.0.1:9/fhir
routes:
  - events: [admission]
    destinations: [treserva]
  - events: [admission]
    conditions: {has_primary_care_unit: true}
    destinations: [primary-care]
  - source: treserva
    events: [homecare-enrolment-started]
    destinations: [takecare]
"""
ADMISSION = generate_admissions(1, seed=5)[0]


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(textwrap.dedent(ROUTING), encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}", routing_file=routing, http_port=0
    )
    bridge = Bridge(settings)
    await bridge.start(deliver=False)
    try:
        yield bridge
    finally:
        await bridge.stop()


async def stored_source(bridge: Bridge, message_id: str | None) -> str:
    async with bridge.db.session() as session:
        source = await session.scalar(select(MessageRow.source).where(MessageRow.id == message_id))
    assert source is not None
    return source


def admission_from(facility: str, control_id: str) -> Inbound:
    er7 = build_admission(ADMISSION, control_id, sender=Sender(facility=facility))
    return Inbound(er7.encode(), HL7_V2, "mllp", "corr")


async def test_a_message_from_a_defined_facility_takes_that_source(bridge: Bridge) -> None:
    # Given a routing file naming VISBY_LAS as TakeCare
    # When an admission from VISBY_LAS is accepted
    result = await bridge.accept(admission_from("VISBY_LAS", "C1"))
    # Then it is TakeCare's, routed to home care and the patient's primary-care unit
    assert result.status is AcceptStatus.ACCEPTED
    assert result.destinations == ("treserva", "primary-care")
    assert await stored_source(bridge, result.message_id) == "takecare"


async def test_a_message_no_source_claims_keeps_the_entrypoint_default(bridge: Bridge) -> None:
    result = await bridge.accept(admission_from("SOMEWHERE_ELSE", "C2"))
    assert result.destinations == ("treserva", "primary-care")
    assert await stored_source(bridge, result.message_id) == "takecare"


async def test_an_enrolment_from_treserva_goes_to_takecare(bridge: Bridge) -> None:
    # Given an enrolment message whose MessageHeader.source.name is GOTLAND-SOF
    enrolment = Enrolment(
        episode_id="HSV-1",
        personnummer=ADMISSION.patient.identifier,
        family="Testsson",
        given=("Elsa",),
        unit=HomeCareUnit("SE2321000040-H001", "Hemsjukvården Visby"),
        start=datetime(2030, 1, 2, 9, 0, tzinfo=UTC),
    )
    sender = TreservaSender("GOTLAND-SOF", "http://treserva.test/fhir", "http://bridge.test/fhir")
    body = json.dumps(enrolment_bundle(sender, enrolment)).encode()
    # When it is accepted
    result = await bridge.accept(Inbound(body, FHIR_JSON, "http", "corr"))
    # Then the source is Treserva and the route to TakeCare applies
    assert result.status is AcceptStatus.ACCEPTED, result.error
    assert result.destinations == ("takecare",)
    assert await stored_source(bridge, result.message_id) == "treserva"
