"""`bridge contract`: Contract tests for the bridge's interfaces."""

from __future__ import annotations

import typer

app = typer.Typer(help="Contract tests for the bridge's interfaces.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Contract tests for the bridge's interfaces."""
