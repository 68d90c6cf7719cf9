"""Issue 11: an ADT^A08 without PV2-9 (a demographic update) reaches Treserva only when the
routing rule says so. By default: when it changes the protected-identity marking, the name, the
address or the contact details of a patient with an open stay or home-care enrolment; the rest
is filtered, and found by ``bridge messages search`` with the rule that decided. Both runtime
modes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import Stack
from messages import admission, control_id, notice, synthetic_personnummer
from services import wait_until
from sqlalchemy import select
from test_admission_flow import inbox_for, mllp_send_foreign, settled
from test_ops_cli import bridge_cli

from bridge.contracts.er7_edit import edit_message
from bridge.domain.hl7.ack import parse_ack
from bridge.store.tables import MessageRow

DEMOGRAPHICS = "patient-demographics-changed"
NEW_ADDRESS = "Norra Murgatan 12^^Visby^^62155^SE"


def a08(control: str, personnummer: str, **fields: str) -> str:
    """An ADT^A08 of the admission fixture's patient without PV2-9, with fields changed."""
    changes = {"PV2-9": "", **{name.replace("_", "-"): value for name, value in fields.items()}}
    return edit_message(notice(control, personnummer, "A08"), changes)


async def send(stack: Stack, *messages: str) -> list[str]:
    acks = await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, list(messages))
    return [parse_ack(ack).code for ack in acks]


async def demographics_in_treserva(stack: Stack, personnummer: str) -> list[dict[str, Any]]:
    return [i for i in await inbox_for(stack, personnummer) if i["event_code"] == DEMOGRAPHICS]


def patient_of(bundle: dict[str, Any]) -> dict[str, Any]:
    [patient] = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    return patient


async def test_a_new_address_of_a_patient_in_hospital_reaches_treserva(stack: Stack) -> None:
    # Given a patient admitted to hospital (an open stay), the admission delivered
    pnr = synthetic_personnummer()
    assert await send(stack, admission(control_id(), pnr)) == ["AA"]
    await wait_until(lambda: settled(stack), within=15, what="the admission delivered")

    # When TakeCare sends an A08 with a new address
    assert await send(stack, a08(control_id(), pnr, PID_11=NEW_ADDRESS)) == ["AA"]

    # Then Treserva receives a Patient-focused demographic update with the new address
    async def arrived() -> bool:
        return bool(await demographics_in_treserva(stack, pnr))

    await wait_until(arrived, within=15, what="the demographic update in Treserva")
    [item] = await demographics_in_treserva(stack, pnr)
    header = item["bundle"]["entry"][0]["resource"]
    patient = patient_of(item["bundle"])
    assert header["focus"][0]["reference"] == item["bundle"]["entry"][1]["fullUrl"]
    assert patient["address"][0]["line"] == ["Norra Murgatan 12"]


async def test_a_new_name_of_a_patient_enrolled_in_home_care_reaches_treserva(
    stack: Stack,
) -> None:
    # Given a patient enrolled in home care (an ADT^A01 with PV1-10 HHC), and no hospital stay
    pnr, enrolled = synthetic_personnummer(), control_id()
    enrolment = edit_message(admission(enrolled, pnr), {"PV1-10": "HHC", "PV1-2": "R"})
    assert await send(stack, enrolment) == ["AA"]
    async with stack.bridge.bridge.db.session() as session:
        stored = await session.scalar(
            select(MessageRow.event_code).where(MessageRow.dedupe_key.endswith(f"|{enrolled}"))
        )
    assert stored == "homecare-enrolment-started"

    # When TakeCare sends an A08 with a new family name
    renamed = a08(control_id(), pnr, PID_5="Tolvesson^Tolvan^Erik")
    assert await send(stack, renamed) == ["AA"]

    # Then Treserva receives it with the new name
    async def arrived() -> bool:
        return bool(await demographics_in_treserva(stack, pnr))

    await wait_until(arrived, within=15, what="the demographic update in Treserva")
    [item] = await demographics_in_treserva(stack, pnr)
    assert patient_of(item["bundle"])["name"][0]["family"] == "Tolvesson"


async def test_a_new_telephone_number_of_a_patient_in_hospital_reaches_treserva(
    stack: Stack,
) -> None:
    # Given a patient admitted to hospital, the admission delivered
    pnr = synthetic_personnummer()
    assert await send(stack, admission(control_id(), pnr)) == ["AA"]
    await wait_until(lambda: settled(stack), within=15, what="the admission delivered")

    # When TakeCare sends an A08 whose only change is the home telephone number (PID-13)
    assert await send(stack, a08(control_id(), pnr, PID_13="070-1234567^PRN^PH")) == ["AA"]

    # Then Treserva receives it with the new number
    async def arrived() -> bool:
        return bool(await demographics_in_treserva(stack, pnr))

    await wait_until(arrived, within=15, what="the demographic update in Treserva")
    [item] = await demographics_in_treserva(stack, pnr)
    telecom = patient_of(item["bundle"])["telecom"]
    assert telecom == [{"system": "phone", "value": "070-1234567", "use": "home"}]


async def test_an_a08_changing_nothing_or_about_a_patient_not_in_care_is_filtered(
    stack: Stack,
) -> None:
    # Given one patient in hospital and another the bridge has never seen in care
    in_care, not_in_care = synthetic_personnummer(), synthetic_personnummer()
    assert await send(stack, admission(control_id(), in_care)) == ["AA"]
    await wait_until(lambda: settled(stack), within=15, what="the admission delivered")
    unchanged, elsewhere = control_id(), control_id()

    # When an A08 repeats the first patient's demographics, and one moves the other
    acks = await send(
        stack, a08(unchanged, in_care), a08(elsewhere, not_in_care, PID_11=NEW_ADDRESS)
    )

    # Then both are acknowledged and found as filtered, each with the rule that decided
    assert acks == ["AA", "AA"]
    for control, rule in (
        (unchanged, "demographics-nothing-relevant-changed"),
        (elsewhere, "demographics-patient-without-open-episode-or-enrolment"),
    ):
        found = await asyncio.to_thread(bridge_cli, stack, "messages", "search", "--id", control)
        assert found.returncode == 0, found.stderr
        [row] = [line for line in found.stdout.splitlines() if control in line]
        assert " filtered " in row and "ADT^A08" in row and f"rule {rule}" in row
    # And neither reached Treserva
    await wait_until(lambda: settled(stack), within=15, what="nothing left to deliver")
    assert await demographics_in_treserva(stack, in_care) == []
    assert await demographics_in_treserva(stack, not_in_care) == []


async def test_a_protected_patients_address_never_reaches_treserva(stack: Stack) -> None:
    # Given a patient in hospital
    pnr = synthetic_personnummer()
    assert await send(stack, admission(control_id(), pnr)) == ["AA"]
    await wait_until(lambda: settled(stack), within=15, what="the admission delivered")

    # When an A08 marks them protected (PD1-12) and gives a new address
    assert await send(stack, a08(control_id(), pnr, PD1_12="Y", PID_11=NEW_ADDRESS)) == ["AA"]

    # Then Treserva hears of the protected identity, and of no address at all
    async def arrived() -> bool:
        return bool(await demographics_in_treserva(stack, pnr))

    await wait_until(arrived, within=15, what="the demographic update in Treserva")
    [item] = await demographics_in_treserva(stack, pnr)
    patient = patient_of(item["bundle"])
    assert "address" not in patient
    assert [label["code"] for label in patient["meta"]["security"]] == ["sekretessmarkering"]
    assert "Murgatan" not in json.dumps(item["bundle"], ensure_ascii=False)
