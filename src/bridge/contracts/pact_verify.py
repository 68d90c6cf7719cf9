"""Verify a provider against a Pact file with Pact's own verifier; turn its results into checks.

pact-python's :class:`~pact.Verifier` replays each interaction's request against the provider
and matches the response with the Pact's rules. It raises on failure; the detail is in its JSON
results, which are read here so the report names each interaction and each mismatch
(``$.entry[0].resource.response.code: Expected 'fatal-error' to be equal to 'ok'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pact import Verifier

from bridge.contracts.report import Check, Outcome

# Pact's libraries would otherwise try to report usage over the network; there is none here.
os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
_STDOUT_LOCK = threading.Lock()
_ORDER = {"StatusMismatch": 0, "HeaderMismatch": 1, "BodyMismatch": 2}


def _verifier(provider: str, url: str, pact_file: Path, timeout: float) -> Verifier:
    host = urlsplit(url).hostname or "localhost"
    verifier = Verifier(provider, host=host)
    verifier.add_transport(url=url)
    verifier.add_source(pact_file)
    verifier.set_request_timeout(int(timeout * 1000))
    verifier.set_coloured_output(enabled=False)
    return verifier


def _run(verifier: Verifier) -> dict[str, Any]:
    with _stdout_silenced(), contextlib.suppress(RuntimeError):
        verifier.verify()  # raises when an interaction fails; the failures are in the results
    results: dict[str, Any] = verifier.results
    return results


@contextlib.contextmanager
def _stdout_silenced() -> Iterator[None]:
    """Pact's verifier prints its own report to file descriptor 1; ours replaces it."""
    with _STDOUT_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


async def verify_pact(
    provider: str, url: str, pact_file: Path, contract_of: dict[str, str], wait: float = 10
) -> tuple[list[Check], list[str]]:
    """Checks per interaction, and errors that are about the run itself (none: it ran)."""
    verifier = _verifier(provider, url, pact_file, wait)
    results = await asyncio.to_thread(_run, verifier)
    checks = [_check(item, contract_of) for item in results.get("interactionResults", [])]
    errors = [] if checks else [_no_results(results, verifier)]
    return checks, errors


def _check(item: dict[str, Any], contract_of: dict[str, str]) -> Check:
    description = str(item.get("description", "?"))
    contract = contract_of.get(description, "pact")
    if item.get("result") == "OK":
        return Check(contract, description, Outcome.PASSED)
    mismatches = sorted(
        (item.get("mismatch") or {}).get("mismatches", []),
        key=lambda m: (_ORDER.get(m.get("type", ""), 3), str(m.get("path", ""))),
    )
    problems = tuple(_problem(m) for m in mismatches)
    if not problems:
        problems = (str((item.get("mismatch") or {}).get("message") or item.get("result")),)
    outcome = Outcome.PENDING if item.get("pending") else Outcome.FAILED
    return Check(contract, description, outcome, problems)


def _problem(mismatch: dict[str, Any]) -> str:
    kind = mismatch.get("type", "")
    text = str(mismatch.get("mismatch") or mismatch.get("message") or json.dumps(mismatch))
    if kind == "StatusMismatch":
        return f"HTTP status: {text}"
    path = mismatch.get("path") or mismatch.get("key")
    label = {"BodyMismatch": "body", "HeaderMismatch": "header"}.get(kind, kind or "mismatch")
    return f"{label} {path}: {text}" if path else f"{label}: {text}"


def _no_results(results: dict[str, Any], verifier: Verifier) -> str:
    errors = results.get("errors") or []
    if errors:
        return "; ".join(str(e.get("mismatch", e)) for e in errors)
    return verifier.output(strip_ansi=True).strip() or "the Pact verifier produced no result"
