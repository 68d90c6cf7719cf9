"""Issue 13: one alert per incident, told again while it lasts; the webhook body is
Prometheus Alertmanager's (version 4); the breaker probes at least as often as the backoff cap."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from test_ops_alerting_port import Channel, Clock, alerting

from bridge.service.delivery.backoff import RetryPolicy, probe_cap
from bridge.service.operations import alert_outbox
from bridge.service.operations.alert_channels import (
    FIRING,
    RESOLVED,
    AlertNotice,
    alertmanager_body,
    alertname,
)
from bridge.store.db import Database
from bridge.store.migrate import upgrade
from bridge.store.tables import AlertOutboxRow

KEY = "destination-failing:treserva"


def _notice(status: str, *, resolved_at: str | None = None) -> AlertNotice:
    return AlertNotice(
        status=status,
        key=KEY,
        kind="destination-failing",
        summary="every delivery to treserva has failed for 1.0 min; 12 notice(s) waiting",
        detail={"destination": "treserva", "waiting": 12, "last_error": "HTTP 503"},
        opened_at="2026-11-23T03:00:00+00:00",
        resolved_at=resolved_at,
        incident=7,
        source="bridge-test",
        resolution="treserva accepts deliveries again" if resolved_at else None,
    )


def test_the_webhook_body_is_an_alertmanager_message_of_one_group() -> None:
    # Given an incident's firing and resolved notices
    firing = alertmanager_body(_notice(FIRING))
    resolved = alertmanager_body(_notice(RESOLVED, resolved_at="2026-11-23T03:10:00+00:00"))

    # Then both read as Alertmanager webhook messages (version 4) of the same group
    for body, status in ((firing, "firing"), (resolved, "resolved")):
        assert body["version"] == "4" and body["status"] == status
        assert body["groupKey"] == '{}:{key="destination-failing:treserva"}'
        assert body["truncatedAlerts"] == 0 and body["receiver"]
        assert set(body) >= {"groupLabels", "commonLabels", "commonAnnotations", "externalURL"}
        [alert] = body["alerts"]
        assert alert["status"] == status
        assert alert["labels"] == {
            "alertname": "BridgeDestinationFailing",
            "key": KEY,
            "source": "bridge-test",
            "destination": "treserva",
            "severity": "critical",
        }
        assert alert["startsAt"] == "2026-11-23T03:00:00+00:00"
        assert alert["fingerprint"] == firing["alerts"][0]["fingerprint"]
        # And the bridge's own fields stay for receivers written against them
        assert (body["key"], body["kind"]) == (KEY, "destination-failing")
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["alerts"][0]["endsAt"] == "2026-11-23T03:10:00+00:00"
    assert resolved["alerts"][0]["annotations"]["description"].startswith("treserva accepts")
    # And no detail that is not a name of a thing becomes a label
    assert "last_error" not in firing["alerts"][0]["labels"]


def test_alert_names_follow_prometheus_naming() -> None:
    assert alertname("dead-letter") == "BridgeDeadLetter"
    assert alertname("broker-unreachable") == "BridgeBrokerUnreachable"


async def test_an_open_incident_is_told_again_at_the_interval_and_never_after_it_cleared(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(url)
    clock, webhook = Clock(), Channel("webhook")
    async with alerting(url, clock, webhook) as port, alerting(url, clock, webhook) as other:
        # Given an open incident, alerted once
        await port.raise_alert(KEY, "destination-failing", "down", {"waiting": 3})
        assert webhook.got == [("firing", KEY)]

        # When two processes ask to remind before the interval has passed
        clock.advance(599)
        assert not await port.remind(KEY, "still down", {"waiting": 5}, every=600)
        # Then nothing is sent; once it has passed, exactly one of them sends it
        clock.advance(1)
        sent = [await p.remind(KEY, "still down", {"waiting": 5}, every=600) for p in (port, other)]
        assert sent == [True, False]
        assert webhook.got == [("firing", KEY), ("firing", KEY)]

        # When it is resolved, no reminder follows, whatever the time
        await port.resolve(KEY, "up")
        clock.advance(10_000)
        assert not await other.remind(KEY, "still down", {}, every=600)
    assert webhook.got == [("firing", KEY), ("firing", KEY), ("resolved", KEY)]


def test_the_breaker_probes_at_least_as_often_as_the_shortest_backoff_cap() -> None:
    policies = {"a": RetryPolicy(max_seconds=60), "b": RetryPolicy(max_seconds=20)}
    assert probe_cap(30, policies.values()) == 20
    assert probe_cap(10, policies.values()) == 10
    assert probe_cap(30, []) == 30


class _Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def raise_alert(
        self, key: str, kind: str, summary: str, detail: dict[str, object] | None = None
    ) -> None:
        self.calls.append(("raise", key))

    async def resolve(self, key: str, summary: str = "") -> None:
        self.calls.append(("resolve", key))


async def test_the_dispatcher_raises_a_group_once_per_batch_and_marks_every_row_sent(
    tmp_path: Path,
) -> None:
    # Given the outbox rows of several batches of dead letters of one group, and one other
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    upgrade(url)
    clock, port = Clock(), _Recording()
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            for key in (GROUP, GROUP, OTHER, GROUP):
                alert_outbox.raise_later(
                    session, at=clock.now(), key=key, kind="dead-letter", summary="died"
                )
            alert_outbox.resolve_later(session, at=clock.now(), key=GROUP)
            alert_outbox.raise_later(
                session, at=clock.now(), key=GROUP, kind="dead-letter", summary="died again"
            )

        # When the dispatcher sends them
        sent = await alert_outbox.AlertDispatcher(db, port, clock).dispatch_once()

        # Then each key was raised once until it was resolved, and every row counts as sent
        assert port.calls == [
            ("raise", GROUP),
            ("raise", OTHER),
            ("resolve", GROUP),
            ("raise", GROUP),
        ]
        assert sent == 6
        async with db.session() as session:
            unsent = await session.scalar(
                select(func.count()).where(AlertOutboxRow.sent_at.is_(None))
            )
        assert unsent == 0
    finally:
        await db.close()


GROUP = "dead-letters:treserva:permanent"
OTHER = "dead-letters:treserva:max-age"
