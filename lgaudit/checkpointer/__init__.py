"""The LangGraph checkpointer on the log: ``AuditSaver`` and the run registry it shares."""
