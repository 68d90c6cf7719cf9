"""Settings: environment variables ``BRIDGE_*`` (pydantic-settings). None is needed to run."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    return f"sqlite:///{Path('var') / 'bridge.db'}"


class Settings(BaseSettings):
    """Everything the bridge reads from its environment.

    With no settings at all the bridge runs embedded: a SQLite file under ``./var`` and a durable
    queue inside it, routing TakeCare admissions to the Treserva simulator's default address.
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

    delivery_timeout_seconds: float = 10.0
    max_attempts: int = 12
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    relay_interval_seconds: float = 0.2
    lease_seconds: float = 60.0

    max_message_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_json: bool = True
    patient_key_secret: str = Field(
        default="bridge-default-pseudonym-key",
        description="Key for the pseudonymous patient key used for ordering and search.",
    )
