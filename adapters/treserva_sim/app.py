"""The Treserva simulator's HTTP surface: FHIR messaging, the inbox API, faults, a worklist,
home-care enrolments sent to the bridge (``POST /api/enrolments``), and answers to home-care
orders (``GET /api/orders``, ``POST /api/orders/{order_id}/answer``, the page ``/orders``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from treserva_sim.bridge_link import BridgeLink
from treserva_sim.enrolments import EnrolmentRequest, Enrolments, NothingToEndError
from treserva_sim.fhir import operation_outcome
from treserva_sim.inbox import Inbox
from treserva_sim.orders import AnswerRequest, Orders, UnknownOrderError, render_orders
from treserva_sim.reception import FHIR_JSON, Delivery, Reception
from treserva_sim.settings import Faults, FaultsUpdate, TreservaSettings
from treserva_sim.worklist import render_worklist


async def _client_gone(request: Request) -> None:
    """Returns once the client disconnects (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        continue


def _fhir_router(reception: Reception, link: BridgeLink) -> APIRouter:
    router = APIRouter()

    @router.post("/fhir/$process-message", tags=["fhir"])
    async def process_message(request: Request) -> JSONResponse:
        link.endpoint = f"{request.base_url}fhir"
        delivery = Delivery(
            body=await request.body(),
            content_type=request.headers.get("content-type", ""),
            idempotency_key=request.headers.get("idempotency-key"),
            endpoint=f"{request.base_url}fhir",
            client_gone=lambda: _client_gone(request),
        )
        answer = await reception.receive(delivery)
        return JSONResponse(answer.body, status_code=answer.status, media_type=FHIR_JSON)

    @router.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        if reception.faults.outage:
            body = operation_outcome("transient", "simulated outage")
            return JSONResponse(body, status_code=503, media_type=FHIR_JSON)
        return JSONResponse({"status": "ok"})

    return router


def _api_router(reception: Reception) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.get("/inbox")
    async def inbox(limit: int | None = Query(default=None, ge=0)) -> list[dict[str, Any]]:
        return [item.as_json() for item in reception.inbox.items(limit)]

    @router.delete("/inbox", status_code=204)
    async def clear_inbox() -> None:
        reception.inbox.clear()
        reception.stats.reset()

    @router.get("/stats")
    async def stats() -> dict[str, int]:
        return reception.stats.as_dict()

    @router.get("/faults")
    async def faults() -> Faults:
        return reception.faults

    @router.post("/faults")
    async def set_faults(update: FaultsUpdate) -> Faults:
        update.apply_to(reception.faults)
        return reception.faults

    return router


def _enrolment_router(enrolments: Enrolments, link: BridgeLink) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.post("/enrolments")
    async def send_enrolment(
        request: Request, body: EnrolmentRequest | None = None
    ) -> JSONResponse:
        """Send a home-care enrolment started / ended to the bridge now."""
        if not link.enabled:
            return JSONResponse({"detail": "no bridge_url is set"}, status_code=409)
        link.endpoint = f"{request.base_url}fhir"
        try:
            sent = await enrolments.send(body or EnrolmentRequest())
        except NothingToEndError as error:
            return JSONResponse({"detail": str(error)}, status_code=409)
        return JSONResponse(sent.as_json(), status_code=200 if sent.answer.ok else 502)

    @router.get("/enrolments")
    async def sent_enrolments() -> list[dict[str, Any]]:
        """Enrolments sent to the bridge, newest first, with the bridge's answer."""
        return [sent.as_json() for sent in reversed(enrolments.sent)]

    return router


def _order_router(orders: Orders, link: BridgeLink) -> APIRouter:
    router = APIRouter(tags=["orders"])

    @router.get("/api/orders")
    async def received_orders() -> list[dict[str, Any]]:
        """Home-care orders received, newest first, each with the answer sent (or null)."""
        return orders.as_json()

    @router.post("/api/orders/{order_id}/answer")
    async def answer_order(order_id: str, body: AnswerRequest, request: Request) -> JSONResponse:
        """Accept, reject (reason required) or ask for more information (reason required)."""
        if not link.enabled:
            return JSONResponse({"detail": "no bridge_url is set"}, status_code=409)
        link.endpoint = f"{request.base_url}fhir"
        try:
            sent = await orders.answer(order_id, body)
        except UnknownOrderError as error:
            return JSONResponse({"detail": str(error)}, status_code=404)
        return JSONResponse(sent.as_json(), status_code=200 if sent.posted.ok else 502)

    @router.get("/orders", response_class=HTMLResponse)
    async def orders_page() -> HTMLResponse:
        return HTMLResponse(render_orders(orders.as_json()))

    return router


def _page_router(reception: Reception) -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, tags=["worklist"])
    async def worklist() -> HTMLResponse:
        inbox = reception.inbox
        return HTMLResponse(render_worklist(inbox.items(200), inbox.count()))

    return router


def create_app(settings: TreservaSettings | None = None) -> FastAPI:
    """A fresh simulator app; its live state (inbox, stats, faults) is ``app.state.reception``."""
    settings = settings or TreservaSettings()
    inbox = Inbox(settings.database_path)
    reception = Reception(inbox, settings.faults.model_copy(), settings.seed)
    own_endpoint = f"http://{settings.host}:{settings.port}/fhir"
    key = settings.bridge_api_key
    link = BridgeLink(
        settings.bridge_url,
        settings.facility,
        own_endpoint,
        reception.stats,
        api_key=key.get_secret_value() if key is not None else None,
        tls=settings.bridge_tls(),
    )
    reception.on_filed = lambda notice: link.send_receipt(str(notice.header["id"]))
    enrolments = Enrolments(link, inbox, reception.stats, settings.seed)
    orders = Orders(inbox, link)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        schedule = None
        if link.enabled and settings.enrolment_rate_per_min > 0:
            schedule = asyncio.create_task(enrolments.run_schedule(settings.enrolment_rate_per_min))
        yield
        if schedule is not None:
            schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await schedule
        await link.close()
        inbox.close()

    app = FastAPI(title="Treserva simulator", version="0.1.0", lifespan=lifespan)
    app.state.reception = reception
    app.state.link = link
    app.state.enrolments = enrolments
    app.state.orders = orders
    for router in (
        _fhir_router(reception, link),
        _api_router(reception),
        _enrolment_router(enrolments, link),
        _order_router(orders, link),
        _page_router(reception),
    ):
        app.include_router(router)
    return app
