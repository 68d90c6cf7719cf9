"""bridge: integration middleware for care-transition notices between TakeCare and Treserva."""

__version__ = "0.1.0"
