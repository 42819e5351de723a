"""A recorded run read back: its trace of events, steps, lineage, normalized values."""
