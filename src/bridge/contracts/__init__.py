"""Contracts for the bridge's interfaces: load them, verify an implementation, check a message.

The contracts themselves live in ``contracts/v1/`` at the top of the repository (one file per
direction, interface and event); see ``contracts/README.md`` for the formats and
``docs/connecting-a-new-system.md`` for how a developer of another system uses them.
"""
