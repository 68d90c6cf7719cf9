"""Operations: audit log, alerts, users, the views people on call use."""
