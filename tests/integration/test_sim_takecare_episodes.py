"""The TakeCare simulator's episodes mode over real sockets, against a receiver that ACKs.

The receiver is the TakeCare simulator's own receiving side (it files and ACKs any HL7 v2), so
what arrived can be read back from its inbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from takecare_sim import (
    Mix,
    RunningTakeCare,
    SendOptions,
    SentNotice,
    plan_messages,
    receiving,
    run_episodes,
    send_episodes,
)

NO_UNDOING = Mix(0, 0, 0, 0, 0)


@pytest.fixture
async def receiver() -> AsyncIterator[RunningTakeCare]:
    async with receiving() as running:
        yield running


def received_types(receiver: RunningTakeCare) -> list[str]:
    return [item.event_code for item in reversed(receiver.inbox.items())]


async def test_episodes_over_mllp_are_sent_in_plan_order(receiver: RunningTakeCare) -> None:
    # Given a plan of three episodes
    options = SendOptions(host=receiver.mllp_host, port=receiver.mllp_port)
    # When they are played
    notices = await send_episodes(options, episodes=3, seed=4, mix=NO_UNDOING)
    # Then every message got its AA and arrived, in the order the seed plans them
    planned = [p.step.kind for p in plan_messages(3, seed=4, mix=NO_UNDOING)]
    assert [n.event for n in notices] == planned
    assert [n.ack_code for n in notices] == ["AA"] * 15
    assert len(received_types(receiver)) == 15
    assert received_types(receiver)[0] == "ADT^A01"


async def test_episodes_over_http(receiver: RunningTakeCare) -> None:
    options = SendOptions(transport="http", http_url=f"{receiver.base_url}/hl7v2")
    notices = await send_episodes(options, episodes=2, seed=4, mix=NO_UNDOING)
    assert [n.ack_code for n in notices] == ["AA"] * 10
    assert {item.channel for item in receiver.inbox.items()} == {"http"}


async def test_the_rate_spaces_the_messages(receiver: RunningTakeCare) -> None:
    options = SendOptions(host=receiver.mllp_host, port=receiver.mllp_port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send_episodes(options, episodes=1, seed=4, rate_per_s=20, mix=NO_UNDOING)
    assert loop.time() - started >= 0.19  # five messages, 50 ms apart


async def test_endless_mode_plays_until_cancelled(receiver: RunningTakeCare) -> None:
    sent: list[SentNotice] = []
    twenty_sent = asyncio.Event()

    def record(notice: SentNotice) -> None:
        sent.append(notice)
        if len(sent) >= 20:
            twenty_sent.set()

    options = SendOptions(host=receiver.mllp_host, port=receiver.mllp_port)
    task = asyncio.create_task(run_episodes(options, rate_per_s=500, seed=1, on_sent=record))
    await asyncio.wait_for(twenty_sent.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(n.ack_code == "AA" for n in sent)


async def test_a_bridge_that_is_not_there_is_recorded_and_the_play_goes_on() -> None:
    options = SendOptions(host="127.0.0.1", port=1, ack_timeout_s=0.5)
    notices = await send_episodes(options, episodes=1, seed=4, mix=NO_UNDOING)
    assert len(notices) == 5
    assert all(n.ack_code is None and n.error for n in notices)


async def test_log_lines_mask_the_personnummer(
    receiver: RunningTakeCare, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="takecare_sim")
    options = SendOptions(host=receiver.mllp_host, port=receiver.mllp_port)
    notices = await send_episodes(options, episodes=1, seed=4, mix=NO_UNDOING)
    identifier = notices[0].patient_identifier
    assert identifier not in caplog.text
    assert identifier[:8] + "-****" in caplog.text
