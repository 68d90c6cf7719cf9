"""Settings: environment variables ``BRIDGE_*`` (pydantic-settings). None is needed to run."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    return f"sqlite:///{Path('var') / 'bridge.db'}"


class Settings(BaseSettings):
    """Everything the bridge reads from its environment.

    With no settings at all the bridge runs embedded: a SQLite file under ``./var`` whose outbox is
    the delivery queue, routing TakeCare admissions to the Treserva simulator's default address.
    """

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", env_file=".env", extra="ignore")

    database_url: str = Field(default_factory=_default_database_url)
    broker_url: str | None = None
    broker_prefix: str = "bridge"
    routing_file: Path | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    amqp_inbound: bool = True
    inbound_exchange: str = "bridge.inbound"
    inbound_queue: str = "bridge.inbound"

    treserva_url: str = "http://127.0.0.1:8081/fhir"
    public_base_url: str = "http://127.0.0.1:8080"
    source_name: str = "bridge"
    hl7_application: str = Field(
        default="BRIDGE", description="MSH-3 of every HL7 v2 ACK the bridge answers with."
    )
    hl7_facility: str = Field(
        default="REGION-GOTLAND", description="MSH-4 of every HL7 v2 ACK the bridge answers with."
    )
    application_ack_interval_seconds: float = Field(default=1.0, gt=0)

    delivery_timeout_seconds: float = 10.0
    # Retry policy defaults; a destination's `retry` in the routing file overrides them field
    # by field.
    max_attempts: int = Field(default=12, ge=1)
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    max_age_seconds: float = Field(
        default=86_400.0, gt=0, description="Transient failures for longer than this: dead."
    )
    receipt_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Default receipt timeout of destinations that do not set their own; "
        "None: receipts are not expected.",
    )
    receipt_check_interval_seconds: float = Field(default=5.0, gt=0)
    alert_interval_seconds: float = Field(default=2.0, gt=0)
    relay_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the relay looks for deliveries that came due by themselves (a "
        "retry's backoff ran out); accepts and settled deliveries wake it at once.",
    )
    accept_batch_max: int = Field(
        default=64,
        ge=1,
        description="Most messages one accept transaction carries (group commit).",
    )
    delivery_concurrency: int = Field(
        default=32,
        ge=1,
        description="Deliveries one process sends at once (different patients; each patient's "
        "notices go one at a time).",
    )
    destination_probe_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="While a destination fails, one notice probes it at most this far apart; "
        "the others wait instead of each retrying on its own (docs/delivery.md).",
    )
    relay_max_queued: int = Field(
        default=2000,
        ge=1,
        description="Deliveries handed to the broker and not yet taken by a worker, at most; "
        "the rest wait in the outbox, so no task outlives its queue lease in a deep queue.",
    )
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker holds a delivery it is sending; must exceed the "
        "delivery timeout.",
    )
    queue_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a delivery handed to the broker may wait there before it is "
        "released again (a safety net for a task lost with its process).",
    )

    max_message_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_json: bool = True
    patient_key_secret: str = Field(
        default="bridge-default-pseudonym-key",
        description="Key for the pseudonymous patient key used for ordering and search.",
    )

    # Operations: alerts (docs/operations.md). No channel set: alerts go to the log only.
    alert_webhook_url: str | None = None
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    alert_smtp_host: str | None = None
    alert_smtp_port: int = 25
    alert_smtp_from: str = "bridge@localhost"
    alert_smtp_to: str = Field(default="", description="Comma-separated recipients.")
    alert_smtp_username: str | None = None
    alert_smtp_password: str | None = None
    alert_smtp_starttls: bool = False
    alert_check_interval_seconds: float = Field(default=10.0, gt=0)
    alert_destination_failing_seconds: float = Field(
        default=300.0, ge=0, description="A destination failing this long is an incident."
    )
    alert_unreachable_seconds: float = Field(
        default=60.0, ge=0, description="The database or broker unreachable this long."
    )
    alert_retry_seconds: float = Field(default=15.0, gt=0)
    # Operations: the dashboard's sign-in and sessions (docs/security.md).
    session_secret: SecretStr | None = Field(
        default=None,
        description="Session signing keys, comma-separated, newest first: the first signs, the "
        "others still verify (rotation). Required with PostgreSQL; embedded: generated per run.",
    )
    ops_secret_key: SecretStr | None = Field(
        default=None, description="Former name of BRIDGE_SESSION_SECRET (used when that is unset)."
    )
    ops_session_hours: float = Field(default=8.0, gt=0)
    sign_in_limit_user: str = Field(
        default="5/15 minutes",
        description="Failed sign-ins per user name before a lockout (`limits` notation).",
    )
    sign_in_limit_address: str = Field(
        default="20/15 minutes",
        description="Failed sign-ins per client address before a lockout (`limits` notation).",
    )
    sign_in_limit_storage: str = Field(
        default="async+memory://",
        description="Where the counters live (`limits` storage URI); memory: per process.",
    )
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect issuer URL; set: sign-in with it is offered."
    )
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid profile"
    oidc_username_claim: str = "preferred_username"
    oidc_role_claim: str = "roles"
    oidc_role_map: str = Field(
        default="",
        description="Claim value to bridge role, comma-separated `value=role` (viewer, operator, "
        "admin); a person with no mapped value is refused.",
    )
    oidc_display_name: str = "the region's identity provider"

    # Legal deadlines and collaboration deviations (docs/deadlines.md).
    deadline_rules_file: Path | None = Field(
        default=None,
        description="YAML/JSON file overriding the legal deadline rules (docs/deadlines.md); "
        "unset: the defaults from the law.",
    )
    deadline_check_interval_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _lease_outlasts_a_delivery(self) -> Settings:
        """A lease that ran out while its worker still waits on the receiver would let a second
        worker send the same notice, and a later one of the patient's, before the first answer."""
        if self.lease_seconds <= self.delivery_timeout_seconds:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must exceed delivery_timeout_seconds "
                f"({self.delivery_timeout_seconds})"
            )
        return self
