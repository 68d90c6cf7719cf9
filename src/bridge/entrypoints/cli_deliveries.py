"""`bridge deliveries`: the outbox at a glance, and notices still waiting for a receipt."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlalchemy import func, select

from bridge.config import Settings
from bridge.entrypoints.cli_output import AsJson, echo_json, iso
from bridge.service.clock import SystemClock
from bridge.service.delivery.receipts import Receipts, UnreceiptedNotice
from bridge.store.db import Database
from bridge.store.tables import DeliveryRow

app = typer.Typer(help="Deliveries: states and receipts.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Deliveries: states and receipts."""


@app.command()
def summary(as_json: AsJson = False) -> None:
    """How many deliveries are in each state, per destination."""

    async def count() -> list[tuple[str, str, int]]:
        db = Database.for_settings(Settings())
        try:
            async with db.session() as session:
                rows = await session.execute(
                    select(DeliveryRow.destination, DeliveryRow.status, func.count())
                    .group_by(DeliveryRow.destination, DeliveryRow.status)
                    .order_by(DeliveryRow.destination, DeliveryRow.status)
                )
                return [(d, s, int(n)) for d, s, n in rows.all()]
        finally:
            await db.close()

    counted = asyncio.run(count())
    if as_json:
        echo_json([{"destination": d, "status": s, "count": n} for d, s, n in counted])
        return
    for destination, status, number in counted:
        typer.echo(f"{destination:<16} {status:<12} {number:>8}")


@app.command()
def unreceipted(
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Delivered notices without a receipt in time, or with a negative one."""

    async def find() -> list[UnreceiptedNotice]:
        db = Database.for_settings(Settings())
        try:
            return await Receipts(db, SystemClock()).list_unreceipted(
                destination=destination, limit=limit
            )
        finally:
            await db.close()

    found = asyncio.run(find())
    if as_json:
        echo_json(found)
        return
    for item in found:
        due = iso(item.receipt_due_at)
        typer.echo(
            f"{item.delivery_id:<36}  {item.destination:<12} {item.event_code:<22} "
            f"{item.patient_masked:<15} {item.state:<12} due {due} {item.receipt_code or ''}"
        )
    typer.echo(f"{len(found)} notice(s) without a receipt")
