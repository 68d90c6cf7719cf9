"""Settings: environment variables ``BRIDGE_*`` (pydantic-settings). None is needed to run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.store.db import DEMO_AUDIT_KEY

DEMO_PATIENT_KEY = "bridge-demo-pseudonym-key"


def missing_secrets(settings: Settings) -> None:
    """Raise naming every secret a production database (not SQLite) needs and lacks."""
    if settings.database_url.startswith("sqlite"):
        return
    missing = [
        name
        for name, value in (
            ("BRIDGE_PATIENT_KEY_SECRET", settings.patient_key_secret),
            ("BRIDGE_AUDIT_KEY", settings.audit_key),
        )
        if value is None or not value.get_secret_value().strip()
    ]
    if missing:
        raise ValueError(
            f"{' and '.join(missing)} must be set when the database is not the embedded SQLite "
            "demo: without them the patient key could be inverted and the audit chain rewritten "
            "(docs/security.md)"
        )


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
    # by field. Only the maximum age ends retries (docs/delivery.md).
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Deprecated and ignored (a warning at start-up): attempts no longer end "
        "retries; only BRIDGE_MAX_AGE_SECONDS does.",
    )
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest wait between two attempts of one notice: a destination that "
        "recovers is tried again within this long.",
    )
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
    # Resource limits (docs/security.md, "Resource limits and error classification").
    mllp_max_connections: int = Field(default=256, ge=1, description="Open MLLP connections.")
    mllp_max_connections_per_peer: int = Field(
        default=64, ge=1, description="Open MLLP connections from one address."
    )
    mllp_frame_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A frame must complete this long after its first byte."
    )
    mllp_idle_timeout_seconds: float = Field(
        default=300.0, gt=0, description="An MLLP connection with no message for this long closes."
    )
    http_max_connections: int = Field(default=256, ge=1, description="Open HTTP connections.")
    http_header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Request headers must arrive within this long."
    )
    http_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request body not complete this long after: 408."
    )
    log_level: str = "INFO"
    log_json: bool = True
    patient_key_secret: SecretStr | None = Field(
        default=None,
        description="Key for the pseudonymous patient key used for ordering and search; "
        "required outside the embedded demo (docs/security.md).",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the audit hash chain and its witness lines; never stored in "
        "the database; required outside the embedded demo (docs/security.md).",
    )
    # Audit anchoring (docs/security.md): the chain head exported outside the database.
    audit_witness_file: Path | None = Field(
        default=None, description="Append-only JSON-lines file the chain head is written to."
    )
    audit_witness_syslog: str | None = Field(
        default=None,
        description="Syslog target for the chain head: host:port (UDP) or a socket path.",
    )
    audit_witness_webhook_url: str | None = Field(
        default=None, description="URL the chain head is POSTed to as JSON."
    )
    audit_witness_webhook_secret: SecretStr | None = Field(
        default=None, description="Sent as a bearer token with each witness webhook call."
    )
    audit_witness_interval_seconds: float = Field(default=60.0, gt=0)

    # Operations: alerts (docs/operations.md). No channel set: alerts go to the log only.
    alert_webhook_url: str | None = None
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    alert_smtp_host: str | None = None
    alert_smtp_port: int = 25
    alert_smtp_from: str = "bridge@localhost"
    alert_smtp_to: str = Field(default="", description="Comma-separated recipients.")
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_starttls: bool = False
    alert_check_interval_seconds: float = Field(default=10.0, gt=0)
    alert_destination_failing_seconds: float = Field(
        default=30.0,
        ge=0,
        description="A destination failing this long is an incident (alerted within this plus "
        "one check interval).",
    )
    alert_repeat_seconds: float = Field(
        default=1800.0, gt=0, description="An incident still open is told again this often."
    )
    alert_dead_letter_quiet_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A dead-letter group's incident is resolved once none of it has been left "
        "this long (a replay that fails again stays one incident).",
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

    routing_reload_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often `bridge serve` looks for a `bridge routes reload` request.",
    )

    # Legal deadlines and collaboration deviations (docs/deadlines.md).
    deadline_rules_file: Path | None = Field(
        default=None,
        description="YAML/JSON file overriding the legal deadline rules (docs/deadlines.md); "
        "unset: the defaults from the law.",
    )
    deadline_check_interval_seconds: float = Field(default=60.0, gt=0)
    care_organisations_file: Path | None = Field(
        default=None,
        description="YAML/JSON file naming organisations, their care units and each unit's "
        "deviation inbox (docs/coordinators.md); unset: coordinators see nothing.",
    )

    # Inbound identity (docs/security.md): TLS with client certificates on MLLP and HTTP
    # ingestion, bearer tokens and API keys on HTTP, per-source users on AMQP.
    tls_cert_file: Path | None = Field(
        default=None, description="Server certificate (PEM) for MLLP and HTTP: set turns TLS on."
    )
    tls_key_file: Path | None = Field(default=None, description="The server certificate's key.")
    tls_ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) that client certificates must chain to."
    )
    tls_require_client_cert: bool = Field(
        default=True,
        description="MLLP and HTTP ingestion demand a client certificate (mTLS); HTTP without "
        "it falls back to bearer tokens or API keys.",
    )
    tls_client_identity: Literal["cn", "serial_number", "san"] = Field(
        default="cn",
        description="Which part of a client certificate names the sender: subject CN, subject "
        "serialNumber (SITHS/EFOS HSA-id) or subjectAltName (any DNS/URI/email entry).",
    )
    mllp_tls: bool = Field(default=True, description="MLLP uses TLS when a certificate is set.")
    http_tls: bool = Field(default=True, description="HTTP uses TLS when a certificate is set.")
    oauth_issuer: str | None = Field(
        default=None, description="Issuer (iss) of accepted bearer tokens; set turns them on."
    )
    oauth_audience: str | None = Field(default=None, description="Required audience (aud).")
    oauth_jwks_url: str | None = Field(default=None, description="The issuer's JWKS URL.")
    oauth_client_claim: str = Field(
        default="client_id",
        description="Claim naming the client (falls back to azp, then sub).",
    )
    oauth_algorithms: str = Field(default="RS256,PS256,ES256", description="Comma-separated.")
    amqp_require_user_id: bool = Field(
        default=False,
        description="AMQP messages must carry user_id (RabbitMQ checks it against the "
        "connection's user); the user must be one a source lists in senders.amqp_users.",
    )
    ops_host: str = Field(default="127.0.0.1", description="Bind address of the ops listener.")
    ops_port: int | None = Field(
        default=None,
        description="Port of the operations listener (/ops, /metrics, /healthz, /readyz); unset: "
        "operations share the ingestion port (embedded demo only).",
    )
    allow_unauthenticated_ingestion: bool = Field(
        default=False,
        description="Let a production bridge take messages from unauthenticated senders "
        "(loudly warned); the embedded demo does so without this.",
    )

    @model_validator(mode="after")
    def _production_secrets_set(self) -> Settings:
        """Outside the embedded demo a public default key would make the patient key invertible
        and the audit chain rewritable: refuse to start instead (docs/security.md)."""
        missing_secrets(self)
        return self

    @property
    def patient_key(self) -> str:
        """The pseudonym key; the demo default only for the embedded SQLite database."""
        if self.patient_key_secret is not None:
            return self.patient_key_secret.get_secret_value()
        return DEMO_PATIENT_KEY

    @property
    def audit_key_bytes(self) -> bytes:
        """The audit chain's HMAC key; the demo default only for the embedded database."""
        if self.audit_key is not None:
            return self.audit_key.get_secret_value().encode()
        return DEMO_AUDIT_KEY

    # Retention (service/operations/retention.py, docs/operations.md): days each data class is
    # kept before its text is pruned; 0 keeps it for ever. The audit log is never pruned.
    retention_payloads_days: float = Field(default=90.0, ge=0)
    retention_canonical_days: float = Field(default=90.0, ge=0)
    retention_outbound_days: float = Field(default=90.0, ge=0)
    retention_outcomes_days: float = Field(default=90.0, ge=0)
    retention_interval_seconds: float = Field(
        default=86_400.0, ge=0, description="How often serve prunes; 0: never (bridge prune)."
    )
    # Home-care orders (docs/orders.md): how long the municipality has to answer, and how often
    # unanswered orders are looked for. Working days (Monday–Friday) win over hours when set.
    order_answer_hours: float = Field(default=48.0, gt=0)
    order_answer_working_days: int | None = Field(default=None, ge=1)
    order_check_interval_seconds: float = Field(default=60.0, gt=0)

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
