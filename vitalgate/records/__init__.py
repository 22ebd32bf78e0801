"""Records for follow-up: FHIR R4 export and the follow-up report."""
