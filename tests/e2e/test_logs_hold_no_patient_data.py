"""Issue 12: logs captured at DEBUG, in both runtime modes, hold no name, address or unmasked
identifier while names, addresses and protected persons run through the bridge.

Identifiers are sent in every form the parser accepts (12 digits, 10 digits with ``-``, with a
space, a samordningsnummer); the SQL loggers are capped even when a library turns them up.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
from conftest import Stack
from messages import admission, control_id
from services import wait_until
from test_admission_flow import mllp_send_foreign, settled
from test_http_entrypoints import fhir_admission
from test_protected_fails_closed import with_segment

from bridge.domain.hl7.ack import parse_ack
from bridge.domain.identifiers import luhn_check_digit
from bridge.domain.model import SECURITY_LABEL_SYSTEM
from bridge.logging_setup import configure_logging

SECRETS = {
    "family": "Loggfriasson",
    "given": "Signhild",
    "street": "Hemligvägen 77",
    "flat": "Lgh 4711",
    "postal": "62199",
    "phone": "0498-765432",
    "email": "signhild@hemlig.example",
    "fhir_street": "Dolda gränd 3",
}


def number(born: str, serial: str) -> str:
    """A synthetic 12-digit personnummer (or samordningsnummer, day + 60) with a check digit."""
    nine = f"{born[2:]}{serial}"
    return f"{born}{serial}{luhn_check_digit(nine)}"


PNRS = {
    "twelve": number("19410203", "981"),
    "ten": number("19410304", "982"),
    "spaced": number("19410405", "983"),
    "samordning": number("19410566", "984"),  # day 6 + 60
    "protected": number("19410607", "985"),
    "unknown_code": number("19410708", "986"),
    "fhir": number("19410809", "987"),
    "fhir_protected": number("19410910", "988"),
}


def written(key: str) -> str:
    """How the sender writes the identifier in PID-3."""
    pnr = PNRS[key]
    if key == "ten":
        return f"{pnr[2:8]}-{pnr[8:]}"
    if key == "spaced":
        return f"{pnr[:8]} {pnr[8:]}"
    return pnr


def forms(pnr: str) -> list[str]:
    return [
        pnr,
        pnr[2:],
        f"{pnr[:8]}-{pnr[8:]}",
        f"{pnr[2:8]}-{pnr[8:]}",
        f"{pnr[2:8]}+{pnr[8:]}",
        f"{pnr[:8]} {pnr[8:]}",
    ]


def hl7_message(key: str) -> str:
    text = admission(control_id(), written(key))
    text = text.replace("Tolvansson^Tolvan^Erik", f"{SECRETS['family']}^{SECRETS['given']}")
    text = text.replace(
        "Testgatan 12^Lgh 1102^Visby^^62155^SE||0498-123456",
        f"{SECRETS['street']}^{SECRETS['flat']}^Visby^^{SECRETS['postal']}^SE||"
        f"{SECRETS['phone']}~^NET^Internet^{SECRETS['email']}",
    )
    if key == "protected":
        text = with_segment(text, "PD1", "ARV|1|A|skyddadFolkbokforing")
    if key == "unknown_code":
        text = with_segment(text, "PD1", "ARV|1|A|DEM")
    return text


def fhir_message(key: str, protected: bool) -> str:
    bundle = fhir_admission(PNRS[key])
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["name"] = [{"family": SECRETS["family"], "given": [SECRETS["given"]]}]
            resource["address"] = [{"line": [SECRETS["fhir_street"]], "city": "Visby"}]
            if protected:
                resource.setdefault("meta", {})["security"] = [
                    {"system": SECURITY_LABEL_SYSTEM, "code": "sekretessmarkering"}
                ]
    return json.dumps(bundle, ensure_ascii=False)


async def test_debug_logs_hold_no_name_address_or_unmasked_identifier(stack: Stack) -> None:
    # Given every log record at DEBUG captured, and a library turning its SQL logging on
    stream = io.StringIO()
    configure_logging("DEBUG", json_lines=True, stream=stream)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    logging.getLogger("aiosqlite").setLevel(logging.DEBUG)
    bad = PNRS["twelve"][:-1] + str((int(PNRS["twelve"][-1]) + 1) % 10)  # wrong check digit
    messages = [hl7_message(key) for key in ("twelve", "ten", "spaced", "samordning")]
    messages += [hl7_message("protected"), hl7_message("unknown_code")]
    messages.append(hl7_message("twelve").replace(PNRS["twelve"], bad))

    # When HL7 (MLLP and HTTP) and FHIR messages with names, addresses and protected persons,
    # a duplicate and a rejected message run through the bridge
    acks = await asyncio.to_thread(
        mllp_send_foreign, stack.bridge.mllp_port, [*messages, messages[0]]
    )
    assert [parse_ack(ack).code for ack in acks[:6]] == ["AA"] * 6
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        for key, protected in (("fhir", False), ("fhir_protected", True)):
            response = await client.post(
                "/fhir/$process-message",
                content=fhir_message(key, protected).encode(),
                headers={"Content-Type": "application/fhir+json"},
            )
            assert response.status_code == 200, response.text
    await wait_until(lambda: settled(stack), within=15, what="every notice delivered")

    # Then the logs are not empty, SQL was not logged, and no secret in any form is in them
    logs = stream.getvalue()
    assert len(logs.splitlines()) > 10
    assert "INSERT INTO" not in logs and "SELECT " not in logs
    for name, value in SECRETS.items():
        assert value not in logs, f"{name} in the logs"
    for key, pnr in [*PNRS.items(), ("bad", bad)]:
        for form in forms(pnr):
            assert form not in logs, f"unmasked {key} identifier in the logs ({form[:6]}…)"
    # And the masked forms show no more than the birth date
    assert f"{PNRS['twelve'][:8]}-****" in logs or f"{PNRS['twelve'][2:8]}-****" in logs
