"""`bridge users`: Users of the ops dashboard and their roles.

There is no default user. Create the first admin on the bridge's host with
``bridge users add NAME --role admin``: it asks for a password, reads one from standard input
with ``--password-stdin``, or generates one with ``--generate`` and prints it once.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, TypeVar

import typer

from bridge.config import Settings
from bridge.entrypoints.cli_output import AsJson, echo_json, iso
from bridge.service.clock import SystemClock
from bridge.service.operations.users import Role, UserError, Users, generate_password
from bridge.store.db import Database
from bridge.store.migrate import upgrade

app = typer.Typer(help="Users of the ops dashboard and their roles.", no_args_is_help=True)

ACTOR = f"cli:{getpass.getuser()}"
T = TypeVar("T")


@app.callback()
def _group() -> None:
    """Users of the ops dashboard and their roles."""


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


RoleOption = Annotated[
    str, typer.Option(help="viewer, operator (replay/discard) or admin (users).")
]


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Lower-case user name.")],
    role: RoleOption = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate a password and print it once.")
    ] = False,
) -> None:
    """Add a user (asks for the password unless told otherwise)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif generate:
        password = generate_password()
    else:
        password = typer.prompt("Password (12+ characters)", hide_input=True)
        if typer.prompt("Again", hide_input=True) != password:
            typer.echo("the two passwords differ", err=True)
            raise typer.Exit(1)
    chosen = _role(role)
    user = _run(lambda users: users.add(username, password, chosen, actor=ACTOR))
    typer.echo(f"added {user.username} ({user.role.label})")
    if generate:
        typer.echo(f"password: {password}  (shown once: keep it somewhere safe)")


@app.command("list")
def list_users(as_json: AsJson = False) -> None:
    """Every user with role and state, as a table."""
    users = _run(lambda store: store.list())
    if as_json:
        echo_json([{**asdict(user), "role": user.role.label} for user in users])
        return
    if not users:
        typer.echo("no users yet: bridge users add NAME --role admin")
        return
    typer.echo(f"{'USER':<24} {'ROLE':<9} {'STATE':<9} CREATED (ISO 8601)")
    for user in users:
        state = "disabled" if user.disabled else "active"
        created = iso(user.created_at)
        typer.echo(f"{user.username:<24} {user.role.label:<9} {state:<9} {created}")


@app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="viewer, operator or admin")],
) -> None:
    """Change a user's role; it applies to their next request."""
    chosen = _role(role)
    _run(lambda users: users.set_role(username, chosen, actor=ACTOR))
    typer.echo(f"{username} is now {chosen.label}")


@app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set a new password for a user."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password (12+ characters)", hide_input=True)
    _run(lambda users: users.set_password(username, password, actor=ACTOR))
    typer.echo(f"password of {username} changed")


@app.command("disable")
def disable(username: Annotated[str, typer.Argument()]) -> None:
    """Stop a user signing in (their open sessions end at once)."""
    _run(lambda users: users.set_disabled(username, True, actor=ACTOR))
    typer.echo(f"{username} disabled")


@app.command("enable")
def enable(username: Annotated[str, typer.Argument()]) -> None:
    """Let a disabled user sign in again."""
    _run(lambda users: users.set_disabled(username, False, actor=ACTOR))
    typer.echo(f"{username} enabled")


def _run(action: Callable[[Users], Awaitable[T]]) -> T:
    """Run one action on the users of the configured database (migrated first)."""
    settings = Settings()
    upgrade(settings.database_url)

    async def run() -> T:
        db = Database.for_settings(settings)
        try:
            return await action(Users(db, SystemClock()))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except UserError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
