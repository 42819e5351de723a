"""Bridges to other tracers: OpenTelemetry export of recorded runs, LangSmith and Langfuse
traces imported as recorded runs.

Above the store and the recorder, below the CLI. ``lgaudit.interop.spans`` turns a run's
events into spans (plain data), ``otlp`` builds OTLP messages from them with the
OpenTelemetry project's ``opentelemetry-proto`` (imported there, never here), ``send``
posts them to an OTLP/HTTP collector; ``langsmith``/``langfuse`` read exports into one
neutral tree that ``importer`` writes as recorded runs.
"""

from __future__ import annotations
