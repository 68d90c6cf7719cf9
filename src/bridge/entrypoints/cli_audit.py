"""`bridge audit`: The audit log: verify its hash chain."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bridge.config import Settings
from bridge.service.operations.audit import Verification, verify
from bridge.service.operations.audit_witness import WitnessCheck, verify_against
from bridge.store.db import Database

app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The audit log: verify its hash chain."""


@app.command("verify")
def verify_command(
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="A witness file (JSON lines of chain heads, from BRIDGE_AUDIT_WITNESS_FILE or "
            "collected from syslog/webhook): every head in it must still be in the log.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Walk the keyed hash chain (and compare with a witness); exit 1 naming the first break."""
    lines = against.read_text(encoding="utf-8").splitlines() if against else None
    result, witnessed = asyncio.run(_verify(Settings(), lines))
    typer.echo(describe(result))
    if witnessed is not None:
        typer.echo(describe_witness(witnessed))
    ok = result.ok and (witnessed is None or witnessed.ok)
    raise typer.Exit(0 if ok else 1)


async def _verify(
    settings: Settings, witness_lines: list[str] | None
) -> tuple[Verification, WitnessCheck | None]:
    db = Database.for_settings(settings)
    try:
        result = await verify(db)
        if witness_lines is None:
            return result, None
        return result, await verify_against(db, witness_lines)
    finally:
        await db.close()


def describe_witness(check: WitnessCheck) -> str:
    if check.problem is None:
        return (
            f"witness agrees: {check.lines} witnessed heads, the latest at seq {check.last_seq}, "
            "all still in the log"
        )
    return f"witness DISAGREES: {check.problem}"


def describe(result: Verification) -> str:
    """One line for a person: intact with the head to write down, or where it breaks."""
    if result.broken is None:
        legacy = min(result.keyed_from_seq - 1, result.rows)
        unkeyed = f" ({legacy} older rows with unkeyed hashes)" if legacy > 0 else ""
        return (
            f"audit log intact: {result.rows} rows, head seq {result.head_seq}, "
            f"hash {result.head_hash}{unkeyed}"
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
