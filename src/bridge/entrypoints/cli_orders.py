"""`bridge orders`: home-care orders, their answers and deadlines (docs/orders.md).

Patients are shown masked; ``count`` gives the figures the indicators use.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from bridge.config import Settings
from bridge.domain.orders import STOCKHOLM
from bridge.entrypoints.cli_output import AsJson
from bridge.service.care.orders import count_orders, list_orders
from bridge.store.db import Database

app = typer.Typer(
    help="Home-care orders (beställningar): answers, deadlines, reminders.", no_args_is_help=True
)
T = TypeVar("T")


@app.callback()
def _group() -> None:
    """Home-care orders (beställningar): answers, deadlines, reminders."""


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(Settings().database_url)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


def _local(moment: datetime | None) -> str:
    return moment.astimezone(STOCKHOLM).isoformat(timespec="minutes") if moment else "-"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=STOCKHOLM)


@app.command("list")
def list_command(
    status: Annotated[
        str | None, typer.Option(help="requested, accepted, rejected or on-hold.")
    ] = None,
    json_out: AsJson = False,
) -> None:
    """Orders, newest first, with their answer, deadline and reminder."""
    views = _run(lambda db: list_orders(db, status))
    if json_out:
        typer.echo(json.dumps([v.to_json() for v in views], ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{'order':<20}  {'status':<9}  {'patient':<15}  {'deadline (Stockholm)':<22}  "
        f"{'reminded':<22}  requester / reason"
    )
    for view in views:
        typer.echo(
            f"{view.order_id:<20}  {view.status:<9}  {view.patient:<15}  "
            f"{_local(view.deadline_at):<22}  {_local(view.reminded_at):<22}  "
            f"{view.requester}{': ' + view.reason if view.reason else ''}"
        )
    typer.echo(f"{len(views)} order(s)")


@app.command()
def count(
    start: Annotated[datetime, typer.Option("--from", help="Sent from (ISO; Stockholm).")],
    end: Annotated[datetime, typer.Option("--to", help="Sent before (ISO; Stockholm).")],
) -> None:
    """Orders sent in a period and what became of them (JSON)."""
    counts = _run(lambda db: count_orders(db, _aware(start), _aware(end), datetime.now(UTC)))
    typer.echo(json.dumps(counts.as_dict(), indent=2))
