"""`bridge destinations`: list destinations with their backlog; pause and resume one.

Pausing holds a destination's notices (no attempts, no dead letters) until it is resumed;
resuming lets the backlog drain in each patient's order with a fresh retry window
(service/delivery/pauses.py). Both are audited under the operator's name (``--as``).
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, TypeVar

import typer

from bridge.config import Settings
from bridge.entrypoints.cli_output import AsJson, echo_json, iso
from bridge.routing_file import RoutingFileError, load_routing
from bridge.service.clock import SystemClock
from bridge.service.delivery.pauses import DestinationPauses, PauseConflict, UnknownDestination
from bridge.store.db import Database

app = typer.Typer(help="Destinations: backlog, pause and resume.", no_args_is_help=True)
T = TypeVar("T")

Actor = Annotated[
    str | None,
    typer.Option(
        "--as", help="Operator name for the audit log (default: $BRIDGE_OPERATOR, login)."
    ),
]
Name = Annotated[str, typer.Argument(help="The destination's name in the routing file.")]


@app.callback()
def _group() -> None:
    """Destinations: backlog, pause and resume."""


def _actor(name: str | None) -> str:
    return name or os.environ.get("BRIDGE_OPERATOR") or getpass.getuser()


def _run(work: Callable[[DestinationPauses], Awaitable[T]]) -> T:
    settings = Settings()
    try:
        names = [d.name for d in load_routing(settings).destinations]
    except RoutingFileError as error:
        typer.echo(f"routing file error: {error}", err=True)
        raise typer.Exit(2) from None

    async def main() -> T:
        db = Database(settings.database_url)
        try:
            return await work(DestinationPauses(db, SystemClock(), lambda: names))
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except (UnknownDestination, PauseConflict, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command("list")
def list_(as_json: AsJson = False) -> None:
    """Every destination: paused or not (by whom, why), notices waiting, the oldest."""
    states = _run(lambda desk: desk.list())
    if as_json:
        echo_json([asdict(state) for state in states])
        return
    typer.echo(f"{'destination':<16} {'state':<8} {'waiting':>8}  {'oldest waiting':<25}  pause")
    for state in states:
        pause = f"since {iso(state.paused_at)} by {state.paused_by}: {state.reason}"
        typer.echo(
            f"{state.name:<16} {'paused' if state.paused else 'active':<8} {state.waiting:>8}  "
            f"{iso(state.oldest_waiting):<25}  {pause if state.paused else ''}"
        )


@app.command()
def pause(
    name: Name,
    reason: Annotated[str, typer.Option("--reason", help="Why (required, audited).")],
    actor: Actor = None,
) -> None:
    """Hold a destination's notices until it is resumed (an upgrade window, say)."""
    _run(lambda desk: desk.pause(name, actor=_actor(actor), reason=reason))
    typer.echo(f"{name} paused: its notices wait until `bridge destinations resume {name}`")


@app.command()
def resume(
    name: Name,
    reason: Annotated[str, typer.Option("--reason", help="Why (audited).")] = "",
    actor: Actor = None,
) -> None:
    """Let a paused destination's backlog go, in each patient's order."""
    waiting = _run(lambda desk: desk.resume(name, actor=_actor(actor), reason=reason))
    typer.echo(f"{name} resumed: {waiting} waiting notice(s) go now")
