"""Dashboard actions on a message's page (operator): resend a delivered notice, and reprocess
the message through the current routes — a dry run first shows the plan, then "Run it".

Both are audited under the signed-in user's name with the reason given (required).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from bridge.entrypoints.ops.context import Ops, form
from bridge.entrypoints.ops.security import SignedIn
from bridge.service.delivery.resend import DeliveryNotFound, NotResendable
from bridge.service.operations.users import Role
from bridge.store.tables import DeliveryRow, MessageRow


def reprocess_pages_router(ops: Ops) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=True))]

    @router.post("/deliveries/{delivery_id}/resend")
    async def resend(request: Request, delivery_id: str, who: operator) -> Response:
        fields = await form(request)
        async with ops.bridge.db.session() as session:
            message_id = await session.scalar(
                select(DeliveryRow.message_id).where(DeliveryRow.id == delivery_id)
            )
        if message_id is None:
            raise HTTPException(404, "no such delivery")
        reason = fields.get("reason", "").strip()[:500]
        if not reason:
            return RedirectResponse(f"/ops/messages/{message_id}?done=reason-required", 303)
        try:
            await ops.bridge.resender.resend(delivery_id, actor=who.user.username, reason=reason)
        except DeliveryNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotResendable as error:
            return RedirectResponse(
                f"/ops/messages/{message_id}?done=not-resendable-{error.status}", 303
            )
        return RedirectResponse(f"/ops/messages/{message_id}?done=resent", 303)

    @router.post("/messages/{message_id}/reprocess")
    async def reprocess(request: Request, message_id: str, who: operator) -> Response:
        fields = await form(request)
        async with ops.bridge.db.session() as session:
            if await session.get(MessageRow, message_id) is None:
                raise HTTPException(404, "no such message")
        reason = fields.get("reason", "").strip()[:500]
        if fields.get("run") != "yes":
            plan = await ops.bridge.reprocessor.plan(message_id)
            return ops.render(
                "reprocess_plan.html", request, who, message_id=message_id, plan=plan, reason=reason
            )
        if not reason:
            return RedirectResponse(f"/ops/messages/{message_id}?done=reason-required", 303)
        await ops.bridge.reprocessor.run(message_id, actor=who.user.username, reason=reason)
        return RedirectResponse(f"/ops/messages/{message_id}?done=reprocessed", 303)

    return router
