"""FHIR R4 (4.0.1) messaging: canonical events to and from message Bundles, and the answers.

- :mod:`.encode` / :mod:`.decode`: CareTransitionEvent ⇄ message Bundle (plain dicts, fast).
- :mod:`.outcome`: OperationOutcome and response Bundles; :mod:`.capability`: GET /fhir/metadata.
- :mod:`.validate`: R4 structure (fhir.resources R4B models) plus :mod:`.profile_rules`.
- :mod:`.conformance`, :mod:`.structure_definitions`, :mod:`.artifacts`: what schemas/ holds.

docs/mapping.md (FHIR section) is the contract.
"""
