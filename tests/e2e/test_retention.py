"""Issue 13, must-show 4: retention on a month of data.

A month of two wards' traffic (2025-10, generated and played on the clock helpers) is more
than 90 days old for the real clock the CLI runs on. ``bridge prune --dry-run`` counts per
class and changes nothing; ``bridge prune`` empties the payloads and canonical copies, the audit
chain still verifies, and the month's indicators are what they were. Both runtime databases.
And ``bridge serve`` prunes by itself on its schedule.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import Stack
from delivery_support import delivery_of, send_admission, until_status
from messages import synthetic_personnummer
from services import require_postgres, wait_until
from sqlalchemy import func, select

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.domain.indicators import Month
from bridge.entrypoints.runner import running_bridge
from bridge.store.tables import AuditRow, DeliveryRow, MessageOutcomeRow, MessageRow
from support.cli_process import bridge_env, run_bridge
from support.playback import Receivers, month_settings, played
from support.ward_month import generate
from treserva_sim.server import RunningTreserva

MONTH = Month(2025, 10)
SHARED_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("production", marks=pytest.mark.postgres)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "embedded":
        yield f"sqlite:///{tmp_path_factory.mktemp('retention') / 'bridge.db'}"
    else:
        with require_postgres() as url:
            yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def month(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Bridge, Receivers]]:
    settings = month_settings(database_url, tmp_path_factory.mktemp("routing"))
    async with played(generate(MONTH), settings) as result:
        yield result


async def _texts_left(bridge: Bridge) -> dict[str, int]:
    """Rows per class whose text is still there."""
    async with bridge.db.session() as session:

        async def count(column: object, *where: object) -> int:
            query = select(func.count()).where(column != "", *where)  # type: ignore[operator]
            return int(await session.scalar(query) or 0)

        return {
            "payloads": await count(MessageRow.payload),
            "canonical": await count(MessageRow.canonical),
            "outbound": await count(
                DeliveryRow.payload, DeliveryRow.status.in_(("delivered", "discarded"))
            ),
            "outcomes": await count(MessageOutcomeRow.payload_masked),
        }


async def _unsettled_messages(bridge: Bridge) -> int:
    async with bridge.db.session() as session:
        query = select(func.count(func.distinct(DeliveryRow.message_id))).where(
            DeliveryRow.status.not_in(("delivered", "discarded"))
        )
        return int(await session.scalar(query) or 0)


def _cli(args: list[str], database_url: str, cwd: Path) -> tuple[int, str, str]:
    result = run_bridge(args, cwd, bridge_env(BRIDGE_DATABASE_URL=database_url))
    return result.returncode, result.stdout, result.stderr


@SHARED_LOOP
@pytest.mark.timeout(600)
async def test_a_prune_of_a_month_removes_payloads_keeps_the_audit_chain_and_the_indicators(
    month: tuple[Bridge, Receivers], database_url: str, tmp_path: Path
) -> None:
    # Given a month of traffic, its indicators, and its payloads all there
    bridge, _ = month
    indicators_before = await bridge.indicators.month(MONTH)
    left_before = await _texts_left(bridge)
    assert left_before["payloads"] > 300
    assert left_before["outbound"] > 300
    async with bridge.db.session() as session:
        messages = int(await session.scalar(select(func.count()).select_from(MessageRow)) or 0)
    kept = await _unsettled_messages(bridge)

    # When an operator asks what a prune would remove
    code, out, err = _cli(["prune", "--dry-run", "--json"], database_url, tmp_path)

    # Then it counts per class, and nothing changed
    assert code == 0, err
    counted = {item["data"]: item["rows"] for item in json.loads(out)["classes"]}
    assert counted["payloads"] == messages - kept
    assert counted["outbound"] == left_before["outbound"]
    assert await _texts_left(bridge) == left_before

    # When the prune runs
    code, out, err = _cli(["prune", "--as", "anna", "--json"], database_url, tmp_path)
    assert code == 0, err
    pruned = {item["data"]: item["rows"] for item in json.loads(out)["classes"]}

    # Then it removed what the dry run counted: the payloads are gone
    assert pruned == counted
    left = await _texts_left(bridge)
    assert left["payloads"] == kept
    assert left["outbound"] == 0
    assert left["outcomes"] == 0
    # And the audit chain verifies, with the prune in it under the operator's name
    code, out, err = _cli(["audit", "verify"], database_url, tmp_path)
    assert code == 0, out + err
    assert "intact" in out
    async with bridge.db.session() as session:
        prunes = (
            await session.execute(
                select(AuditRow.actor, AuditRow.detail).where(AuditRow.action == "pruned")
            )
        ).all()
    assert {actor for actor, _ in prunes} == {"anna"}
    assert sorted(json.loads(detail)["data_class"] for _, detail in prunes) == sorted(pruned)
    # And the month's indicators are exactly what they were
    assert await bridge.indicators.month(MONTH) == indicators_before

    # And a second prune finds nothing left to do
    code, out, err = _cli(["prune", "--dry-run", "--json"], database_url, tmp_path)
    assert code == 0, err
    assert all(item["rows"] == 0 for item in json.loads(out)["classes"])


async def test_serve_prunes_on_its_schedule(settings: Settings, treserva: RunningTreserva) -> None:
    # Given a bridge that keeps payloads about a second and prunes every 0.3 s
    settings = settings.model_copy(
        update={
            "retention_payloads_days": 1 / 86_400,
            "retention_canonical_days": 1 / 86_400,
            "retention_outbound_days": 1 / 86_400,
            "retention_interval_seconds": 0.3,
        }
    )
    async with running_bridge(settings) as bridge:
        stack = Stack(treserva, bridge, settings)
        # When a notice is accepted and delivered
        control = await send_admission(stack, synthetic_personnummer())
        await wait_until(lambda: until_status(stack, control, "delivered"), within=10)
        message_id = (await delivery_of(stack, control)).message_id

        # Then within a few seconds its payloads are gone, by the bridge itself
        async def stored() -> MessageRow:
            async with bridge.bridge.db.session() as session:
                row = await session.get(MessageRow, message_id, populate_existing=True)
            assert row is not None
            return row

        async def gone() -> bool:
            return (await stored()).payload == "" and (
                await delivery_of(stack, control)
            ).payload == ""

        await wait_until(gone, within=10, what="payload pruned")
        # But the canonical copy stays while the deadline check watches the stay it opened
        assert (await stored()).canonical != ""
