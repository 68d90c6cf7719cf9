"""`bridge users`: Users of the ops dashboard and their roles."""

from __future__ import annotations

import typer

app = typer.Typer(help="Users of the ops dashboard and their roles.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Users of the ops dashboard and their roles."""
