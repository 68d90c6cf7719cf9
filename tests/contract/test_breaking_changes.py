"""A breaking change fails verification with a message naming it (must-show 1).

Each test builds a provider that differs from the real one in exactly one breaking way — a
renamed field, a removed event code, a changed ACK — by wrapping the real bridge or simulator,
and shows the verification that CI runs failing on it, naming the field, event or ACK field.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from contract_support import CONTRACTS, contract_set, live_bridge, serve_app
from fastapi import FastAPI, Request, Response
from pact import Pact

from bridge.connectors.http import HttpConnector
from bridge.connectors.port import OutboundMessage
from bridge.contracts.examples import NOTICES, notice_body
from bridge.contracts.interfaces import INTERFACES, VerifyOptions, verify
from bridge.contracts.pacts import build_pact
from bridge.contracts.report import Outcome, Report
from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.ack import ack_for_rejection
from bridge.domain.hl7.header import peek_header
from bridge.domain.routing import Destination
from bridge.entrypoints.mllp import MllpServer
from bridge.entrypoints.runner import mllp_handler
from treserva_sim import create_app

Handler = Callable[[bytes], Awaitable[bytes]]


def failures(report: Report) -> str:
    return "\n".join(
        f"{check.name}: {problem}"
        for check in report.checks
        if check.outcome is Outcome.FAILED
        for problem in check.problems
    )


def rename_in_json_answers(app: FastAPI, old: str, new: str) -> FastAPI:
    """The provider's answers with one JSON key renamed wherever it occurs."""

    @app.middleware("http")
    async def rename(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        renamed = body.replace(f'"{old}":'.encode(), f'"{new}":'.encode())
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(renamed, response.status_code, headers)

    return app


async def test_a_renamed_field_in_treserva_s_answer_fails_naming_the_field() -> None:
    # Given a Treserva whose answer calls MessageHeader.response "reply"
    app = rename_in_json_answers(create_app(), "response", "reply")
    async with serve_app(app) as url:
        # When it is verified against the bridge's consumer contract
        report = await verify(
            INTERFACES["treserva"], f"{url}/fhir", contract_set(), VerifyOptions()
        )
    # Then verification fails, naming the missing field
    assert not report.ok
    assert "$.entry[0].resource" in failures(report)
    assert "response" in failures(report)


@contextlib.asynccontextmanager
async def mutant_mllp(handler: Handler) -> AsyncIterator[str]:
    server = MllpServer(handler, "127.0.0.1", 0)
    async with server:
        yield f"mllp://127.0.0.1:{server.port}"


def without_event(real: Handler, trigger: str) -> Handler:
    """The bridge, released without ``trigger``: refused as the bridge refuses unknown events."""

    async def handle(raw: bytes) -> bytes:
        header = peek_header(raw.decode("utf-8", errors="replace"))
        if header is not None and header.trigger_event == trigger:
            reason = f"ADT^{trigger} is not a message the bridge accepts"
            rejected = MessageRejected(reason, "MSH-9", code="not-supported")
            return ack_for_rejection(header, rejected).encode()
        return await real(raw)

    return handle


def with_changed_ack(real: Handler) -> Handler:
    """The bridge, its accept ACK changed: CA instead of AA, and MSA-2 no longer echoing."""

    async def handle(raw: bytes) -> bytes:
        ack = (await real(raw)).decode()
        return re.sub(r"MSA\|AA\|[^|\r]*", "MSA|CA|ACK-OWN-ID", ack).encode()

    return handle


async def test_a_removed_event_code_fails_naming_the_event(tmp_path: Path) -> None:
    # Given a bridge that no longer carries ADT^A01
    async with live_bridge(tmp_path) as live:
        real = mllp_handler(live.bridge.bridge)
        async with mutant_mllp(without_event(real, "A01")) as url:
            # When TakeCare's MLLP contract is verified against it
            report = await verify(INTERFACES["mllp"], url, contract_set(), VerifyOptions())
    # Then the admission examples fail, naming the field and the event
    assert not report.ok
    text = failures(report)
    assert (
        "MSA-1: expected AA, got AR at MSH-9: ADT^A01 is not a message the bridge accepts" in text
    )
    assert "a complete admission notice is accepted" in text


async def test_a_changed_ack_fails_naming_msa_1_and_msa_2(tmp_path: Path) -> None:
    # Given a bridge answering CA where the contract says AA, with its own id in MSA-2
    async with live_bridge(tmp_path) as live:
        real = mllp_handler(live.bridge.bridge)
        async with mutant_mllp(with_changed_ack(real)) as url:
            # When the contract is verified against it
            report = await verify(INTERFACES["mllp"], url, contract_set(), VerifyOptions())
    # Then it fails, naming both ACK fields
    text = failures(report)
    assert "MSA-1: expected AA, got CA" in text
    assert "MSA-2: expected the request's MSH-10" in text
    # and the rejections, whose ACKs did not change, still pass
    rejected = [c for c in report.checks if c.contract.endswith("admission-rejected")]
    assert rejected
    assert all(check.outcome is Outcome.PASSED for check in rejected)


async def test_a_renamed_field_in_the_bridge_s_notice_fails_its_consumer_test() -> None:
    # Given the bridge's notice with eventCoding renamed (a breaking change in its encoder)
    source, delivery_id, key, _ = NOTICES["bridge-admission-notice.json"]
    notice = json.loads(notice_body(CONTRACTS / "v1" / "messages", source, delivery_id, key))
    header = notice["entry"][0]["resource"]
    header["event"] = header.pop("eventCoding")
    pact: Pact = build_pact(contract_set().fhir("bridge", "treserva"), "bridge", "treserva")
    connector = HttpConnector(timeout=5)
    with pact.serve(raises=False) as mock:
        # When it is delivered to Pact's mock Treserva
        message = OutboundMessage(
            Destination(name="treserva", address=str(mock.url)),
            "application/fhir+json",
            json.dumps(notice),
            key,
            "contract",
        )
        await connector.send(message)
        await connector.close()
        mismatches = mock.mismatches
    # Then the mock refuses it, naming the key that went missing and the one that appeared
    text = " ".join(str(m) for m in mismatches)
    assert "eventCoding" in text
    assert "event" in text
