"""Issue 12: protected identity fails closed.

A confidentiality code the bridge does not recognise (HL7 ARV-3 table 0717 ``DEM``, a differently
spelled "skyddad folkbokföring", an odd PD1-12; FHIR ``meta.security``) withholds the address and
contact details from Treserva, and operators see a flag (dashboard API, CLI, metric, audit).
Known codes behave as before. Both runtime modes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import select
from test_admission_flow import inbox_for, mllp_send_foreign, settled
from test_http_entrypoints import fhir_admission
from test_ops_cli import bridge_cli

from bridge.domain.hl7.ack import parse_ack
from bridge.domain.model import SECURITY_LABEL_SYSTEM
from bridge.service.operations.users import Role, Users
from bridge.store.tables import AuditRow, MessageRow

PASSWORD = "a-long-test-password"
ADDRESS_TEXT = ("Testgatan", "62155", "0498-123456")  # PID-11 and PID-13 of the fixture


def with_segment(message: str, after: str, segment: str) -> str:
    """``segment`` inserted after the first segment named ``after``."""
    lines = message.split("\r")
    index = next(i for i, line in enumerate(lines) if line.startswith(after + "|"))
    return "\r".join([*lines[: index + 1], segment, *lines[index + 1 :]])


def with_pd1_12(message: str, value: str) -> str:
    lines = message.split("\r")
    for i, line in enumerate(lines):
        if line.startswith("PD1|"):
            fields = line.split("|") + [""] * 13
            fields[12] = value
            lines[i] = "|".join(fields[: max(13, len(line.split("|")))])
    return "\r".join(lines)


def patient_in(item: dict[str, Any]) -> dict[str, Any]:
    [patient] = [
        entry["resource"]
        for entry in item["bundle"]["entry"]
        if entry["resource"]["resourceType"] == "Patient"
    ]
    return patient


async def one_notice(stack: Stack, pnr: str) -> dict[str, Any]:
    await wait_until(lambda: inbox_for(stack, pnr), within=10, what="notice delivered")
    [item] = await inbox_for(stack, pnr)
    return item


async def stored(stack: Stack, pnr_masked_prefix: str) -> MessageRow:
    async with stack.bridge.bridge.db.session() as session:
        rows = (
            await session.scalars(
                select(MessageRow).where(MessageRow.patient_masked.startswith(pnr_masked_prefix))
            )
        ).all()
    [row] = rows
    return row


async def test_unknown_hl7_codes_withhold_the_address_and_are_flagged(stack: Stack) -> None:
    # Given admissions with an ARV code from table 0717, a misspelt skyddad folkbokföring,
    # an odd PD1-12 value, a known label and no label at all
    pnrs = {name: synthetic_personnummer() for name in ("dem", "spelt", "pd1", "known", "none")}
    arv = "ARV|1|A|{code}"
    messages = {
        "dem": with_segment(admission(control_id(), pnrs["dem"]), "PD1", arv.format(code="DEM")),
        "spelt": with_segment(
            admission(control_id(), pnrs["spelt"]),
            "PD1",
            arv.format(code="Skyddad folkbokföring^Skyddad folkbokföring^L"),
        ),
        "pd1": with_pd1_12(admission(control_id(), pnrs["pd1"]), "J"),
        "known": with_segment(
            admission(control_id(), pnrs["known"]), "PD1", arv.format(code="skyddadFolkbokforing")
        ),
        "none": admission(control_id(), pnrs["none"]),
    }

    # When they are sent over MLLP
    acks = await asyncio.to_thread(
        mllp_send_foreign, stack.bridge.mllp_port, list(messages.values())
    )
    assert [parse_ack(ack).code for ack in acks] == ["AA"] * 5
    items = {name: await one_notice(stack, pnr) for name, pnr in pnrs.items()}

    # Then the Treserva simulator gets no address or phone for the unknown and known codes,
    # and the unknown ones arrive marked protected (sekretessmarkering) rather than unmarked
    for name in ("dem", "spelt", "pd1", "known"):
        patient = patient_in(items[name])
        text = json.dumps(items[name]["bundle"], ensure_ascii=False)
        assert "address" not in patient and "telecom" not in patient, name
        assert not any(part in text for part in ADDRESS_TEXT), name
        codes = {label["code"] for label in patient["meta"]["security"]}
        assert codes == ({"skyddadFolkbokforing"} if name == "known" else {"sekretessmarkering"})
    # And the unprotected person's address still goes, as before
    assert patient_in(items["none"])["address"][0]["line"][0] == "Testgatan 12"
    assert "meta" not in patient_in(items["none"]) or "security" not in patient_in(
        items["none"]
    ).get("meta", {})

    # And each unknown code is flagged on the stored message and audited; known ones are not
    flags = {name: (await stored(stack, pnrs[name][:8])).unrecognised_restriction for name in pnrs}
    assert flags["dem"] == "ARV-3 DEM"
    assert flags["spelt"] == "ARV-3 Skyddad folkbokföring"
    assert flags["pd1"] == "PD1-12 J"
    assert flags["known"] is None and flags["none"] is None
    async with stack.bridge.bridge.db.session() as session:
        audited = (
            await session.scalars(
                select(AuditRow.detail).where(AuditRow.action == "restriction_unrecognised")
            )
        ).all()
    assert sorted(json.loads(detail)["codes"] for detail in audited) == sorted(
        [flags["dem"], flags["spelt"], flags["pd1"]]
    )


async def test_unknown_fhir_meta_security_withholds_the_address_and_operators_see_it(
    stack: Stack,
) -> None:
    # Given FHIR admissions: one with an unknown code in the HL7 Sweden label system, one with a
    # restrictive HL7 v3 confidentiality code, one with a known label
    pnrs = {name: synthetic_personnummer() for name in ("unknown", "v3", "known")}
    security = {
        "unknown": {"system": SECURITY_LABEL_SYSTEM, "code": "skyddad-folkbokforing"},
        "v3": {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
        "known": {"system": SECURITY_LABEL_SYSTEM, "code": "sekretessmarkering"},
    }
    bundles = {}
    for name, pnr in pnrs.items():
        bundle = fhir_admission(pnr)
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Patient":
                entry["resource"].setdefault("meta", {})["security"] = [security[name]]
        bundles[name] = bundle

    # When they are posted to $process-message
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        for bundle in bundles.values():
            response = await client.post(
                "/fhir/$process-message",
                content=json.dumps(bundle),
                headers={"Content-Type": "application/fhir+json"},
            )
            assert response.status_code == 200, response.text

    # Then none of the three addresses reaches Treserva
    for name, pnr in pnrs.items():
        item = await one_notice(stack, pnr)
        assert "address" not in patient_in(item), name
        assert "Storgatan" not in json.dumps(item["bundle"]), name
    await wait_until(lambda: settled(stack), within=10, what="settled")

    # And a signed-in operator sees the flag in the API, on the message page and in the CLI
    await Users(stack.bridge.bridge.db, stack.bridge.bridge.clock).add(
        "vera", PASSWORD, Role.VIEWER, actor="test"
    )
    unknown = await stored(stack, pnrs["unknown"][:8])
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        signed = await client.post(
            "/ops/api/session", json={"username": "vera", "password": PASSWORD}
        )
        assert signed.status_code == 200
        listed = (await client.get("/ops/api/messages", params={"reference": unknown.id})).json()
        detail = (await client.get(f"/ops/api/messages/{unknown.id}")).json()
        page = (await client.get(f"/ops/messages/{unknown.id}")).text
        metrics = (await client.get("/metrics")).text
    flag = f"meta.security {SECURITY_LABEL_SYSTEM}|skyddad-folkbokforing"
    assert listed[0]["unrecognised_restriction"] == flag
    assert detail["unrecognised_restriction"] == flag and detail["patient"]["protected"]
    assert 'id="unrecognised-restriction"' in page
    assert "bridge_restrictions_unrecognised_total" in metrics
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("bridge_restrictions_unrecognised_total{")
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in counted) == 2.0
    listing = await asyncio.to_thread(bridge_cli, stack, "messages", "list")
    control = unknown.dedupe_key.rsplit("|", 1)[-1][:24]
    [row] = [line for line in listing.stdout.splitlines() if control in line]
    assert "UNRECOGNISED RESTRICTION" in row
    shown = await asyncio.to_thread(bridge_cli, stack, "messages", "show", unknown.id)
    assert "treated as protected" in shown.stdout
    known = await stored(stack, pnrs["known"][:8])
    assert known.unrecognised_restriction is None and known.protected
