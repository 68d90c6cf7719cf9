"""`bridge dead-letter`: list, show, replay and discard deliveries that failed for good."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Dead letters: list, show, replay and discard deliveries that failed for good.",
    no_args_is_help=True,
)


@app.callback()
def _group() -> None:
    """Dead letters: list, show, replay and discard deliveries that failed for good."""
