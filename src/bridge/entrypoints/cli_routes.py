"""`bridge routes`: check the routing file, and have every serve process reload it.

``reload`` validates the file here first and refuses a wrong one (nothing is requested, the
refusal is audited); a good one is requested through the database, and every ``bridge serve``
reloads its own file within ``BRIDGE_ROUTING_RELOAD_POLL_SECONDS`` (validating it again there:
entrypoints/routing_reload.py). SIGHUP to one serve process reloads that process alone.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from typing import Annotated

import typer

from bridge.config import Settings
from bridge.entrypoints.routing_reload import request_reload
from bridge.routing_file import RoutingFileError, parse_routing_file
from bridge.service.clock import SystemClock
from bridge.service.operations import audit
from bridge.store.db import Database

app = typer.Typer(help="Routes: check and reload the routing file.", no_args_is_help=True)
Actor = Annotated[
    str | None,
    typer.Option(
        "--as", help="Operator name for the audit log (default: $BRIDGE_OPERATOR, login)."
    ),
]


@app.callback()
def _group() -> None:
    """Routes: check and reload the routing file."""


def _checked(settings: Settings) -> str:
    assert settings.routing_file is not None
    table = parse_routing_file(settings.routing_file)
    return f"{len(table.destinations)} destination(s), {len(table.routes)} route(s)"


@app.command()
def check() -> None:
    """Validate BRIDGE_ROUTING_FILE; exit 2 naming every problem."""
    settings = Settings()
    if settings.routing_file is None:
        typer.echo("no routing file set (BRIDGE_ROUTING_FILE): the default route is used")
        return
    try:
        typer.echo(f"{settings.routing_file}: ok, {_checked(settings)}")
    except RoutingFileError as error:
        typer.echo(f"routing file error: {error}", err=True)
        raise typer.Exit(2) from None


@app.command()
def reload(actor: Actor = None) -> None:
    """Validate the routing file, then have every running bridge reload it."""
    settings = Settings()
    who = actor or os.environ.get("BRIDGE_OPERATOR") or getpass.getuser()
    if settings.routing_file is None:
        typer.echo("error: no routing file set (BRIDGE_ROUTING_FILE): nothing to reload", err=True)
        raise typer.Exit(2)
    try:
        summary = _checked(settings)
    except RoutingFileError as error:
        asyncio.run(_refused(settings, who, str(error)))
        typer.echo(f"routing file error, nothing reloaded: {error}", err=True)
        raise typer.Exit(2) from None
    number = asyncio.run(_request(settings, who))
    typer.echo(
        f"{settings.routing_file}: ok, {summary}; reload #{number} requested, every bridge "
        f"reloads within {settings.routing_reload_poll_seconds:g} s"
    )


async def _request(settings: Settings, actor: str) -> int:
    db = Database(settings.database_url)
    try:
        return await request_reload(db, actor=actor, at=SystemClock().now())
    finally:
        await db.close()


async def _refused(settings: Settings, actor: str, reason: str) -> None:
    db = Database(settings.database_url)
    try:
        async with db.session() as session, session.begin():
            audit.record(
                session,
                at=SystemClock().now(),
                action="routing_reload_refused",
                actor=actor,
                reason=reason[:2000],
            )
    finally:
        await db.close()
