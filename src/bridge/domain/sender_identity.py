"""Who is sending, and whether they may send under the name their message gives. Pure.

An entrypoint that authenticated its peer (a client certificate, a bearer token, an API key, the
AMQP ``user_id`` the broker vouches for) hands a :class:`PeerIdentity` with the message. Each
source in the routing file lists, in ``senders``, the identities allowed to send as it; a message
whose sending facility/application (HL7 MSH-3/MSH-4, FHIR ``MessageHeader.source``) belongs to
another source, or to none, is refused (:func:`sender_refusal`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, StringConstraints

from bridge.domain.errors import MessageRejected

if TYPE_CHECKING:
    from bridge.domain.model import MessageOrigin

IdentityKind = Literal["certificate", "token", "api-key", "amqp-user"]
FORBIDDEN = "forbidden"
"""The :class:`MessageRejected` code of a refused sender (HL7 AR, HTTP 403)."""

API_KEY_MIN_LENGTH = 32
_HASH_PREFIX = "sha256:"

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
KeyHash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


@dataclass(frozen=True)
class PeerIdentity:
    """An authenticated sender. ``names``: every name it goes by (a certificate's subject
    alternative names are several); the first is the one logs show."""

    kind: IdentityKind
    names: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind} {self.names[0] if self.names else '?'}"


class ApiKeyEntry(BaseModel):
    """One API key of a source: its public id and the hash of the key (never the key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: KeyId
    hash: KeyHash


class Senders(BaseModel):
    """The identities allowed to send as one source (routing file: ``sources[].senders``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    certificates: tuple[Label, ...] = ()
    clients: tuple[Label, ...] = ()
    api_keys: tuple[ApiKeyEntry, ...] = ()
    amqp_users: tuple[Label, ...] = ()

    def allows(self, identity: PeerIdentity) -> bool:
        allowed = {
            "certificate": self.certificates,
            "token": self.clients,
            "api-key": tuple(key.id for key in self.api_keys),
            "amqp-user": self.amqp_users,
        }[identity.kind]
        # Certificate names compare without regard to case (DNS names, CNs); the others exactly.
        if identity.kind == "certificate":
            wanted = {name.casefold() for name in allowed}
            return any(name.casefold() in wanted for name in identity.names)
        return any(name in allowed for name in identity.names)


class NamedSource(Protocol):
    """What :func:`sender_refusal` needs of a routing-file source."""

    @property
    def name(self) -> str: ...

    @property
    def senders(self) -> Senders: ...


def hash_api_key(key: str) -> str:
    """The form stored in the routing file. API keys are random (``bridge keys new``: 256 bits),
    so one SHA-256 suffices and costs nothing per request; a slow hash protects guessable
    passwords, which an API key must not be."""
    return _HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def api_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)


def sender_refusal(
    identity: PeerIdentity | None,
    origin: MessageOrigin,
    claimed: NamedSource | None,
    *,
    hl7: bool,
) -> MessageRejected | None:
    """Why this sender may not send this message; None when it may.

    ``claimed``: the source the message's own sender names belong to (None: no source claims
    them). Without an identity (ingestion left open, embedded demo only) nothing is checked.
    """
    if identity is None:
        return None
    if claimed is not None and claimed.senders.allows(identity):
        return None
    if hl7:
        location = "MSH-4"
        names = f"MSH-3/MSH-4 {origin.sending_application or ''}/{origin.sending_facility}"
    else:
        location = "MessageHeader.source"
        names = f"MessageHeader.source {origin.sending_facility}"
    belongs = f"belongs to source {claimed.name!r}" if claimed else "names no known source"
    reason = f"{names} {belongs}; the authenticated sender ({identity}) may not send as it"
    return MessageRejected(reason, location, FORBIDDEN)
