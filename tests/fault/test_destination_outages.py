"""Issue 13, must-show 1: Treserva down "an hour" and five minutes while notices keep coming:
nothing lost or dead, all delivered after recovery without an operator, in each patient's
order, and exactly one destination-failing alert opened and one resolved per outage.

Two bridge processes on the real PostgreSQL and RabbitMQ, but these scenarios stop only the
Treserva simulator, so unlike the rest of the fault suite they are safe on a shared machine:
they run with ``BRIDGE_TEST_FAULTS=1`` (the whole suite) or ``BRIDGE_TEST_OUTAGES=1`` (only
these), at CI size. Full size (a real hour, five real minutes, 2,000 notices):
``python tests/fault/run_faults.py -s treserva-down-1h -s treserva-down-5min``; figures in
docs/delivery.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fault_scenarios import CI, DESTINATION_ONLY, by_name, run_scenario
from fault_verdict import table
from test_fault_suite import _enabled

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.fault,
    pytest.mark.skipif(
        not (_enabled() or os.environ.get("BRIDGE_TEST_OUTAGES") == "1"),
        reason="minutes long: BRIDGE_TEST_OUTAGES=1 (or the fault suite's BRIDGE_TEST_FAULTS=1)",
    ),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", DESTINATION_ONLY)
async def test_an_outage_ends_by_itself_with_one_alert(name: str, tmp_path: Path) -> None:
    # Given two bridges with the default retry policy (the hour: at 1:60 time) and Treserva
    [scenario] = by_name([name])

    # When Treserva is down for the scenario's time while the hospital sends its notices
    verdict = await run_scenario(scenario, CI, tmp_path)

    # Then every notice is delivered once, in order, none dead, with no operator action
    row = table([verdict])
    assert verdict.accepted == verdict.sent == CI.size, row
    assert verdict.delivered == verdict.accepted, row
    assert sum(verdict.dead.values()) == 0, row
    assert (verdict.lost, verdict.pending, verdict.duplicates) == (0, 0, 0), row
    assert verdict.order_violations == 0, row
    # And exactly one destination-failing incident was alerted, and its recovery sent
    assert (verdict.incidents_opened, verdict.incidents_resolved) == (1, 1), row
    assert verdict.ok, row
