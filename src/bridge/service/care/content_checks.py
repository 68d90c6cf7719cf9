"""The content check: every admission notice accepted lately is read once for the routine's
fields; one lacking any is flagged as an ``incomplete-information`` deviation of its sending
ward (``ReportedDeviations.flag_incomplete``), routed to that ward's inbox. The notice itself
was delivered as usual. Runs beside the deadline check; a flag's id is derived from the
notice's message id, so two processes flagging the same notice collide and one rolls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from bridge.domain.content_checks import missing_routine_fields
from bridge.domain.model import CareTransitionEvent, EventCode
from bridge.service.care.reported_deviations import ReportedDeviations
from bridge.service.clock import Clock
from bridge.store.db import Database
from bridge.store.tables import (
    CareEpisodeRow,
    EpisodeNoticeRow,
    MessageRow,
    ReportedDeviationRow,
)

log = logging.getLogger(__name__)
LOOK_BACK = timedelta(days=2)
"""Notices accepted this recently are checked (a check missed for a while catches up)."""


class ContentChecks:
    def __init__(self, db: Database, clock: Clock, deviations: ReportedDeviations) -> None:
        self._db = db
        self._clock = clock
        self._deviations = deviations

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.check()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("content check paused: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(interval)

    async def check(self) -> list[str]:
        """Flag the incomplete admission notices not flagged yet; their deviation ids."""
        since = self._clock.now() - LOOK_BACK
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(MessageRow.id, MessageRow.canonical, EpisodeNoticeRow.episode_id)
                    .join(EpisodeNoticeRow, EpisodeNoticeRow.message_id == MessageRow.id)
                    .where(
                        MessageRow.event_code == EventCode.ADMISSION.value,
                        MessageRow.received_at >= since,
                    )
                )
            ).all()
            ids = {_flag_id(row[0]): row for row in rows}
            done = set(
                await session.scalars(
                    select(ReportedDeviationRow.id).where(ReportedDeviationRow.id.in_(list(ids)))
                )
            )
        flagged = []
        for flag, (message_id, canonical, episode_id) in ids.items():
            if flag in done:
                continue
            event = CareTransitionEvent.model_validate_json(canonical)
            missing = missing_routine_fields(event)
            if missing and await self._flag(message_id, episode_id, event, missing):
                flagged.append(flag)
        return flagged

    async def _flag(
        self,
        message_id: str,
        episode_id: str,
        event: CareTransitionEvent,
        missing: tuple[str, ...],
    ) -> bool:
        unit = event.encounter.unit if event.encounter is not None else None
        sender = (
            (unit.hsa_id or "", unit.name or "") if unit else (event.origin.sending_facility, "")
        )
        try:
            async with self._db.session() as session, session.begin():
                episode = await session.get(CareEpisodeRow, episode_id)
                if episode is None:
                    return False
                await self._deviations.flag_incomplete(
                    session, episode, message_id, sender, missing
                )
        except IntegrityError:
            return False  # another process flagged it first
        return True


def _flag_id(message_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"incomplete-notice:{message_id}"))
