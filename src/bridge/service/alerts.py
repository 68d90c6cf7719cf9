"""The alerting port: one alert per incident, and a recovery message when it clears.

Services call :meth:`Alerting.raise_alert` whenever they see a problem (as often as they like)
and :meth:`Alerting.resolve` when it is gone; the implementation makes sure a person gets one
message per incident, not one per retry. ``key`` names the incident (e.g.
``destination-failing:treserva`` or ``unreceipted:<delivery id>``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Alerting(Protocol):
    async def raise_alert(
        self, key: str, kind: str, summary: str, detail: dict[str, Any] | None = None
    ) -> None: ...

    async def resolve(self, key: str, summary: str = "") -> None: ...


class LogAlerting:
    """Writes alerts to the log only, once per open incident (the default until configured)."""

    def __init__(self) -> None:
        self._open: set[str] = set()

    async def raise_alert(
        self, key: str, kind: str, summary: str, detail: dict[str, Any] | None = None
    ) -> None:
        if key in self._open:
            return
        self._open.add(key)
        log.error("ALERT %s [%s]: %s", key, kind, summary)

    async def resolve(self, key: str, summary: str = "") -> None:
        if key in self._open:
            self._open.discard(key)
            log.warning("RESOLVED %s: %s", key, summary)
