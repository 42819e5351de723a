"""The recorder: callback handler, Recorder facade, background writer, redaction."""

from lgaudit.recorder.recorder import Recorder
from lgaudit.recorder.redaction import Redactor
from lgaudit.recorder.tee import RecordingSaver

__all__ = ["Recorder", "RecordingSaver", "Redactor"]
