"""Issue 5: without sign-in no endpoint returns patient data. The test walks every route of
the OpenAPI document and every page under /ops/, with real ids filled in, and looks for the
patient's personnummer (in any form, masked too) and name in every answer."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import select
from test_admission_flow import mllp_send_foreign, settled

from bridge.domain.identifiers import mask
from bridge.entrypoints.http import create_app
from bridge.service.operations.operations import patient_of
from bridge.service.operations.users import Role, Users
from bridge.store.tables import DeliveryRow, MessageRow

OPEN_UNDER_OPS = ("/ops/login", "/ops/static/{name}", "/ops", "/ops/api/session")


async def seed(stack: Stack) -> dict[str, str]:
    """One delivered admission; the values a leak would show, and the ids to put in paths."""
    pnr, control = synthetic_personnummer(), control_id()
    await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, [admission(control, pnr)])
    await wait_until(lambda: settled(stack), within=15, what="delivered")
    async with stack.bridge.bridge.db.session() as session:
        message = (await session.scalars(select(MessageRow))).one()
        delivery_id = await session.scalar(select(DeliveryRow.id))
    name = patient_of(message.canonical)["name"]
    await Users(stack.bridge.bridge.db, stack.bridge.bridge.clock).add(
        "vera", "a-long-test-password", Role.ADMIN, actor="test"
    )
    return {
        "pnr": pnr,
        "control": control,
        "name": name,
        "message_id": message.id,
        "delivery_id": str(delivery_id),
        "username": "vera",
        "name_param": "ops.css",
    }


def leaks(text: str, seeded: dict[str, str]) -> list[str]:
    pnr = seeded["pnr"]
    forms = [pnr, pnr[2:], f"{pnr[2:8]}-{pnr[8:]}", f"{pnr[:8]}-{pnr[8:]}", mask(pnr)]
    forms += [mask(pnr[2:]), seeded["name"]]
    family = seeded["name"].split()[-1]
    forms.append(family)
    return [form for form in forms if form and form in text]


def fill(path: str, seeded: dict[str, str]) -> str:
    values = {
        "message_id": seeded["message_id"],
        "delivery_id": seeded["delivery_id"],
        "username": seeded["username"],
        "name": seeded["name_param"],
    }
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "x"), path)


def query(seeded: dict[str, str]) -> dict[str, str]:
    """Every search parameter set, so a search route has something to find."""
    return {
        "patient": seeded["pnr"],
        "reference": seeded["control"],
        "q": seeded["control"],
        "event_type": "admission",
    }


def every_route(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route, those of included routers too, hidden ones too."""
    found = []
    for route in app.routes:
        # FastAPI keeps an included router as one node; it lists its routes' effective paths.
        expand = getattr(route, "effective_route_contexts", None)
        contexts = list(expand()) if expand else [route]
        for context in contexts:
            path, methods = getattr(context, "path", None), getattr(context, "methods", None)
            if path is not None:
                found += [(m, path) for m in sorted(methods or ("GET",)) if m != "HEAD"]
    return found


async def call(client: httpx.AsyncClient, method: str, path: str, seeded: dict[str, str]) -> Any:
    if method == "GET":
        return await client.get(path, params=query(seeded))
    return await client.request(method, path, json={}, params=query(seeded))


async def test_no_route_shows_patient_data_without_sign_in(stack: Stack) -> None:
    # Given a delivered admission of a synthetic patient, and the bridge's routes
    seeded = await seed(stack)
    app = create_app(stack.bridge.bridge)
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        document = (await client.get("/openapi.json")).json()
    operations = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    pages = [(method, path) for method, path in every_route(app) if path.startswith("/ops")]
    assert any(path.startswith("/ops/api/") for _, path in operations)
    assert {"/ops/", "/ops/messages/{message_id}", "/ops/dead-letters"} <= {p for _, p in pages}

    # When each is called without a session (and with every search parameter set)
    answers = {}
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        for method, path in sorted(set(operations) | set(pages)):
            answers[(method, path)] = await call(client, method, fill(path, seeded), seeded)
        for extra in ("/openapi.json", "/docs", "/metrics"):
            answers[("GET", extra)] = await client.get(extra)

    # Then none shows the patient, and everything under /ops/ asks for a sign-in
    for (method, path), response in answers.items():
        assert leaks(response.text, seeded) == [], f"{method} {path} leaks patient data"
        for name, value in response.headers.items():
            assert leaks(value, seeded) == [], f"{method} {path} leaks in header {name}"
        if path.startswith("/ops") and path not in OPEN_UNDER_OPS:
            if method == "GET" and not path.startswith("/ops/api/"):
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/ops/login?next=")
            else:
                assert response.status_code == 401, (method, path, response.status_code)


async def test_a_signed_in_user_sees_the_patient_and_the_read_is_audited(stack: Stack) -> None:
    # Given the same admission, and a signed-in user (the control: the walk above can see a leak)
    seeded = await seed(stack)
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        signed = await client.post(
            "/ops/api/session", json={"username": "vera", "password": "a-long-test-password"}
        )
        assert signed.status_code == 200

        # When they open the message
        opened = await client.get(f"/ops/api/messages/{seeded['message_id']}")
        page = await client.get(f"/ops/messages/{seeded['message_id']}")

    # Then they see who it is about, and the audit log says who looked
    assert opened.status_code == 200 and page.status_code == 200
    assert seeded["pnr"] in opened.text and seeded["pnr"] in page.text
    history = opened.json()
    assert history["patient"]["identifier"] == seeded["pnr"]
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        await client.post(
            "/ops/api/session", json={"username": "vera", "password": "a-long-test-password"}
        )
        again = (await client.get(f"/ops/api/messages/{seeded['message_id']}")).json()
    reads = [e for e in again["entries"] if e["action"] == "message_viewed"]
    assert len(reads) >= 2 and {e["actor"] for e in reads} == {"vera"}
