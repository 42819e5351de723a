"""What recorded events hold: callback payloads, graph refs, memory operations, redaction."""
