"""Start-up failures an operator fixes with a setting, told in one line (exit code 2).

A busy port, an unreachable database or broker, a wrong setting: each becomes a
:class:`StartupError` naming the variable to change and the address tried (never a password),
instead of a traceback of hundreds of lines.
"""

from __future__ import annotations

import errno

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from bridge.store.migrate import SchemaAheadOfCode
from bridge.transport.port import BrokerUnavailable


class StartupError(Exception):
    """The bridge cannot start; the message says what to change."""


def without_password(url: str) -> str:
    """``url`` with its password replaced by ``***`` (SQLAlchemy and AMQP URLs alike)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url
    if parsed.password is None:
        return parsed.render_as_string(hide_password=False)
    return parsed.render_as_string(hide_password=True)


def port_failure(error: OSError, what: str, host: str, port: int, variable: str) -> StartupError:
    """A listening socket that could not be opened."""
    address = f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        reason = f"{what} port {address} is already in use"
    elif error.errno == errno.EACCES:
        reason = f"{what} port {address} needs privileges this user lacks"
    elif error.errno == errno.EADDRNOTAVAIL:
        reason = f"{what} address {host} is not an address of this host"
    else:
        reason = f"{what} cannot listen on {address}: {error.strerror or error}"
    return StartupError(f"{reason}; set {variable} (or stop what holds it)")


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def dependency_failure(
    error: BaseException, *, database_url: str, broker_url: str | None
) -> StartupError | None:
    """The database or broker unreachable, or a schema newer than this code, at start-up;
    None for anything else."""
    if isinstance(error, SchemaAheadOfCode):
        return StartupError(f"{error} (database {without_password(database_url)})")
    if isinstance(error, OperationalError | DBAPIError):
        return StartupError(
            f"database unreachable at {without_password(database_url)}: {_first_line(error)}; "
            "check BRIDGE_DATABASE_URL and that the database is running"
        )
    if isinstance(error, BrokerUnavailable):
        return StartupError(
            f"broker unreachable at {without_password(broker_url or '')}: {_first_line(error)}; "
            "check BRIDGE_BROKER_URL and that RabbitMQ is running"
        )
    return None


def settings_failure(error: ValidationError) -> StartupError:
    """A BRIDGE_* variable that does not parse: name it and say why."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        name = f"BRIDGE_{field.upper()}" if field else "settings"
        problems.append(f"{name}: {item['msg']}")
    return StartupError("invalid setting: " + "; ".join(problems))
