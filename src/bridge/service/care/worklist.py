"""The coordinator's worklist from the store, limited to the coordinator's organisation.

Loads the open stays watched by the deadline check, evaluates them with the pure
:func:`~bridge.domain.worklist.worklist`, keeps those of the coordinator's units and adds who
the patient is (name and personnummer from the latest message of the stay, never an address).
Every read is audited by the caller with the stays it showed (``worklist_read``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.deadlines import RuleBook
from bridge.domain.episodes import EpisodeStatus
from bridge.domain.model import CareTransitionEvent
from bridge.domain.organisations import Organisations, scope_units
from bridge.domain.worklist import WorklistItem, belongs_to, worklist
from bridge.service.care.episodes import load_facts
from bridge.service.clock import Clock
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import CareEpisodeRow, CoordinatorScopeRow, MessageRow


@dataclass(frozen=True)
class Identity:
    """Who the patient is, as a coordinator may see it: no address, ever."""

    name: str
    personnummer: str
    protected: bool
    system: str = ""
    """The identifier's FHIR system (personnummer, samordningsnummer, reservnummer)."""


@dataclass(frozen=True)
class WorklistRow:
    item: WorklistItem
    identity: Identity


@dataclass(frozen=True)
class CoordinatorScope:
    username: str
    organisation: str
    units: tuple[str, ...] = ()


class ScopeError(ValueError):
    """A coordinator cannot be bound as asked; the message says why."""


class Worklist:
    def __init__(
        self, db: Database, clock: Clock, rules: RuleBook, organisations: Organisations
    ) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self.organisations = organisations

    async def rows(self, scope: CoordinatorScope, unit: str | None = None) -> list[WorklistRow]:
        """The open stays of the scope's units (one unit when ``unit`` is given)."""
        allowed = scope_units(self.organisations, scope.organisation, scope.units)
        if unit:
            allowed = allowed & {unit}
        if not allowed:
            return []
        now = self._clock.now()
        async with self._db.session() as session:
            episodes = (
                await session.execute(
                    select(CareEpisodeRow.id, CareEpisodeRow.last_message_id).where(
                        CareEpisodeRow.status == EpisodeStatus.OPEN.value,
                        CareEpisodeRow.last_notice_at
                        >= now - timedelta(days=self._rules.watch_days),
                    )
                )
            ).all()
            stays = await load_facts(session, [row[0] for row in episodes])
            items = [
                item for item in worklist(stays, self._rules, now) if belongs_to(item, allowed)
            ]
            last = {row[0]: row[1] for row in episodes}
            identities = await _identities(
                session, {item.episode_id: last[item.episode_id] for item in items}
            )
        return [WorklistRow(item, identities[item.episode_id]) for item in items]

    async def scope(self, username: str) -> CoordinatorScope | None:
        async with self._db.session() as session:
            row = await session.get(CoordinatorScopeRow, username)
        if row is None:
            return None
        units = tuple(filter(None, row.units.split(",")))
        return CoordinatorScope(row.username, row.organisation, units)

    async def bind(
        self, username: str, organisation: str, units: tuple[str, ...], *, actor: str
    ) -> CoordinatorScope:
        """Bind a coordinator to an organisation (and some of its units); audited."""
        known = self.organisations.get(organisation)
        if known is None:
            raise ScopeError(
                f"unknown organisation {organisation!r} (BRIDGE_CARE_ORGANISATIONS_FILE)"
            )
        outside = sorted(set(units) - known.unit_ids)
        if outside:
            raise ScopeError(f"not units of {organisation}: {', '.join(outside)}")
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            row = await session.get(CoordinatorScopeRow, username)
            if row is None:
                row = CoordinatorScopeRow(username=username)
                session.add(row)
            row.organisation, row.units, row.updated_at = organisation, ",".join(units), now
            audit.record(
                session,
                at=now,
                action="coordinator_bound",
                actor=actor,
                user=username,
                organisation=organisation,
                units=list(units),
            )
        return CoordinatorScope(username, organisation, units)


async def _identities(session: AsyncSession, last_messages: dict[str, str]) -> dict[str, Identity]:
    found: dict[str, Identity] = {}
    ids = list(set(last_messages.values()))
    canonical: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(MessageRow.id, MessageRow.canonical).where(
                MessageRow.id.in_(ids[start : start + 500])
            )
        )
        canonical.update({row[0]: row[1] for row in rows})
    for episode_id, message_id in last_messages.items():
        found[episode_id] = _identity(canonical.get(message_id))
    return found


def _identity(canonical: str | None) -> Identity:
    if canonical is None:
        return Identity("", "", False)
    patient = CareTransitionEvent.model_validate_json(canonical).patient
    if patient is None:
        return Identity("", "", False)
    name = patient.name
    text = " ".join([*(name.given if name else ()), (name.family or "") if name else ""]).strip()
    identifier = patient.primary_identifier
    return Identity(text, identifier.value, patient.is_protected, identifier.system)


class OrganisationsFileError(ValueError):
    """The organisations file cannot be read or is wrong; the message names the field."""


def load_organisations(path: Path | None) -> Organisations:
    """The organisations file (YAML or JSON); none without a file."""
    if path is None:
        return Organisations()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OrganisationsFileError(f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise OrganisationsFileError(f"{path}: not YAML/JSON: {error}") from None
    try:
        return Organisations.model_validate(data or {})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise OrganisationsFileError(f"{path}: {where}: {first['msg']}") from None
