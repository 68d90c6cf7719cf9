"""The delivery pipeline: accept → outbox → relay → deliver → receipts, dead letters."""
