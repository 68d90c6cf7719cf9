"""How a verification reaches the provider: MLLP, HL7 v2 over HTTP, or AMQP with ``reply_to``.

Each transport sends one request and returns the provider's answer, or raises
:class:`NoAnswer` with a sentence saying what went wrong (refused, timed out, no reply).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import pika
from pika.exceptions import AMQPError

from bridge.connectors.mllp_client import MllpClient, MllpError

HL7_V2 = "application/hl7-v2"


class NoAnswer(Exception):
    """The provider gave no answer to read."""


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str = ""
    status: int | None = None


class Transport(Protocol):
    async def send(
        self, body: bytes, content_type: str, *, message_id: str | None = None
    ) -> Answer: ...


class MllpTransport:
    """``mllp://host:port``: one connection per example, so one failure cannot taint the next."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 2575
        self.timeout = timeout

    async def send(
        self, body: bytes, content_type: str, *, message_id: str | None = None
    ) -> Answer:
        client = MllpClient(self.host, self.port, timeout=self.timeout)
        try:
            return Answer(await client.send(body), HL7_V2)
        except MllpError as error:
            raise NoAnswer(f"MLLP {self.host}:{self.port}: {error}") from error
        finally:
            await client.close()


class HttpTransport:
    """POSTs to one URL (``…/hl7v2``) and returns status and body."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self._client = client

    async def send(
        self, body: bytes, content_type: str, *, message_id: str | None = None
    ) -> Answer:
        try:
            response = await self._client.post(
                self.url, content=body, headers={"Content-Type": content_type}
            )
        except httpx.HTTPError as error:
            raise NoAnswer(f"HTTP {self.url}: {type(error).__name__} {error}") from error
        kind = response.headers.get("content-type", "")
        return Answer(response.content, kind, response.status_code)


class AmqpTransport:
    """Publishes to the inbound exchange with ``reply_to`` and waits for the application ACK.

    pika, not aio-pika: aio-pika's protocol layer gives every message a ``message_id``, and a
    message without one is exactly what one of the AMQP contract's cases sends.
    """

    def __init__(self, url: str, exchange: str, timeout: float) -> None:
        self._parameters = pika.URLParameters(url)
        self._parameters.connection_attempts = 1
        self._parameters.socket_timeout = timeout
        self._parameters.client_properties = {"connection_name": _name()}
        self._exchange = exchange
        self._timeout = timeout

    async def send(
        self, body: bytes, content_type: str, *, message_id: str | None = None
    ) -> Answer:
        return await asyncio.to_thread(self._exchange_one, body, content_type, message_id)

    def _exchange_one(self, body: bytes, content_type: str, message_id: str | None) -> Answer:
        try:
            connection = pika.BlockingConnection(self._parameters)
        except AMQPError as error:
            raise NoAnswer(f"cannot connect to the broker: {type(error).__name__}") from error
        try:
            channel = connection.channel()
            reply_to = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            properties = pika.BasicProperties(
                content_type=content_type,
                message_id=message_id,
                reply_to=reply_to,
                app_id="bridge-contract-verify",
            )
            channel.basic_publish(self._exchange, "contract.verify", body, properties)
            for method, reply, reply_body in channel.consume(
                reply_to, auto_ack=True, inactivity_timeout=self._timeout
            ):
                if method is None:
                    break
                return Answer(reply_body, reply.content_type or "")
            raise NoAnswer(f"no reply on reply_to within {self._timeout:.0f} s")
        except AMQPError as error:
            raise NoAnswer(f"AMQP: {type(error).__name__} {error}") from error
        finally:
            if connection.is_open:
                connection.close()


def _name() -> str:
    return f"bridge-contract-verify-{uuid.uuid4().hex[:8]}"
