"""Bridges to other tracers: OpenTelemetry export of recorded runs, LangSmith and Langfuse
traces imported as recorded runs.

Above the store, the checkpointer and the recorder's parts; below the CLI. Export:
``spans`` turns a run's events into spans (plain data), ``otlp`` builds OTLP messages from
them with the OpenTelemetry project's ``opentelemetry-proto`` (imported there, lazily),
``send`` posts them to an OTLP/HTTP collector. Import: ``source`` reads a file's records,
``langsmith``/``langfuse`` make them ``Call``s, ``messages`` and ``readback`` read their
values, ``rebuild`` makes a trace a run's events and ``importer`` writes them (``lgaudit
import``).
"""

from __future__ import annotations
