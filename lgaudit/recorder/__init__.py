"""The recorder: callback handler, Recorder facade, background writer, redaction."""

from lgaudit.events.redaction import Redactor
from lgaudit.recorder.recorder import Recorder
from lgaudit.recorder.tee import RecordingSaver

__all__ = ["Recorder", "RecordingSaver", "Redactor"]
