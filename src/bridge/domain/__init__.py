"""Pure domain code: identifiers, canonical events, HL7 v2 and FHIR mapping. No I/O here."""
