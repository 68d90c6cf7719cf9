"""`bridge coordinators`: bind a coordinator to an organisation and its units.

A user with the ``coordinator`` role (``bridge users add NAME --role coordinator``) sees the
worklist at ``/ops/worklist`` only once bound to an organisation of
``BRIDGE_CARE_ORGANISATIONS_FILE`` (docs/coordinators.md).
"""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer

from bridge.config import Settings
from bridge.domain.deadlines import DEFAULT_RULE_BOOK
from bridge.entrypoints.cli_output import AsJson, echo_json
from bridge.service.care.worklist import CoordinatorScope, ScopeError, Worklist, load_organisations
from bridge.service.clock import SystemClock
from bridge.service.operations.users import Role, Users
from bridge.store.db import Database
from bridge.store.migrate import upgrade

app = typer.Typer(help="Care coordinators and the organisation they see.", no_args_is_help=True)
ACTOR = f"cli:{getpass.getuser()}"


@app.callback()
def _group() -> None:
    """Care coordinators and the organisation they see."""


@app.command("bind")
def bind(
    username: Annotated[str, typer.Argument(help="A user with the coordinator role.")],
    organisation: Annotated[str, typer.Option(help="An organisation id of the file.")],
    unit: Annotated[
        list[str] | None, typer.Option(help="Only this unit's stays (HSA-id; repeatable).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Let a coordinator see one organisation's open stays (or only some of its units)."""
    try:
        scope = asyncio.run(_bind(username, organisation, tuple(unit or ())))
    except ScopeError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    if as_json:
        echo_json(
            {
                "username": scope.username,
                "organisation": scope.organisation,
                "units": list(scope.units),
            }
        )
        return
    units = ", ".join(scope.units) or "all units"
    typer.echo(f"{scope.username} sees {scope.organisation} ({units})")


async def _bind(username: str, organisation: str, units: tuple[str, ...]) -> CoordinatorScope:
    settings = Settings()
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        user = await Users(db, SystemClock()).get(username)
        if user is None or user.role is not Role.COORDINATOR:
            raise ScopeError(f"{username} is no user with the coordinator role")
        organisations = load_organisations(settings.care_organisations_file)
        worklist = Worklist(db, SystemClock(), DEFAULT_RULE_BOOK, organisations)
        return await worklist.bind(username, organisation, units, actor=ACTOR)
    finally:
        await db.close()
