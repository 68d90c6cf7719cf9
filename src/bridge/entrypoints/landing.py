"""The pages a newcomer opens first: ``/`` (where everything is) and the API docs.

``/docs`` (Swagger UI) is served with assets shipped in the ``fastapi-offline`` package, from
``/docs/static/``: it renders on a network that reaches nothing but the bridge, where FastAPI's
default loads it from a CDN and shows a blank page. There is no ``/redoc``: ReDoc fetches its
logo from its vendor's CDN whatever it is told.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import urlsplit

import fastapi_offline
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from bridge import __version__
from bridge.config import Settings

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
STATIC = "/docs/static"


def treserva_worklist(settings: Settings) -> str:
    """The worklist page of the Treserva endpoint the bridge delivers to (the simulator's
    ``/``): the FHIR base URL without its path."""
    parts = urlsplit(settings.treserva_url)
    return f"{parts.scheme}://{parts.netloc}/"


def _links(settings: Settings) -> list[tuple[str, str, str]]:
    return [
        ("Operations dashboard", "/ops/", "messages, dead letters, deviations (sign in)"),
        ("Indicators", "/ops/indicators", "monthly deadline indicators"),
        ("API documentation", "/docs", "Swagger UI, OpenAPI at /openapi.json"),
        ("Treserva worklist", treserva_worklist(settings), "what the receiver has filed"),
        ("FHIR CapabilityStatement", "/fhir/metadata", "GET /fhir/metadata"),
        ("Health", "/healthz", "alive"),
        ("Readiness", "/readyz", "database and broker reachable"),
        ("Metrics", "/metrics", "Prometheus"),
    ]


def landing_html(settings: Settings) -> str:
    items = "\n".join(
        f'    <li><a href="{escape(href)}">{escape(name)}</a> <span>{escape(note)}</span></li>'
        for name, href, note in _links(settings)
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>bridge {escape(__version__)}</title>
  <style>
    body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 44rem; }}
    li {{ margin: .4rem 0; }} span {{ color: #555; }}
  </style>
</head>
<body>
  <h1>bridge <small>{escape(__version__)}</small></h1>
  <p>Care-transition notices between TakeCare and Treserva (HL7 v2 over MLLP and HTTP,
  FHIR R4 messaging, AMQP).</p>
  <ul>
{items}
  </ul>
</body>
</html>
"""


def landing_router(app: FastAPI, settings: Settings) -> APIRouter:
    """``/``, ``/docs`` and its assets; the app must be created with
    ``docs_url=None, redoc_url=None``."""
    router = APIRouter(include_in_schema=False)
    title = f"{app.title} {app.version}"
    openapi_url = app.openapi_url or "/openapi.json"

    @router.get("/", response_class=HTMLResponse)
    async def landing() -> HTMLResponse:
        return HTMLResponse(landing_html(settings))

    @router.get("/docs", response_class=HTMLResponse)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title}: API",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon.png",
            # No badge from validator.swagger.io: the page asks nothing of the internet.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get(STATIC + "/{name}")
    async def asset(name: str) -> FileResponse:
        if name not in ASSET_TYPES:
            raise HTTPException(404)
        return FileResponse(ASSETS / name, media_type=ASSET_TYPES[name])

    return router
