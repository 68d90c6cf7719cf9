"""``bridge keys``: make API keys for HTTP ingestion and the hashes the routing file holds.

The key itself is shown once and given to the sending system; the routing file keeps only its
hash (``sources[].senders.api_keys: [{id, hash}]``), so a leaked routing file or backup lets
nobody send.
"""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer

from bridge.domain.sender_identity import API_KEY_MIN_LENGTH, hash_api_key

app = typer.Typer(help="API keys for HTTP ingestion (docs/security.md).")


@app.command("new")
def new_key(
    key_id: Annotated[str, typer.Argument(help="The key's public id, e.g. takecare-1.")],
) -> None:
    """Make a random key (256 bits); print it once, and the routing-file entry with its hash."""
    key = secrets.token_urlsafe(32)
    typer.echo(f"key (give it to the sender; it is not stored): {key}")
    typer.echo(f"routing file, under the source's senders.api_keys:\n  - id: {key_id}")
    typer.echo(f"    hash: {hash_api_key(key)}")


@app.command("hash")
def hash_key(
    key: Annotated[
        str | None, typer.Argument(help="The key; read from standard input when left out.")
    ] = None,
) -> None:
    """Print the hash of an existing key, for the routing file."""
    text = (key if key is not None else sys.stdin.readline()).strip()
    if len(text) < API_KEY_MIN_LENGTH:
        typer.echo(
            f"bridge keys hash: a key needs at least {API_KEY_MIN_LENGTH} characters of "
            "randomness (use `bridge keys new`)",
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(hash_api_key(text))
