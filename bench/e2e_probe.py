"""``bridge serve`` with two commit counters, for the end-to-end bench (bench/e2e.py).

Runs exactly the ``bridge serve`` command in this process, after installing:

- a class-wide SQLAlchemy ``commit`` listener on every Engine: every transaction the bridge
  commits, read-only ones included (PostgreSQL counts those too, in ``xact_commit``);
- for SQLite, a ``sqlite3.Connection`` subclass counting ``commit()`` calls with a write
  transaction open: the commits that reach the file (each is an fsync in WAL with
  ``synchronous=FULL``). A read-only transaction never opens one in Python's sqlite3, so it is
  not counted.

A daemon thread writes both counts to ``$BENCH_COMMIT_FILE`` five times a second. The cost is one
Python call and a lock per commit. No bridge module is changed.

    BENCH_COMMIT_FILE=/tmp/x python bench/e2e_probe.py
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_lock = threading.Lock()
_counts = {"sqlalchemy": 0, "sqlite_write": 0}


def _count(name: str) -> None:
    with _lock:
        _counts[name] += 1


class _CountingConnection(sqlite3.Connection):
    def commit(self) -> None:
        if self.in_transaction:
            _count("sqlite_write")
        super().commit()


def _on_commit(_connection: Any) -> None:
    _count("sqlalchemy")


def _install() -> None:
    event.listen(Engine, "commit", _on_commit)
    connect = sqlite3.connect

    def counting_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", _CountingConnection)
        connection: sqlite3.Connection = connect(*args, **kwargs)
        return connection

    sqlite3.connect = counting_connect  # type: ignore[assignment]


def _write(path: Path) -> None:
    with _lock:
        line = f"{_counts['sqlalchemy']} {_counts['sqlite_write']}\n"
    fresh = path.with_suffix(".tmp")
    fresh.write_text(line)
    os.replace(fresh, path)


def _report(path: Path) -> None:
    while True:
        _write(path)
        time.sleep(0.2)


def main() -> None:
    _install()
    target = os.environ.get("BENCH_COMMIT_FILE")
    if target:
        path = Path(target)
        threading.Thread(target=_report, args=(path,), daemon=True).start()
        atexit.register(_write, path)
    from bridge.entrypoints.cli import main as bridge_main

    sys.argv = ["bridge", "serve"]
    bridge_main()


if __name__ == "__main__":
    main()
