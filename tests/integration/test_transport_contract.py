"""The broker port's contract, run against every adapter on its real service.

Parametrized by the ``broker_backend`` fixture: every durable adapter (RabbitMQ) on its real
service. Every semantic ``bridge.transport.port`` promises is proven here.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from services import REDELIVERY_DELAY, Backend, task, wait_until

from bridge.transport.port import Broker, DeliveryTask

pytest_plugins = ["conftest_transport"]


class Recorder:
    """A handler that records what it got; the first ``fail_first`` calls raise."""

    def __init__(self, fail_first: int = 0) -> None:
        self.seen: list[str] = []
        self.times: list[float] = []
        self._fail_first = fail_first

    async def __call__(self, delivery: DeliveryTask) -> None:
        self.seen.append(delivery.delivery_id)
        self.times.append(asyncio.get_running_loop().time())
        if len(self.seen) <= self._fail_first:
            raise RuntimeError("simulated handler failure")


class Holder:
    """A handler that never finishes its first task: a consumer that dies while working."""

    def __init__(self) -> None:
        self.held: list[str] = []
        self.finished: list[str] = []
        self._forever = asyncio.Event()

    async def __call__(self, delivery: DeliveryTask) -> None:
        if not self.held:
            self.held.append(delivery.delivery_id)
            await self._forever.wait()
        self.finished.append(delivery.delivery_id)


async def test_published_task_is_delivered_once(broker_backend: Backend) -> None:
    # Given a task published to a destination
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    await broker.publish(task(1))

    # When a consumer handles it successfully
    first = Recorder()
    consumer = await broker.consume("treserva", first)
    await wait_until(lambda: first.seen == ["delivery-1"], what="first delivery")
    await consumer.cancel()

    # Then a later consumer (another "process") gets only what was published after it
    await broker.publish(task(2))
    later = Recorder()
    other = await broker_backend.broker()
    await other.consume("treserva", later)
    await wait_until(lambda: "delivery-2" in later.seen, what="second task")
    assert later.seen == ["delivery-2"]
    assert first.seen == ["delivery-1"]


async def test_task_carries_its_fields(broker_backend: Backend) -> None:
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    sent = task(7)
    received: list[DeliveryTask] = []

    async def keep(delivery: DeliveryTask) -> None:
        received.append(delivery)

    await broker.publish(sent)
    await broker.consume("treserva", keep)
    await wait_until(lambda: bool(received), what="delivery")
    assert received == [sent]


async def test_handler_raising_requeues_after_the_delay(broker_backend: Backend) -> None:
    # Given a handler that fails the first time
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    handler = Recorder(fail_first=1)

    # When a task reaches it
    await broker.publish(task(1))
    await broker.consume("treserva", handler)

    # Then the task comes again, not before the redelivery delay
    await wait_until(lambda: len(handler.seen) == 2, what="redelivery")
    assert handler.seen == ["delivery-1", "delivery-1"]
    assert handler.times[1] - handler.times[0] >= REDELIVERY_DELAY * 0.9


async def test_cancelled_consumer_hands_its_unfinished_task_back(broker_backend: Backend) -> None:
    # Given a consumer stuck in the middle of a task
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    stuck = Holder()
    consumer = await broker.consume("treserva", stuck, prefetch=1)
    await broker.publish(task(1))
    await wait_until(lambda: stuck.held == ["delivery-1"], what="task held")

    # When that consumer is cancelled without finishing
    await consumer.cancel()

    # Then another consumer gets the task
    successor = Recorder()
    await (await broker_backend.broker()).consume("treserva", successor)
    await wait_until(lambda: successor.seen == ["delivery-1"], what="redelivery")
    assert stuck.finished == []


async def test_task_of_a_killed_consumer_process_is_delivered_again(
    broker_backend: Backend,
) -> None:
    # Given a consumer process that took a task and hangs
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    holder = await broker_backend.spawn_holder("treserva")
    try:
        assert await _read_line(holder) == "consuming"
        await broker.publish(task(1))
        assert await _read_line(holder) == "holding delivery-1"

        # When the process is killed (no ack, no release, no goodbye)
        os.kill(holder.pid, signal.SIGKILL)
        await holder.wait()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()

    # Then the task reaches another consumer (after the lease ran out, for the database queue)
    successor = Recorder()
    await broker.consume("treserva", successor)
    await wait_until(lambda: successor.seen == ["delivery-1"], what="redelivery after kill")


async def test_single_consumer_gets_a_destination_first_in_first_out(
    broker_backend: Backend,
) -> None:
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    for number in range(20):
        await broker.publish(task(number))

    handler = Recorder()
    await broker.consume("treserva", handler, prefetch=1)

    await wait_until(lambda: len(handler.seen) == 20, what="all twenty")
    assert handler.seen == [f"delivery-{n}" for n in range(20)]


async def test_destinations_are_isolated(broker_backend: Backend) -> None:
    # Given tasks for two destinations
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    await broker.declare("takecare")
    await broker.publish(task(1, "treserva"))
    await broker.publish(task(2, "takecare"))
    await broker.publish(task(3, "treserva"))

    # When only the treserva consumer runs
    handler = Recorder()
    await broker.consume("treserva", handler)

    # Then it gets treserva's tasks only, and takecare's wait
    await wait_until(lambda: len(handler.seen) == 2, what="treserva tasks")
    assert handler.seen == ["delivery-1", "delivery-3"]
    await wait_until(lambda: _depth_is(broker, "takecare", 1), what="takecare untouched")


async def test_depth_counts_waiting_tasks(broker_backend: Backend) -> None:
    broker = await broker_backend.broker()
    await broker.declare("treserva")
    assert await broker.depth("treserva") == 0
    for number in range(3):
        await broker.publish(task(number))
    await wait_until(lambda: _depth_is(broker, "treserva", 3), what="three waiting")

    # A task a consumer holds is not waiting any more
    stuck = Holder()
    consumer = await broker.consume("treserva", stuck, prefetch=1)
    await wait_until(lambda: bool(stuck.held), what="one held")
    await wait_until(lambda: _depth_is(broker, "treserva", 2), what="two waiting")

    await consumer.cancel()
    await wait_until(lambda: _depth_is(broker, "treserva", 3), what="handed back")
    assert await broker.depth("never-declared") == 0


async def test_ping(broker_backend: Backend) -> None:
    broker = await broker_backend.broker()
    assert await broker.ping() is True
    await broker.close()
    if broker_backend.kind == "rabbitmq":
        assert await broker.ping() is False


async def test_concurrent_consumers_never_hold_the_same_task(broker_backend: Backend) -> None:
    # Given two "processes" with several handler slots each
    first, second = await broker_backend.broker(), await broker_backend.broker()
    await first.declare("treserva")
    holding: set[str] = set()
    done: list[str] = []
    overlaps: list[str] = []

    async def work(delivery: DeliveryTask) -> None:
        if delivery.delivery_id in holding:
            overlaps.append(delivery.delivery_id)
        holding.add(delivery.delivery_id)
        await asyncio.sleep(0.005)  # the handler's "work", so that handlers overlap
        holding.discard(delivery.delivery_id)
        done.append(delivery.delivery_id)

    await first.consume("treserva", work, prefetch=4)
    await second.consume("treserva", work, prefetch=4)

    # When forty tasks arrive
    for number in range(40):
        await first.publish(task(number))

    # Then each is handled exactly once and never by two at a time
    await wait_until(lambda: len(done) >= 40, what="all forty handled")
    assert sorted(done) == sorted(f"delivery-{n}" for n in range(40))
    assert overlaps == []


async def _depth_is(broker: Broker, destination: str, expected: int) -> bool:
    return await broker.depth(destination) == expected


async def _read_line(process: asyncio.subprocess.Process, within: float = 20) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(within):
        line = await process.stdout.readline()
    if not line:
        pytest.fail(f"holder process exited early with {await process.wait()}")
    return line.decode().strip()
