"""Test support shared by unit and end-to-end tests (builders, generators)."""
