"""Database schema (SQLAlchemy 2 declarative). Alembic migrations in ``store/migrations`` create it.

Tables:
- ``messages``: every accepted inbound message, its canonical form and its dedupe key.
- ``deliveries``: the outbox — one row per (message, destination), with the idempotency key,
  the encoded payload, the per-patient sequence and the delivery state.
- ``delivery_attempts``: every attempt to deliver, with outcome and error.
- ``receipts``: every receipt a receiving system sent back, matched to its delivery.
- ``alert_outbox``: alerts waiting to be handed to the alerting port (raise or resolve).
- ``audit_log``: append-only record of every state change and action.
- ``audit_chain_head``, ``ops_users``, ``ops_secrets``, ``alert_incidents``: operations (the
  audit hash chain's head, dashboard users, shared secrets, one row per alert incident).
- ``care_episodes``, ``care_episode_notices``, ``homecare_enrolments``, ``deviations``,
  ``deviation_notes``: hospital stays followed through their notices, home-care enrolments per
  system, collaboration deviations and what people wrote on them (docs/deadlines.md).
- ``homecare_orders``: home-care orders, their answers, deadlines and reminders (docs/orders.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    false,
    insert,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC times on both databases (SQLite keeps no offset: store UTC, re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    source: Mapped[str] = mapped_column(String(64))
    entrypoint: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(64))
    event_code: Mapped[str] = mapped_column(String(64), index=True)
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    patient_masked: Mapped[str] = mapped_column(String(32))
    protected: Mapped[bool] = mapped_column(default=False)
    # Restriction codes the bridge did not recognise (the person was treated as protected):
    # a flag for operators (docs/security.md, "Protected identity").
    unrecognised_restriction: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    canonical: Mapped[str] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(index=True)


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("destination", "patient_key", "seq", name="uq_deliveries_order"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        # The relay's claim per destination while another destination's breaker is open.
        Index("ix_deliveries_destination_due", "destination", "status", "next_attempt_at"),
        Index("ix_deliveries_receipt_due", "receipt_state", "receipt_due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    patient_key: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The id a receipt names: the outbound MessageHeader.id (FHIR) or MSH-10 (HL7 v2).
    header_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Retry window: max age and max attempts count from here (creation, or the last replay).
    window_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts_before_window: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dead_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(nullable=True)
    discard_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Receipts: None (the destination sends none), awaiting, received, negative, unreceipted.
    receipt_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    receipt_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    receipted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    receipt_code: Mapped[str | None] = mapped_column(String(32), nullable=True)


class DeliveryAttemptRow(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReceiptRow(Base):
    """Every receipt received, matched to its delivery or not (an unknown id is kept too)."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    responds_to: Mapped[str] = mapped_column(String(64), index=True)
    delivery_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    code: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column()


class AlertOutboxRow(Base):
    """Alerts to raise or resolve, written in the transaction of the change that causes them.

    A sweeper hands them to the alerting port and marks them sent, so an alert is not lost when
    the process dies right after the commit (the port makes repeats one message per incident).
    """

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    message_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    delivery_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    # The hash chain (service/operations/audit.py): position, the previous row's hash, this
    # row's hash.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class InboundSeenRow(Base):
    """Transport-level ids already accepted (AMQP message_id), for redelivery after a crash."""

    __tablename__ = "inbound_seen"
    __table_args__ = (UniqueConstraint("channel", "transport_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    transport_id: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(36))


class AuditChainHeadRow(Base):
    """The audit hash chain's head: one row, locked by every append
    (service/operations/audit.py)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))
    # Rows from this seq on are keyed (HMAC); older ones kept their plain hashes (migration 0009).
    keyed_from_seq: Mapped[int] = mapped_column(BigInteger, server_default="1", default=1)


@event.listens_for(AuditChainHeadRow.__table__, "after_create")
def _chain_genesis(target: Any, connection: Any, **_: Any) -> None:
    """A schema made with ``create_all`` (tests) starts its chain like the migration does."""
    connection.execute(insert(target).values(id=1, seq=0, row_hash="0" * 64))


class UserRow(Base):
    """A person who signs in to the ops dashboard; ``role`` is viewer, operator or admin."""

    __tablename__ = "ops_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class OpsSecretRow(Base):
    """Secrets every bridge process must share (no longer the session key: that comes from
    BRIDGE_SESSION_SECRET)."""

    __tablename__ = "ops_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column()


class OpsSessionRow(Base):
    """A signed-in session of the ops dashboard; deleting the row revokes its cookie
    (entrypoints/ops/security.py). ``id`` is the SHA-256 of the cookie's nonce."""

    __tablename__ = "ops_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    via: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AlertIncidentRow(Base):
    """One incident per key while it is open: the alert and the recovery are sent once each.

    The partial unique index makes "open an incident" a race one process wins, whichever
    processes see the problem at the same time (service/operations/alerts.py).
    """

    __tablename__ = "alert_incidents"
    __table_args__ = (
        Index(
            "uq_alert_incidents_open",
            "key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_alert_incidents_unsent", "notify_state", "notify_after"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    alert_sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    recovery_sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # What the notifier owes: "alert", "recovery" or "none"; retried from notify_after on.
    notify_state: Mapped[str] = mapped_column(String(16))
    notify_after: Mapped[datetime] = mapped_column()
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_notify_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Channels (log, webhook, smtp) that already took the notice now owed, comma-separated.
    channels_done: Mapped[str] = mapped_column(String(200), default="")


# --- care episodes, deadlines and deviations
# (migration 0004; service/care/episodes.py, deviations.py)


class CareEpisodeRow(Base):
    """A hospital stay followed through its notices; the deadline check watches it until it is
    ``settled`` or its last notice is older than the rule book's ``watch_days``."""

    __tablename__ = "care_episodes"
    __table_args__ = (
        UniqueConstraint("patient_key", "visit_number", name="uq_care_episodes_visit"),
        Index("ix_care_episodes_watch", "settled", "last_notice_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    patient_masked: Mapped[str] = mapped_column(String(32))
    visit_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    primary_care_hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    primary_care_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    unit_hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unit_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    admitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    discharged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    last_notice_at: Mapped[datetime] = mapped_column()
    last_message_id: Mapped[str] = mapped_column(String(36))
    settled: Mapped[bool] = mapped_column(default=False)


class EpisodeNoticeRow(Base):
    """One accepted notice of an episode: what it said about the stay (delivery and receipt
    times stay on its ``deliveries`` rows)."""

    __tablename__ = "care_episode_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("care_episodes.id"), index=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), unique=True)
    event_code: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column()
    occurred_at: Mapped[datetime | None] = mapped_column(nullable=True)
    admitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    discharged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    unit_hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unit_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    class_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    admission_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    care_needs: Mapped[bool] = mapped_column(default=False, server_default=false())
    parties: Mapped[str] = mapped_column(String(64), default="")


class HomeCareEnrolmentRow(Base):
    """A home-care enrolment as one system (a routing source) reported it."""

    __tablename__ = "homecare_enrolments"
    __table_args__ = (
        UniqueConstraint(
            "system", "patient_key", "enrolment_id", name="uq_homecare_enrolments_once"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    enrolment_id: Mapped[str] = mapped_column(String(64))
    unit_hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unit_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_message_id: Mapped[str] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column()


class HomeCareOrderRow(Base):
    """A home-care order (beställning) and its answer: the state its deadline is judged by
    (docs/orders.md). One row per requesting unit and order id."""

    __tablename__ = "homecare_orders"
    __table_args__ = (
        UniqueConstraint("requester_key", "order_id", name="uq_homecare_orders_once"),
        Index("ix_homecare_orders_due", "status", "deadline_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requester_key: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[str] = mapped_column(String(64))
    requester_hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    requester_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    service: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    patient_masked: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime] = mapped_column(index=True)
    deadline_at: Mapped[datetime | None] = mapped_column(nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    order_message_id: Mapped[str] = mapped_column(String(36))
    answer_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    updated_at: Mapped[datetime] = mapped_column()


class DeviationRow(Base):
    """A collaboration deviation (avvikelse i samverkan): one per episode, rule and subject,
    which is what makes its alert go out exactly once."""

    __tablename__ = "deviations"
    __table_args__ = (
        UniqueConstraint("episode_id", "rule_id", "subject", name="uq_deviations_once"),
        Index("ix_deviations_status", "status", "detected_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("care_episodes.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(120), default="")
    rule_title: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    failed_step: Mapped[str] = mapped_column(String(16))
    responsible: Mapped[str] = mapped_column(String(16))
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    patient_masked: Mapped[str] = mapped_column(String(32))
    sending_unit_hsa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sending_unit_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    receivers: Mapped[str] = mapped_column(String(200), default="")
    anchor_at: Mapped[datetime] = mapped_column()
    deadline_at: Mapped[datetime] = mapped_column()
    done_at: Mapped[datetime | None] = mapped_column(nullable=True)
    late_by_seconds: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    close_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    alert_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    updated_at: Mapped[datetime] = mapped_column()


class DeviationNoteRow(Base):
    """A person's comment on a deviation, or its closing or reopening, with who and why."""

    __tablename__ = "deviation_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deviation_id: Mapped[str] = mapped_column(ForeignKey("deviations.id"), index=True)
    at: Mapped[datetime] = mapped_column()
    author: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)


class MessageOutcomeRow(Base):
    """An answered message that is not in ``messages``: filtered (acknowledged, forwarded
    nowhere, with the rule that decided) or rejected (with the reason and the payload, its
    personnummer and addresses masked). Written by service/operations/message_outcomes.py."""

    __tablename__ = "message_outcomes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(64))
    entrypoint: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(64))
    sending_facility: Mapped[str | None] = mapped_column(String(200), nullable=True)
    control_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    message_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    location: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    payload_masked: Mapped[str] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(String(64))


class ApplicationAckRow(Base):
    """An HL7 v2 application acknowledgement (enhanced mode, MSH-16) owed to a sender.

    ``waiting``: for the message's deliveries to be receipted or to fail for good; ``due``: to
    be sent to ``return_address``; then ``sent``, ``failed`` (gave up) or ``not_wanted`` (MSH-16
    does not ask for this outcome). Written by service/delivery/application_acks.py.
    """

    __tablename__ = "application_acks"
    __table_args__ = (Index("ix_application_acks_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    source: Mapped[str] = mapped_column(String(64))
    header: Mapped[str] = mapped_column(Text)
    return_address: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(2), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    next_attempt_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


def table_of(row: type[Base]) -> Table:
    """A mapped class's table, typed for Core statements."""
    return cast(Table, row.__table__)


# --- destination pauses and routing reloads (migration 0011; service/delivery/pauses.py,
# service/operations/routing_reload.py)


class DestinationPauseRow(Base):
    """A destination an operator paused: its notices wait (no attempts, no dead letters)
    until it is resumed. One row per paused destination; resuming deletes it."""

    __tablename__ = "destination_pauses"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column()
    paused_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class RoutingReloadRow(Base):
    """A request to reload the routing file (``bridge routes reload``); every serve process
    polls for a newer one and reloads its own file."""

    __tablename__ = "routing_reloads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    requested_at: Mapped[datetime] = mapped_column()
    requested_by: Mapped[str] = mapped_column(String(64))


class CoordinatorScopeRow(Base):
    """What a coordinator may see: one organisation (docs/coordinators.md), optionally only
    some of its units (HSA-ids, comma-separated; empty: all of them)."""

    __tablename__ = "coordinator_scopes"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(64))
    units: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column()


class ReportedDeviationRow(Base):
    """A collaboration deviation reported by a person (the automatic ones are ``deviations``)."""

    __tablename__ = "reported_deviations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    responsible_unit_hsa_id: Mapped[str] = mapped_column(String(64), index=True)
    responsible_unit_name: Mapped[str] = mapped_column(String(200), default="")
    episode_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    patient_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    patient_masked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    description: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    inbox: Mapped[str | None] = mapped_column(String(64), nullable=True)
    alert_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
