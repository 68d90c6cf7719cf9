"""``/ops/api/``: resend delivered notices and reprocess stored messages (operator).

Both are audited under the signed-in user's name with the reason given; a reprocess with
``dry_run`` returns the plan and changes nothing.
"""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from bridge.entrypoints.ops.context import Ops
from bridge.entrypoints.ops.security import SignedIn
from bridge.service.delivery.reprocess import Outcome, ReprocessFilter
from bridge.service.delivery.resend import DeliveryNotFound, NotResendable
from bridge.service.operations.operations import PatientNotRecognised, patient_keys
from bridge.service.operations.users import Role


class ResendRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class ReprocessRequest(BaseModel):
    message_id: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    source: str | None = None
    event_type: str | None = None
    patient: str | None = Field(default=None, max_length=32)
    outcome: Outcome | None = None
    dry_run: bool = True
    reason: str = Field(default="", max_length=500)
    limit: int = Field(default=1000, ge=1, le=10_000)


def reprocess_router(ops: Ops) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["ops"])
    operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=False))]

    @router.post("/deliveries/{delivery_id}/resend", summary="Send a delivered notice again")
    async def post_resend(delivery_id: str, body: ResendRequest, who: operator) -> dict[str, Any]:
        try:
            resent = await ops.bridge.resender.resend(
                delivery_id, actor=who.user.username, reason=body.reason
            )
        except DeliveryNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotResendable as error:
            raise HTTPException(409, str(error)) from None
        return asdict(resent) | {"status": "pending"}

    @router.post("/reprocess", summary="Run stored messages through the current routes again")
    async def post_reprocess(body: ReprocessRequest, who: operator) -> dict[str, Any]:
        if not body.dry_run and not body.reason.strip():
            raise HTTPException(422, "a reason is required unless dry_run")
        if (
            body.message_id is None
            and not any(
                (body.received_from, body.received_to, body.source, body.event_type, body.patient)
            )
            and body.outcome is None
        ):
            raise HTTPException(422, "name a message id or at least one filter")
        try:
            keys = (
                tuple(patient_keys(body.patient, ops.bridge.settings.patient_key))
                if body.patient
                else None
            )
        except PatientNotRecognised as error:
            raise HTTPException(422, f"patient identifier not recognised: {error}") from None
        where = ReprocessFilter(
            message_id=body.message_id,
            received_from=body.received_from,
            received_to=body.received_to,
            source=body.source,
            event_code=body.event_type,
            patient_keys=keys,
            outcome=body.outcome,
        )
        desk = ops.bridge.reprocessor
        steps = []
        for message_id in await desk.message_ids(where, limit=body.limit):
            if body.dry_run:
                steps.extend(await desk.plan(message_id))
            else:
                steps.extend(
                    await desk.run(message_id, actor=who.user.username, reason=body.reason)
                )
        return {"dry_run": body.dry_run, "steps": [asdict(step) for step in steps]}

    return router
