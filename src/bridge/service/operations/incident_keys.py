"""Incident keys: what one alert stands for (one incident per key while it is open).

Grouped so an outage, a wave of refusals or a replay is one alert, not one per notice:

- ``destination-failing:<destination>``: one per outage of a destination;
- ``dead-letters:<destination>:<reason>``: the dead letters of one destination and cause; open
  while any of them is left (plus a quiet window), so a replay that fails again adds none;
- ``deviations:<unit>:<rule>``: the open collaboration deviations of one unit and rule.
"""

from __future__ import annotations

DESTINATION_FAILING = "destination-failing"
DEAD_LETTERS = "dead-letters"
DEVIATIONS = "deviations"


def destination_failing_key(destination: str) -> str:
    return f"{DESTINATION_FAILING}:{destination}"


def dead_letters_key(destination: str, reason: str) -> str:
    return f"{DEAD_LETTERS}:{destination}:{reason}"


def deviations_key(unit: str, rule: str) -> str:
    return f"{DEVIATIONS}:{unit}:{rule}"[:200]


def parts(key: str, prefix: str) -> list[str] | None:
    """The parts after ``prefix:`` of a grouped key, or None when it is another kind."""
    if not key.startswith(prefix + ":"):
        return None
    return key[len(prefix) + 1 :].split(":", 1)
