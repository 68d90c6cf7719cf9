"""`bridge audit`: The audit log: verify its hash chain."""

from __future__ import annotations

import asyncio

import typer

from bridge.config import Settings
from bridge.service.operations.audit import Verification, verify
from bridge.store.db import Database

app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The audit log: verify its hash chain."""


@app.command("verify")
def verify_command() -> None:
    """Walk the hash chain; exit 1 and name the first broken link when it does not hold."""
    result = asyncio.run(_verify(Settings()))
    typer.echo(describe(result))
    raise typer.Exit(0 if result.ok else 1)


async def _verify(settings: Settings) -> Verification:
    db = Database.for_settings(settings)
    try:
        return await verify(db)
    finally:
        await db.close()


def describe(result: Verification) -> str:
    """One line for a person: intact with the head to write down, or where it breaks."""
    if result.broken is None:
        return (
            f"audit log intact: {result.rows} rows, head seq {result.head_seq}, "
            f"hash {result.head_hash}"
        )
    broken = result.broken
    where = f"audit row id {broken.audit_id}" if broken.audit_id is not None else "audit log"
    seq = f" (seq {broken.seq}" if broken.seq is not None else " ("
    at = f", {broken.at.isoformat()}" if broken.at else ""
    action = f", action {broken.action}" if broken.action else ""
    return (
        f"audit log BROKEN at {where}{seq}{at}{action}): {broken.problem}; "
        f"{result.rows} rows before it verified"
    )
