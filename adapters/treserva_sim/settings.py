"""Settings of the Treserva simulator: where it listens, where it files, how it misbehaves."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Faults(BaseModel):
    """Ways the simulator can be told to fail, for fault tests. All off by default.

    Changeable while running (``POST /api/faults``), hence mutable and validated on assignment.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share answered 500.")
    latency_ms: int = Field(default=0, ge=0, description="Delay before each notice is handled.")
    timeout: bool = Field(default=False, description="Hang, then answer 504; files nothing.")
    hang_seconds: float = Field(default=30.0, gt=0, description="How long `timeout` hangs.")
    outage: bool = Field(default=False, description="Answer 503 on the FHIR endpoint, healthz.")
    silent_drop: bool = Field(default=False, description="Answer 200 but file nothing.")


class FaultsUpdate(BaseModel):
    """A partial change to :class:`Faults`; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    latency_ms: int | None = Field(default=None, ge=0)
    timeout: bool | None = None
    hang_seconds: float | None = Field(default=None, gt=0)
    outage: bool | None = None
    silent_drop: bool | None = None

    def apply_to(self, faults: Faults) -> None:
        for name, value in self.model_dump(exclude_none=True).items():
            setattr(faults, name, value)


class TreservaSettings(BaseSettings):
    """Environment variables ``TRESERVA_SIM_*``; faults as ``TRESERVA_SIM_FAULTS__ERROR_RATE``."""

    model_config = SettingsConfigDict(env_prefix="TRESERVA_SIM_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    database_path: Path | None = Field(
        default=None, description="SQLite file for the inbox; None keeps it in memory."
    )
    seed: int | None = Field(default=None, description="Seed for the error_rate draws.")
    faults: Faults = Field(default_factory=Faults)
    bridge_url: str | None = Field(
        default=None,
        description="The bridge's FHIR base (e.g. http://127.0.0.1:8080/fhir): receipts and "
        "home-care enrolments go to its $process-message. None: nothing is sent.",
    )
    facility: str = Field(
        default="GOTLAND-SOF", description="MessageHeader.source.name of what it sends."
    )
    bridge_api_key: SecretStr | None = Field(
        default=None, description="Sent as X-API-Key to a bridge that takes only known senders."
    )
    bridge_ca_file: Path | None = Field(
        default=None, description="The CA of the bridge's HTTPS certificate (PEM)."
    )
    bridge_cert_file: Path | None = Field(
        default=None, description="Treserva's client certificate for the bridge (PEM)."
    )
    bridge_key_file: Path | None = Field(default=None, description="Its private key (PEM).")

    enrolment_rate_per_min: float = Field(
        default=0.0, ge=0.0, description="Home-care enrolments sent on their own; 0: on demand."
    )

    def bridge_tls(self) -> ssl.SSLContext | None:
        """TLS towards the bridge, with the client certificate when one is given."""
        if self.bridge_ca_file is None and self.bridge_cert_file is None:
            return None
        context = ssl.create_default_context(
            cafile=str(self.bridge_ca_file) if self.bridge_ca_file else None
        )
        if self.bridge_cert_file is not None:
            context.load_cert_chain(self.bridge_cert_file, self.bridge_key_file)
        return context
