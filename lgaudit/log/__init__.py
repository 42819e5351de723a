"""The append-only hash-chained log: canonical forms, append path, writer process, verify."""
