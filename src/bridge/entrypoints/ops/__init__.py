"""Everything under ``/ops/``: the dashboard for the people on call and its JSON API."""

from __future__ import annotations

from fastapi import APIRouter

from bridge.bootstrap import Bridge


def ops_router(bridge: Bridge) -> APIRouter:
    """The ``/ops`` routes (dashboard pages and ``/ops/api/``)."""
    return APIRouter(prefix="/ops")
