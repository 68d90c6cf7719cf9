"""`bridge audit`: The audit log: verify its hash chain."""

from __future__ import annotations

import typer

app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The audit log: verify its hash chain."""
