"""Where alerts go: the log always, a webhook and e-mail when configured (docs/operations.md).

A channel's ``notify`` raises when it did not take the notice; the alerting port retries it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import smtplib
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)

FIRING = "firing"
RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertNotice:
    """What a person is told: the JSON body of a webhook call, the text of an e-mail."""

    status: str  # firing | resolved
    key: str
    kind: str
    summary: str
    detail: dict[str, Any]
    opened_at: str
    resolved_at: str | None
    incident: int | None
    source: str
    resolution: str | None = None
    repeat: bool = False  # a reminder of an incident still open, not a new one

    def subject(self) -> str:
        word = "ALERT" if self.status == FIRING else "RESOLVED"
        if self.repeat:
            word = "STILL FIRING"
        return f"[{self.source}] {word} {self.kind}: {self.key}"

    def text(self) -> str:
        lines = [self.subject(), "", self.summary]
        if self.resolution:
            lines += ["", f"Resolved: {self.resolution}"]
        lines += ["", f"Opened: {self.opened_at}"]
        if self.resolved_at:
            lines.append(f"Resolved at: {self.resolved_at}")
        lines += ["", json.dumps(self.detail, indent=2, ensure_ascii=False, sort_keys=True)]
        return "\n".join(lines)


# Detail fields copied to the Alertmanager labels: names of things, never patient data.
LABELLED = ("destination", "reason", "rule", "unit")
# Alertmanager's "zero time": an alert still firing has no end.
_NO_END = "0001-01-01T00:00:00Z"


def alertname(kind: str) -> str:
    """``destination-failing`` → ``BridgeDestinationFailing`` (Prometheus naming)."""
    return "Bridge" + "".join(part.capitalize() for part in kind.split("-") if part)


def alertmanager_body(notice: AlertNotice, receiver: str = "bridge") -> dict[str, Any]:
    """The webhook body: Prometheus Alertmanager's webhook format (version 4), one alert per
    incident, with the bridge's own fields (``key``, ``kind``, ``summary``, ``detail`` …) kept
    at the top level for receivers written against the earlier body.

    Receivers that group by ``groupKey`` see one group per incident: its firing notice, any
    reminders (``repeat``), and its resolved notice.
    """
    labels = {"alertname": alertname(notice.kind), "key": notice.key, "source": notice.source}
    labels |= {
        name: str(notice.detail[name]) for name in LABELLED if notice.detail.get(name) is not None
    }
    labels["severity"] = "critical" if notice.kind == "destination-failing" else "warning"
    annotations = {"summary": notice.summary}
    if notice.resolution:
        annotations["description"] = notice.resolution
    if notice.incident is not None:
        annotations["incident"] = str(notice.incident)
    alert = {
        "status": notice.status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": notice.opened_at,
        "endsAt": notice.resolved_at or _NO_END,
        "generatorURL": "",
        "fingerprint": hashlib.sha256(notice.key.encode()).hexdigest()[:16],
    }
    group_labels = {"key": notice.key}
    return {
        **asdict(notice),
        "version": "4",
        "groupKey": f'{{}}:{{key="{notice.key}"}}',
        "truncatedAlerts": 0,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [alert],
    }


class Notifier(Protocol):
    """One channel to people. ``notify`` raises when the channel did not take the notice."""

    name: str

    async def notify(self, notice: AlertNotice) -> None: ...


class LogNotifier:
    name = "log"

    async def notify(self, notice: AlertNotice) -> None:
        if notice.status == FIRING:
            word = "ALERT (still firing)" if notice.repeat else "ALERT"
            log.error("%s %s [%s]: %s", word, notice.key, notice.kind, notice.summary)
        else:
            log.warning("RESOLVED %s: %s", notice.key, notice.resolution or notice.summary)


class WebhookNotifier:
    """POSTs the notice as JSON in Alertmanager's webhook format (:func:`alertmanager_body`);
    any answer but 2xx is a failure, retried later."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout

    async def notify(self, notice: AlertNotice) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self._url, json=alertmanager_body(notice))
        response.raise_for_status()


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "bridge@localhost"
    recipients: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


class SmtpNotifier:
    """Sends the notice as a plain-text e-mail (smtplib, in a worker thread)."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def notify(self, notice: AlertNotice) -> None:
        await asyncio.to_thread(self._send, notice)

    def _send(self, notice: AlertNotice) -> None:
        smtp = self._settings
        mail = EmailMessage()
        mail["Subject"] = notice.subject()
        mail["From"] = smtp.sender
        mail["To"] = ", ".join(smtp.recipients)
        mail.set_content(notice.text())
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(mail)
