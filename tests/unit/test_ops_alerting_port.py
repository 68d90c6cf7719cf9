"""The alerting port on the database: one alert and one recovery per incident, whoever raises
it how often; a channel that was down gets the notice later, the others do not get it twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.config import Settings
from bridge.service.operations.alert_channels import AlertNotice, SmtpNotifier, SmtpSettings
from bridge.service.operations.alerts import DATABASE_UNREACHABLE, IncidentAlerting, build_alerting
from bridge.store.db import Database
from bridge.store.migrate import upgrade
from bridge.store.tables import AlertIncidentRow


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Channel:
    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.got: list[tuple[str, str]] = []

    async def notify(self, notice: AlertNotice) -> None:
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        self.got.append((notice.status, notice.key))


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(url)
    return url


@contextlib.asynccontextmanager
async def alerting(url: str, clock: Clock, *channels: Channel) -> AsyncIterator[IncidentAlerting]:
    db = Database(url)
    try:
        yield IncidentAlerting(db, clock, list(channels), retry_seconds=10)
    finally:
        await db.close()


async def test_many_raises_make_one_alert_and_one_recovery(database_url: str) -> None:
    clock, webhook = Clock(), Channel("webhook")
    async with alerting(database_url, clock, webhook) as port:
        # Given a problem reported again and again
        for _ in range(25):
            await port.raise_alert("destination-failing:treserva", "destination-failing", "down")
            clock.advance(1)
        # When it clears (reported twice), and later comes back
        await port.resolve("destination-failing:treserva", "up again")
        await port.resolve("destination-failing:treserva", "up again")
        await port.raise_alert("destination-failing:treserva", "destination-failing", "down")

    # Then one alert, one recovery, and a new alert for the new incident
    assert webhook.got == [
        ("firing", "destination-failing:treserva"),
        ("resolved", "destination-failing:treserva"),
        ("firing", "destination-failing:treserva"),
    ]


async def test_a_channel_that_was_down_gets_the_notice_once_it_is_back(database_url: str) -> None:
    clock, log, webhook = Clock(), Channel("log"), Channel("webhook")
    webhook.down = True
    async with alerting(database_url, clock, log, webhook) as port:
        # Given an alert raised while the webhook is down
        await port.raise_alert("dead-letter:1", "dead-letter", "a notice died")
        assert log.got == [("firing", "dead-letter:1")] and webhook.got == []

        # When the webhook is back and the retry time has come
        webhook.down = False
        assert await port.notify_due() == 0  # not yet due
        clock.advance(11)
        assert await port.notify_due() == 1
        assert await port.notify_due() == 0

    # Then the webhook got it once, and the log was not told twice
    assert webhook.got == [("firing", "dead-letter:1")]
    assert log.got == [("firing", "dead-letter:1")]


async def test_cleared_before_anyone_was_told_gives_alert_then_recovery(database_url: str) -> None:
    clock, webhook = Clock(), Channel("webhook")
    webhook.down = True
    async with alerting(database_url, clock, webhook) as port:
        # Given an incident raised and resolved while the webhook is down
        await port.raise_alert("broker-unreachable", "broker-unreachable", "broker down")
        await port.resolve("broker-unreachable", "broker back")

        # When the webhook comes back
        webhook.down = False
        clock.advance(11)
        await port.notify_due()

    # Then it hears both, in order
    assert webhook.got == [("firing", "broker-unreachable"), ("resolved", "broker-unreachable")]


async def test_processes_racing_to_raise_make_one_alert(database_url: str) -> None:
    clock, webhook = Clock(), Channel("webhook")
    # Given three "processes" (own engine each) seeing the same problem at the same moment
    async with (
        alerting(database_url, clock, webhook) as first,
        alerting(database_url, clock, webhook) as second,
        alerting(database_url, clock, webhook) as third,
    ):
        await asyncio.gather(
            *(
                port.raise_alert("destination-failing:treserva", "destination-failing", "down")
                for port in (first, second, third)
                for _ in range(5)
            )
        )
        await asyncio.gather(
            *(port.resolve("destination-failing:treserva", "up") for port in (first, second, third))
        )
    # Then one alert and one recovery in all
    assert webhook.got == [
        ("firing", "destination-failing:treserva"),
        ("resolved", "destination-failing:treserva"),
    ]


async def test_database_unreachable_is_deduplicated_in_the_process(database_url: str) -> None:
    clock, webhook = Clock(), Channel("webhook")
    async with alerting(database_url, clock, webhook) as port:
        # Given the database reported unreachable again and again, then back
        for _ in range(3):
            await port.raise_alert(DATABASE_UNREACHABLE, DATABASE_UNREACHABLE, "db down")
        await port.resolve(DATABASE_UNREACHABLE, "db back")
        await port.resolve(DATABASE_UNREACHABLE, "db back")

        # Then one alert, one recovery, and the incident is in the shared history afterwards
        assert webhook.got == [("firing", DATABASE_UNREACHABLE), ("resolved", DATABASE_UNREACHABLE)]
        async with port._db.session() as session:
            rows = (await session.scalars(select(AlertIncidentRow))).all()
        assert [(r.key, r.resolved_at is not None) for r in rows] == [(DATABASE_UNREACHABLE, True)]


async def test_an_email_is_sent_through_smtp() -> None:
    # Given a local SMTP server
    async with smtp_sink() as (port, mails):
        notifier = SmtpNotifier(
            SmtpSettings(host="127.0.0.1", port=port, recipients=("oncall@example.org",))
        )
        # When an alert is sent by e-mail
        await notifier.notify(
            AlertNotice(
                status="firing",
                key="destination-failing:treserva",
                kind="destination-failing",
                summary="every delivery to treserva has failed for 5.0 min",
                detail={"destination": "treserva"},
                opened_at="2026-11-23T03:00:00+00:00",
                resolved_at=None,
                incident=1,
                source="bridge",
            )
        )
    # Then one mail arrived, saying what is wrong
    [mail] = mails
    parsed = message_from_bytes(mail)
    assert parsed["Subject"] == "[bridge] ALERT destination-failing: destination-failing:treserva"
    assert "every delivery to treserva" in parsed.get_payload()


def test_channels_follow_the_settings() -> None:
    db = Database("sqlite:///:memory:")
    plain = build_alerting(Settings(), db, Clock())
    full = build_alerting(
        Settings(
            alert_webhook_url="http://127.0.0.1:9/alerts",
            alert_smtp_host="127.0.0.1",
            alert_smtp_to="a@example.org, b@example.org",
        ),
        db,
        Clock(),
    )
    assert [n.name for n in plain._notifiers] == ["log"]
    assert [n.name for n in full._notifiers] == ["log", "webhook", "smtp"]


@contextlib.asynccontextmanager
async def smtp_sink() -> AsyncIterator[tuple[int, list[bytes]]]:
    """Just enough SMTP to take mails: EHLO, MAIL, RCPT, DATA, QUIT."""
    mails: list[bytes] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                body = await reader.readuntil(b"\r\n.\r\n")
                mails.append(body[:-5])
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], mails
    finally:
        server.close()
        await server.wait_closed()
