"""In-process dispatch: the relay's sink when no RabbitMQ is configured."""

from __future__ import annotations

import asyncio

import pytest

from bridge.transport.local import LocalDispatch
from bridge.transport.port import DeliveryTask


def task(number: int, destination: str = "treserva") -> DeliveryTask:
    return DeliveryTask(
        delivery_id=f"d{number}", destination=destination, idempotency_key=f"k{number}"
    )


async def test_a_published_task_runs_its_destinations_handler_and_frees_its_slot() -> None:
    dispatch = LocalDispatch(concurrency=2)
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(t: DeliveryTask) -> None:
        seen.append(t.delivery_id)
        await release.wait()

    await dispatch.consume("treserva", handler)
    assert dispatch.room() == 2
    await dispatch.publish(task(1))
    await dispatch.publish(task(2))
    await asyncio.sleep(0)
    assert seen == ["d1", "d2"]
    assert dispatch.room() == 0, "the relay hands out no more than there are free workers"
    release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert dispatch.room() == 2
    await dispatch.close()


async def test_while_busy_room_is_offered_a_quarter_at_a_time() -> None:
    dispatch = LocalDispatch(concurrency=8)
    releases = {n: asyncio.Event() for n in range(8)}

    async def handler(t: DeliveryTask) -> None:
        await releases[int(t.delivery_id[1:])].wait()

    await dispatch.consume("treserva", handler)
    for n in range(8):
        await dispatch.publish(task(n))
    await asyncio.sleep(0)
    releases[0].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert dispatch.room() == 0, "one free slot of eight: wait for more"
    releases[1].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert dispatch.room() == 2
    for event in releases.values():
        event.set()
    await dispatch.close()


async def test_a_failing_handler_is_logged_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatch = LocalDispatch(concurrency=4)
    done: list[str] = []

    async def handler(t: DeliveryTask) -> None:
        if t.delivery_id == "d1":
            raise ConnectionError("database away")
        done.append(t.delivery_id)

    await dispatch.consume("treserva", handler)
    await dispatch.publish(task(1))
    await dispatch.publish(task(2))
    for _ in range(10):
        await asyncio.sleep(0)
    assert done == ["d2"]
    assert "lease brings it back" in caplog.text
    assert dispatch.room() == 4
    await dispatch.close()


async def test_a_task_nobody_here_delivers_is_left_to_its_lease() -> None:
    dispatch = LocalDispatch()
    await dispatch.publish(task(1, destination="elsewhere"))
    assert dispatch.room() == 32
    assert await dispatch.depth("elsewhere") == 0
    assert await dispatch.ping()


async def test_close_abandons_running_handlers() -> None:
    dispatch = LocalDispatch()
    started = asyncio.Event()

    async def handler(t: DeliveryTask) -> None:
        started.set()
        await asyncio.Event().wait()

    await dispatch.consume("treserva", handler)
    await dispatch.publish(task(1))
    await started.wait()
    await dispatch.close()
    assert dispatch.room() == 32
