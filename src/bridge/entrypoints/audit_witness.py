"""Starts the audit witness beside the bridge when a witness is configured (docs/security.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bridge.bootstrap import Bridge
from bridge.service.operations.audit_witness import AuditWitness, witness_sinks

log = logging.getLogger(__name__)


def build_witness(bridge: Bridge) -> AuditWitness | None:
    settings = bridge.settings
    secret = settings.audit_witness_webhook_secret
    sinks = witness_sinks(
        settings.audit_witness_file,
        settings.audit_witness_syslog,
        settings.audit_witness_webhook_url,
        secret.get_secret_value() if secret else None,
    )
    if not sinks:
        return None
    return AuditWitness(bridge.db, bridge.clock, sinks)


async def start_audit_witness(bridge: Bridge, stack: contextlib.AsyncExitStack) -> None:
    """Export the chain head every ``audit_witness_interval_seconds`` until the stack closes,
    and once more on the way out."""
    witness = build_witness(bridge)
    if witness is None:
        if not bridge.db.is_sqlite:
            log.warning(
                "no audit witness configured (BRIDGE_AUDIT_WITNESS_FILE, _SYSLOG or "
                "_WEBHOOK_URL): truncation of the audit log cannot be detected"
            )
        return
    task = asyncio.create_task(
        witness.run(bridge.settings.audit_witness_interval_seconds), name="audit-witness"
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await witness.close()

    stack.push_async_callback(stop)
