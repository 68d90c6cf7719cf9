"""Running out of file descriptors: refuse new connections quietly, keep serving the open ones.

This guard is for the HTTP listeners, which accept through asyncio (uvicorn); the MLLP listener
accepts on its own and pauses itself the same way (:mod:`bridge.entrypoints.mllp`).

When ``accept()`` fails with EMFILE/ENFILE (or ENOBUFS/ENOMEM) asyncio already stops accepting
on that listener for a second and tries again; but it reports every failure to the loop's
exception handler, which by default logs the message with a full traceback, about once a second
per listener for as long as the descriptors stay exhausted (and again after every retry). The
handler installed here turns that into one log line per incident (:class:`IncidentLog`) and lets
every other report through to the previous handler.

The budget helper keeps the listeners' connection caps below the process's open-file limit, so
that in normal operation the caps refuse connections long before the descriptors run out and
``/readyz`` still has descriptors to answer with.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.entrypoints.incidents import IncidentLog

log = logging.getLogger(__name__)


class SupportsFileno(Protocol):
    def fileno(self) -> int: ...


ACCEPT_OUT_OF_RESOURCE = "socket.accept() out of system resource"
# Descriptors kept for everything that is not an inbound connection: the database pool, the
# broker, log files, outbound HTTP to destinations, the listening sockets themselves, and the
# connections one accept() burst takes before they are refused (LISTEN_BACKLOG per listener).
LISTEN_BACKLOG = 32
# The kernel's queue of connections not yet accepted can be long (a connection waiting there
# holds no descriptor of ours); a short one drops SYNs under a flood and a real sender's
# connect() then waits for the retransmission, 1, 3, 7 s.
KERNEL_BACKLOG = 4096


def widen_kernel_backlog(sock: SupportsFileno) -> None:
    """Lengthen the listen queue after asyncio set it to its (short) accept-burst size."""
    with socket.socket(fileno=os.dup(sock.fileno())) as same:
        same.listen(KERNEL_BACKLOG)


DEFAULT_RESERVE = 64 + 2 * LISTEN_BACKLOG


def install_accept_guard(
    loop: asyncio.AbstractEventLoop, incidents: IncidentLog | None = None
) -> IncidentLog:
    """Replace the loop's exception handler for accept() resource errors; returns the log."""
    incidents = incidents or IncidentLog(log, quiet_seconds=30.0)
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == ACCEPT_OUT_OF_RESOURCE:
            error = context.get("exception")
            incidents.note(
                "accept-out-of-resource",
                "out of file descriptors (%s): refusing new connections until some close; "
                "open connections keep being served",
                getattr(error, "strerror", None) or type(error).__name__,
            )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return incidents


@dataclass(frozen=True)
class ConnectionCaps:
    mllp: int
    http: int
    open_file_limit: int


def connection_caps(mllp: int, http: int, reserve: int = DEFAULT_RESERVE) -> ConnectionCaps:
    """The listeners' caps, scaled down to fit the open-file limit less ``reserve``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return ConnectionCaps(mllp, http, -1)
    budget = max(soft - reserve, 2)
    if mllp + http <= budget:
        return ConnectionCaps(mllp, http, soft)
    scaled_mllp = max(1, budget * mllp // (mllp + http))
    scaled_http = max(1, budget - scaled_mllp)
    log.warning(
        "open-file limit %d leaves room for %d connections: MLLP cap %d -> %d, HTTP cap %d -> %d "
        "(raise the limit, e.g. `ulimit -n`, or lower BRIDGE_MLLP_MAX_CONNECTIONS / "
        "BRIDGE_HTTP_MAX_CONNECTIONS)",
        soft,
        budget,
        mllp,
        scaled_mllp,
        http,
        scaled_http,
    )
    return ConnectionCaps(scaled_mllp, scaled_http, soft)
