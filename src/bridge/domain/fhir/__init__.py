"""FHIR R4 (4.0.1) messaging: canonical events to and from message Bundles, and the answers.

- :mod:`.encode` / :mod:`.decode`: CareTransitionEvent ⇄ message Bundle (plain dicts, fast);
  one module per resource family: :mod:`.write_stay` / :mod:`.read_patient` /
  :mod:`.read_encounter` (Patient, Encounter), :mod:`.merge` (Patient.link),
  :mod:`.sip_meeting` (Appointment), :mod:`.sip_plan` (CarePlan, CareTeam, Consent),
  :mod:`.home_care` (EpisodeOfCare), :mod:`.receipt` (MessageHeader.response).
- :mod:`.outcome`: OperationOutcome and response Bundles; :mod:`.capability`: GET /fhir/metadata.
- :mod:`.validate`: R4 structure (fhir.resources R4B models) plus :mod:`.profile_rules` and
  :mod:`.profile_rules_events`.
- :mod:`.conformance`, :mod:`.structure_definitions`, :mod:`.structure_definitions_events`,
  :mod:`.artifacts`: what schemas/ holds.

docs/mapping.md (FHIR section) is the contract.
"""
