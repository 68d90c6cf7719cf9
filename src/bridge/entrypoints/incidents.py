"""One log line per incident: a burst of the same trouble is logged once, then counted.

A hostile client can make a listener refuse thousands of connections a second, and the event
loop reports every failed ``accept()``; logging each would fill the disk (issue 12). An
``IncidentLog`` logs the first event of a burst, counts the rest, and treats the burst as over
once no event came for ``quiet_seconds``; the next event then starts a new incident with its
own single line. The counts stay readable for metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Burst:
    started: float
    last: float
    events: int = 0


@dataclass
class IncidentLog:
    """Logs the first event of each burst per ``kind``; counts every event."""

    logger: logging.Logger
    quiet_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    incidents: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    _bursts: dict[str, _Burst] = field(default_factory=dict)

    def note(self, kind: str, message: str, *args: object, level: int = logging.WARNING) -> bool:
        """Record one event of ``kind``; log ``message % args`` only when it opens an incident.

        Returns True when this event was logged (a new incident)."""
        now = self.clock()
        self.events[kind] = self.events.get(kind, 0) + 1
        burst = self._bursts.get(kind)
        if burst is not None and now - burst.last < self.quiet_seconds:
            burst.last = now
            burst.events += 1
            return False
        self._bursts[kind] = _Burst(started=now, last=now, events=1)
        self.incidents[kind] = self.incidents.get(kind, 0) + 1
        suffix = " (further occurrences are counted, not logged, until quiet for %.0fs)"
        template = message + suffix
        self.logger.log(level, template, *args, self.quiet_seconds)
        return True
