"""HTTP entrypoints: HL7 v2 over HTTP, FHIR messaging, health and readiness.

Handlers only read the request, call the bridge's one accept function and answer.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bridge import __version__
from bridge.bootstrap import Bridge
from bridge.domain.fhir.capability import capability_statement
from bridge.domain.fhir.outcome import operation_outcome
from bridge.domain.hl7.batch_ack import batch_of_acks, is_batch
from bridge.entrypoints.http_auth import (
    HttpSenders,
    IngestionAuthentication,
    is_ingestion_route,
    refused_sender,
    sender_of,
)
from bridge.entrypoints.landing import landing_router
from bridge.entrypoints.ops import ops_router
from bridge.entrypoints.replies import fhir_answer, fhir_request_problem, hl7_reply
from bridge.logging_setup import correlation_id
from bridge.metrics import metrics_router
from bridge.service.delivery.accept import Inbound, hl7_messages, hl7_text
from bridge.service.delivery.outbound import FHIR_JSON, HL7_V2

HL7_MEDIA = "application/hl7-v2"


class FhirJSONResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def create_app(
    bridge: Bridge,
    *,
    ingestion: bool = True,
    operations: bool = True,
    senders: HttpSenders | None = None,
) -> FastAPI:
    """The HTTP application: ingestion, operations, or both (one port, the embedded demo).

    ``senders``: how ingestion requests are authenticated (docs/security.md); None: anonymous.
    """
    app = FastAPI(
        title="bridge",
        version=__version__,
        description="Care-transition notices between TakeCare and Treserva (HL7 v2, FHIR R4).",
        docs_url=None,
        redoc_url=None,
    )
    limit = bridge.settings.max_message_bytes

    @app.middleware("http")
    async def correlate(request: Request, call_next: Any) -> Response:
        cid = request.headers.get("X-Correlation-ID") or str(uuid.uuid4())
        correlation_id.set(cid[:64])
        response: Response = await call_next(request)
        response.headers["X-Correlation-ID"] = cid[:64]
        return response

    @app.post(
        "/hl7v2",
        response_class=Response,
        responses={200: {"content": {HL7_MEDIA: {}}, "description": "The HL7 v2 ACK (ER7)."}},
        summary="Accept one HL7 v2 message, or an FHS/BHS batch, and answer with the ACK(s)",
    )
    async def post_hl7v2(request: Request) -> Response:
        body = await request.body()
        if len(body) > limit:
            return Response("message too large", status_code=413)
        acks = []
        sender, forbidden = sender_of(request.state), False
        for raw in hl7_messages(body):
            inbound = Inbound(raw, HL7_V2, "http", correlation_id.get(), sender=sender)
            result = await bridge.accept(inbound)
            forbidden = forbidden or refused_sender(result)
            reply = hl7_reply(result, raw, bridge.ack_context)
            if reply.send:
                acks.append(reply.body)
        status = 403 if forbidden else 200
        text = hl7_text(body)
        if is_batch(text):
            answer = batch_of_acks(text, acks, identity=bridge.ack_context.identity)
            return Response(answer, status_code=status, media_type=HL7_MEDIA)
        return Response(b"".join(acks), status_code=status, media_type=HL7_MEDIA)

    @app.post(
        "/fhir/$process-message",
        response_class=FhirJSONResponse,
        summary="Accept one FHIR R4 message Bundle",
        description="Answers with a response message Bundle, or an OperationOutcome.",
    )
    async def process_message(request: Request) -> Response:
        refused = fhir_request_problem(
            request.headers.get("content-type"),
            request.headers.get("accept"),
            request.query_params.get("async"),
        )
        if refused is not None:
            return FhirJSONResponse(refused[1], status_code=refused[0])
        body = await request.body()
        if len(body) > limit:
            outcome = operation_outcome("message too large", None, "too-costly")
            return FhirJSONResponse(outcome, status_code=413)
        sender = sender_of(request.state)
        result = await bridge.accept(
            Inbound(body, FHIR_JSON, "http", correlation_id.get(), sender=sender)
        )
        status, answer = fhir_answer(result, body, bridge.settings.public_base_url)
        return FhirJSONResponse(answer, status_code=status)

    @app.get("/fhir/metadata", response_class=FhirJSONResponse, summary="CapabilityStatement")
    async def metadata() -> Response:
        return FhirJSONResponse(capability_statement(bridge.settings.public_base_url))

    @app.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Ready: database and broker reachable")
    async def readyz() -> JSONResponse:
        checks = await bridge.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    if operations:
        app.include_router(landing_router(app, bridge.settings))
        app.include_router(ops_router(bridge))
        app.include_router(metrics_router(bridge))
    if not ingestion:
        app.router.routes[:] = [r for r in app.router.routes if not is_ingestion_route(r)]
    if senders is not None:
        app.add_middleware(IngestionAuthentication, senders=senders)
    return app
