"""What a contract file says, as pydantic models (the files are YAML; see contracts/README.md).

Two kinds of file:

- ``hl7v2-examples``: HL7 v2 request → expected ACK, with matching rules (MSA-1 code, MSA-2
  echoing MSH-10, the ERR location and code, words in the error text), plus the fields the
  receiving side needs in every message of the event. Verified over MLLP, HTTP and AMQP.
- ``fhir-pact``: FHIR messaging interactions (HTTP request → response, bodies in Pact's
  integration JSON, matchers included). Turned into Pact V4 files and verified with Pact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CONTRACT_VERSION = "1.0.0"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RequiredField(_Strict):
    """A field the receiving side needs in every message of this event, and why."""

    field: str = Field(pattern=r"^[A-Z][A-Z0-9]{2}(-\d{1,3}(-\d{1,3})?)?$")
    why: str


class AckExpectation(_Strict):
    """Matching rules for the answer to one HL7 v2 example."""

    ack: Literal["AA", "AE", "AR", "CA", "CE", "CR"]
    control_id: Literal["echo", "any"] = Field(
        default="echo", description="echo: MSA-2 must equal the request's MSH-10."
    )
    error_location: str | None = Field(
        default=None, description="ERR location as SEG-field, e.g. PID-3 (ERR-2, or ERR-1)."
    )
    error_code: str | None = Field(default=None, description="HL7 table 0357 code in ERR.")
    text_contains: str | None = Field(default=None, description="Words the error text holds.")


class Hl7Example(_Strict):
    """One message (the contract's base message with edits) and the answer it must get."""

    name: str
    set: dict[str, str] = Field(default_factory=dict, description="SEG-n or SEG-n-c → value")
    remove: tuple[str, ...] = Field(default=(), description="Segments to leave out.")
    sends: int = Field(default=1, ge=1, le=5, description="Send it this many times (repeats).")
    keep_control_id: bool = Field(
        default=False, description="Keep MSH-10 as written instead of a fresh one per run."
    )
    expect: AckExpectation


class Hl7Contract(_Strict):
    kind: Literal["hl7v2-examples"]
    contract: str
    version: str = CONTRACT_VERSION
    consumer: str
    provider: str
    event: str
    trigger: str
    description: str
    message: str = Field(description="The base message, relative to the contract file.")
    pending: bool = False
    requires: tuple[RequiredField, ...] = ()
    examples: tuple[Hl7Example, ...] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)


class HttpRequestSpec(_Strict):
    method: Literal["POST", "GET"] = "POST"
    path: str = "/$process-message"
    headers: dict[str, str] = Field(default_factory=dict)
    body_file: str | None = Field(default=None, description="JSON example, relative path.")
    set: dict[str, Any] = Field(default_factory=dict, description="JSON path → new value")
    delete: tuple[str, ...] = ()
    match: Literal["exact", "type"] = Field(
        default="exact", description="type: a consumer may send other values of the same type."
    )
    exact: tuple[str, ...] = Field(
        default=(), description="With match: type, paths whose values must still be equal."
    )


class HttpResponseSpec(_Strict):
    status: int = Field(ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


class FhirInteraction(_Strict):
    description: str
    pending: bool = False
    request: HttpRequestSpec
    response: HttpResponseSpec


class FhirContract(_Strict):
    kind: Literal["fhir-pact"]
    contract: str
    version: str = CONTRACT_VERSION
    consumer: str
    provider: str
    event: str
    description: str
    interactions: tuple[FhirInteraction, ...] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)


class AmqpReplyExpectation(_Strict):
    content_type: str
    outcome: str | None = Field(default=None, description="The JSON reply's outcome field.")
    reason_contains: str | None = None


class AmqpCase(_Strict):
    """A message the AMQP binding itself must refuse, whatever its body."""

    name: str
    content_type: str
    message_id: str | None = Field(default="fresh", description="fresh: a new id; null: none.")
    body_from: Literal["hl7v2"] = "hl7v2"
    expect: AmqpReplyExpectation


class AmqpBinding(_Strict):
    """The AMQP interface: its own rules, and which message contracts it carries."""

    kind: Literal["amqp-binding"]
    contract: str
    version: str = CONTRACT_VERSION
    consumer: str
    provider: str
    description: str
    exchange: str = "bridge.inbound"
    carries: tuple[Literal["hl7v2", "fhir"], ...] = ("hl7v2", "fhir")
    cases: tuple[AmqpCase, ...] = ()
    path: Path | None = Field(default=None, exclude=True)


AnyContract = Hl7Contract | FhirContract | AmqpBinding
Contract = Annotated[AnyContract, Field(discriminator="kind")]
