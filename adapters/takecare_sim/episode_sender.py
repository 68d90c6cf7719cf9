"""Sending whole episodes (:mod:`takecare_sim.episodes`) to the bridge at a chosen rate.

Messages go one at a time over one connection, each awaiting its ACK, so each patient's
messages reach the bridge in episode order. A message the bridge did not accept (no AA/CA) is
recorded and the episode goes on, as a hospital system would carry on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from takecare_sim.episode_messages import build_step
from takecare_sim.episodes import EpisodePlanner, Mix
from takecare_sim.er7 import STOCKHOLM, control_ids
from takecare_sim.sender import SendOptions, SentNotice, send_message


async def run_episodes(
    options: SendOptions | None = None,
    rate_per_s: float | None = 1.0,
    seed: int | None = None,
    episodes: int | None = None,
    on_sent: Callable[[SentNotice], None] | None = None,
    *,
    concurrency: int = 4,
    mix: Mix | None = None,
) -> int:
    """Play ``episodes`` episodes (None: forever; cancel the task to stop) at ``rate_per_s``
    messages per second (None or 0: as fast as ACKs come). Returns how many messages were sent.
    """
    options = options or SendOptions()
    planner = EpisodePlanner(seed, episodes=episodes, concurrency=concurrency, mix=mix)
    ids = control_ids()
    transport = options.connect()
    loop = asyncio.get_running_loop()
    started, sent = loop.time(), 0
    try:
        for planned in planner:
            if rate_per_s:
                await asyncio.sleep(max(0.0, started + sent / rate_per_s - loop.time()))
            control_id, sent_at = next(ids), datetime.now(STOCKHOLM)
            message = build_step(
                planned.admission, planned.step, control_id, sent_at, options.sender
            )
            notice = await send_message(
                transport, message, control_id, planned.admission, sent_at, planned.step.kind
            )
            sent += 1
            if on_sent is not None:
                on_sent(notice)
    finally:
        await transport.aclose()
    return sent


async def send_episodes(
    options: SendOptions | None = None,
    episodes: int = 5,
    rate_per_s: float | None = None,
    seed: int | None = None,
    *,
    concurrency: int = 4,
    mix: Mix | None = None,
) -> list[SentNotice]:
    """Play ``episodes`` whole episodes; one record per message, in sending order."""
    notices: list[SentNotice] = []
    await run_episodes(
        options, rate_per_s, seed, episodes, notices.append, concurrency=concurrency, mix=mix
    )
    return notices
