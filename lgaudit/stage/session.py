"""``Session``: what every case of one stage process shares (the candidate, one recorder)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.pregel import Pregel

from lgaudit.recorder import Recorder
from lgaudit.replay.spec import load_graph, load_model
from lgaudit.stage.sandbox import load_stand_ins
from lgaudit.stage.suite import Scenario, Suite, load_answer, load_humans
from lgaudit.stage.timeout import install


class Session:
    """What every case of one process shares: the imported graphs and one recorder."""

    def __init__(self, suite: Suite, url: str) -> None:
        self.suite = suite
        self.candidate: Pregel = load_graph(suite.graph)
        self.baseline: Pregel | None = load_graph(suite.baseline) if suite.baseline else None
        self.recorder = Recorder(url, environment=suite.environment)
        self.attached = self.recorder.attach(self.candidate)
        install(self.recorder)  # case timeouts
        tools = suite.tools
        self.stand_ins = load_stand_ins(suite.path, tools) if tools is not None else {}
        self.pending_answer = load_answer(suite) if suite.pending is not None else None
        #: leave traffic diffs (without baseline replays) to ``analyze``, elsewhere
        self.defer_diffs = False
        self._models: dict[str, BaseChatModel] = {}
        #: tool calls of traffic replays served from the recording whatever the cassette
        #: (``lgaudit shadow``: a shadow never touches the world)
        self.tools_from_recording = False

    def spec(self, case: str, kind: str) -> dict[str, Any]:
        """The replay spec's ``stage`` entry: which case of which suite a run is."""
        return {"suite": self.suite.name, "case": case, "kind": kind}

    def models(self, scenario: Scenario) -> dict[str, BaseChatModel]:
        for ref in scenario.models.values():
            if ref not in self._models:
                self._models[ref] = load_model(ref)
        return {name: self._models[ref] for name, ref in scenario.models.items()}

    def human(self, scenario: Scenario) -> Callable[[Any], Any] | None:
        return load_humans(self.suite, scenario)

    def close(self) -> None:
        self.recorder.close()
