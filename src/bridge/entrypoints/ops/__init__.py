"""Everything under ``/ops/``: the dashboard for the people on call and its JSON API.

- pages (:mod:`.pages`): overview, messages and their timelines, dead letters, users;
- ``/ops/api/`` (:mod:`.api`): the same as JSON, in the OpenAPI document;
- sign-in, sessions, roles and CSRF (:mod:`.security`, :mod:`.context`), sign-in limits
  (:mod:`.sign_in_limits`) and OpenID Connect (:mod:`.oidc`).

Nothing under ``/ops/`` but the sign-in page and the static files answers without a session.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from bridge.bootstrap import Bridge
from bridge.entrypoints.ops.api import api_router
from bridge.entrypoints.ops.context import HERE, Ops
from bridge.entrypoints.ops.destinations import destinations_router
from bridge.entrypoints.ops.deviation_export import deviation_export_router
from bridge.entrypoints.ops.indicators import indicators_router
from bridge.entrypoints.ops.oidc import oidc_router
from bridge.entrypoints.ops.pages import pages_router
from bridge.entrypoints.ops.reprocess_api import reprocess_router
from bridge.entrypoints.ops.reprocess_pages import reprocess_pages_router
from bridge.entrypoints.ops.worklist import worklist_router

STATIC = {"ops.css": "text/css", "ops.js": "text/javascript"}


def ops_router(bridge: Bridge) -> APIRouter:
    """The ``/ops`` routes (dashboard pages and ``/ops/api/``)."""
    ops = Ops(bridge)
    router = APIRouter(prefix="/ops")
    router.include_router(api_router(ops))
    router.include_router(pages_router(ops))
    router.include_router(deviation_export_router(ops))  # before /deviations/{id}
    router.include_router(indicators_router(ops))
    router.include_router(destinations_router(ops))
    router.include_router(reprocess_router(ops))
    router.include_router(reprocess_pages_router(ops))
    router.include_router(worklist_router(ops))
    router.include_router(oidc_router(ops))

    @router.get("", include_in_schema=False)
    async def ops_root() -> RedirectResponse:
        return RedirectResponse("/ops/", status_code=307)

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(404)
        return FileResponse(
            HERE / "static" / name,
            media_type=STATIC[name],
            headers={"Cache-Control": "max-age=300"},
        )

    return router
