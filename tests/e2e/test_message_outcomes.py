"""Issue 11, must-show 4: every message the bridge answered can be found with its outcome.

A filtered ADT^A08 (no PV2-9) and a rejected message are found by ``bridge messages search --id``
with their outcome and reason, listed on the dashboard, and counted in
``bridge_messages_total{outcome=…}``; the stored payload of a rejected message is masked.
"""

from __future__ import annotations

import asyncio
import re

import httpx
from conftest import Stack
from messages import admission, control_id, notice, synthetic_personnummer
from services import wait_until
from test_admission_flow import mllp_send_foreign, settled
from test_ops_cli import bridge_cli

from bridge.contracts.er7_edit import edit_message
from bridge.domain.hl7.ack import parse_ack
from bridge.domain.identifiers import mask
from bridge.service.operations.users import Role, Users

PASSWORD = "a-long-test-password"


async def send_three(stack: Stack) -> dict[str, str]:
    """An admission (routed), an A08 without PV2-9 changing nothing (filtered), a bad check
    digit (rejected)."""
    pnr, bad_pnr = synthetic_personnummer(), synthetic_personnummer()
    wrong = bad_pnr[:-1] + str((int(bad_pnr[-1]) + 1) % 10)
    ids = {"routed": control_id(), "filtered": control_id(), "rejected": control_id()}
    demographics = edit_message(notice(ids["filtered"], pnr, "A08"), {"PV2-9": ""})
    messages = [
        admission(ids["routed"], pnr),
        demographics,
        admission(ids["rejected"], wrong),
    ]
    acks = await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, messages)
    assert [parse_ack(ack).code for ack in acks] == ["AA", "AA", "AE"]
    await wait_until(lambda: settled(stack), within=15, what="the admission delivered")
    return ids | {"wrong": wrong}


async def test_filtered_and_rejected_messages_are_found_with_outcome_and_reason(
    stack: Stack,
) -> None:
    # Given a routed, a filtered and a rejected message
    ids = await send_three(stack)

    # When an operator searches each by its control id
    filtered = await asyncio.to_thread(
        bridge_cli, stack, "messages", "search", "--id", ids["filtered"]
    )
    rejected = await asyncio.to_thread(
        bridge_cli, stack, "messages", "search", "--id", ids["rejected"]
    )

    # Then each is found with its outcome and why
    assert filtered.returncode == 0, filtered.stderr
    [row] = [line for line in filtered.stdout.splitlines() if ids["filtered"] in line]
    assert " filtered " in row and "ADT^A08" in row
    assert "rule demographics-nothing-relevant-changed" in row
    assert rejected.returncode == 0, rejected.stderr
    [row] = [line for line in rejected.stdout.splitlines() if ids["rejected"] in line]
    assert " rejected " in row and "PID-3" in row and "check digit" in row
    assert ids["wrong"] not in rejected.stdout

    # And searching by outcome lists only that outcome
    only = await asyncio.to_thread(bridge_cli, stack, "messages", "list", "--outcome", "rejected")
    assert ids["rejected"][:24] in only.stdout
    assert ids["filtered"][:24] not in only.stdout and ids["routed"][:24] not in only.stdout


async def test_the_dashboard_lists_them_and_shows_the_masked_payload(stack: Stack) -> None:
    # Given the three messages and a signed-in viewer
    ids = await send_three(stack)
    await Users(stack.bridge.bridge.db, stack.bridge.bridge.clock).add(
        "olle", PASSWORD, Role.VIEWER, actor="test"
    )
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        signed = await client.post(
            "/ops/api/session", json={"username": "olle", "password": PASSWORD}
        )
        assert signed.status_code == 200

        # When they open the messages page and the rejected message
        page = await client.get("/ops/messages")
        found = await client.get("/ops/api/messages", params={"reference": ids["rejected"]})
        [summary] = found.json()
        detail = await client.get(f"/ops/api/outcomes/{summary['message_id']}")
        outcome_page = await client.get(f"/ops/outcomes/{summary['message_id']}")

    # Then all three are listed, each with its outcome
    assert page.status_code == 200
    for outcome, control in (
        ("routed", ids["routed"]),
        ("filtered", ids["filtered"]),
        ("rejected", ids["rejected"]),
    ):
        row = re.search(rf'<tr class="outcome-{outcome}">(.(?!</tr>))*{control}', page.text, re.S)
        assert row is not None, f"{outcome} row for {control}"
    # And the rejected one shows reason and payload, its personnummer and address masked
    assert summary["outcome"] == "rejected" and summary["location"] == "PID-3"
    body = detail.json()
    assert "check digit" in body["reason"]
    assert ids["wrong"] not in body["payload_masked"]
    assert mask(ids["wrong"]) in body["payload_masked"]
    assert "Testgatan" not in body["payload_masked"]
    assert outcome_page.status_code == 200 and "check digit" in outcome_page.text


async def test_bridge_messages_total_counts_each_outcome(stack: Stack) -> None:
    # Given a routed, a filtered and a rejected message
    await send_three(stack)

    # When Prometheus scrapes
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        scraped = (await client.get("/metrics")).text

    # Then each outcome is counted once
    def total(outcome: str) -> float:
        pattern = rf'^bridge_messages_total\{{[^}}]*outcome="{outcome}"[^}}]*\}} (\S+)$'
        return sum(float(v) for v in re.findall(pattern, scraped, re.M))

    assert total("routed") == 1
    assert total("filtered") == 1
    assert total("rejected") == 1
