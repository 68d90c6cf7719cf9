"""``bridge messages show``: print a message's history as a readable timeline."""

from __future__ import annotations

import json

import typer

from bridge.config import Settings
from bridge.service.history import find_message_id, message_history
from bridge.store.db import Database


async def show(settings: Settings, reference: str) -> bool:
    db = Database(settings.database_url)
    try:
        message_id = await find_message_id(db, reference)
        history = await message_history(db, message_id) if message_id else None
    finally:
        await db.close()
    if history is None:
        typer.echo(f"no message found for {reference!r}", err=True)
        return False
    typer.echo(f"message     {history.message_id}")
    typer.echo(f"sender id   {history.dedupe_key}")
    typer.echo(f"event       {history.event_code}")
    typer.echo(f"patient     {history.patient_masked}")
    typer.echo(f"received    {history.received_at.isoformat()} via {history.entrypoint}")
    for delivery in history.deliveries:
        typer.echo(
            f"delivery    {delivery['destination']}: {delivery['status']}"
            f" after {len(delivery['attempts'])} attempt(s)"
        )
    typer.echo("")
    typer.echo(f"{'time (UTC)':<27} {'action':<15} {'actor':<10} detail")
    for entry in history.entries:
        detail = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)
        typer.echo(f"{entry.at.isoformat():<27} {entry.action:<15} {entry.actor:<10} {detail}")
    return True
