"""The per-destination circuit breaker: plain values, a chosen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.connectors.port import Outcome
from bridge.service.delivery.destination_health import DestinationHealth

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_it_opens_after_consecutive_transient_failures_only() -> None:
    health = DestinationHealth(threshold=3, initial=1, cap=30)
    health.record("treserva", Outcome.TRANSIENT, T0)
    health.record("treserva", Outcome.PERMANENT, T0)  # the notice's fault, not the receiver's
    health.record("treserva", Outcome.TRANSIENT, T0)
    assert not health.is_open("treserva")
    health.record("treserva", Outcome.TRANSIENT, T0)
    assert health.is_open("treserva")
    assert not health.is_open("takecare")


def test_an_open_breaker_hands_out_one_probe_per_interval_doubling_to_the_cap() -> None:
    health = DestinationHealth(threshold=1, initial=1, cap=4)
    health.record("treserva", Outcome.TRANSIENT, T0)
    assert health.held_back(T0) == ({"treserva"}, set())
    second = T0 + timedelta(seconds=1)
    assert health.held_back(second) == ({"treserva"}, {"treserva"})
    assert health.held_back(second) == ({"treserva"}, set()), "one probe per interval"
    intervals = []
    now = second
    for _ in range(4):
        health.record("treserva", Outcome.TRANSIENT, now)  # the probe failed
        _, probes = health.held_back(now)
        assert probes == set()
        step = 0
        while not probes:
            step += 1
            _, probes = health.held_back(now + timedelta(seconds=step))
        intervals.append(step)
        now += timedelta(seconds=step)
    assert intervals == [2, 4, 4, 4]


def test_a_delivered_notice_closes_it_and_says_it_recovered() -> None:
    health = DestinationHealth(threshold=2)
    assert health.record("treserva", Outcome.DELIVERED, T0) is False
    health.record("treserva", Outcome.TRANSIENT, T0)
    health.record("treserva", Outcome.TRANSIENT, T0)
    assert health.record("treserva", Outcome.DELIVERED, T0) is True
    assert health.held_back(T0 + timedelta(hours=1)) == (set(), set())
