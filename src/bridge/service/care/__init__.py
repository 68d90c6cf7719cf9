"""The care logic: episodes, legal deadlines and deviations, indicators."""
