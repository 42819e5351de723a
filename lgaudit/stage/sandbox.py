"""The tool sandbox (``[tools]``): stand-ins called instead of the real tools, and with
``sandbox = true`` every other tool a case would run live — not served from a cassette,
not in ``live`` — refused: the call raises ``ToolRefused`` (the tool's own code never runs)
and the case fails naming it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.tools import BaseTool

from lgaudit.errors import BadInputError, LgauditError
from lgaudit.replay.intercept import SANDBOX
from lgaudit.replay.spec import load_object
from lgaudit.stage.limits import Tools


class ToolRefused(LgauditError):
    """A tool the stage's sandbox does not let run live."""


def load_stand_ins(source: str, tools: Tools) -> dict[str, Callable[..., Any]]:
    """The stand-ins by tool name, imported (bad input names the key)."""
    out: dict[str, Callable[..., Any]] = {}
    for name, ref in tools.stand_ins.items():
        try:
            obj = load_object(ref, what="stand-in")
        except BadInputError as e:
            raise BadInputError(f"{source}: tools.stand_ins.{name}: {e}") from None
        if not callable(obj) and not isinstance(obj, BaseTool):
            raise BadInputError(f"{source}: tools.stand_ins.{name}: {ref} is not callable")
        out[name] = obj
    return out


class Sandbox:
    """One case's sandbox: what it stood in for, ran live and refused."""

    def __init__(self, tools: Tools, stand_ins: dict[str, Callable[..., Any]]) -> None:
        self.tools = tools
        self.stand_ins = stand_ins
        self.stood_in: list[str] = []
        self.ran_live: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def _note(self, items: list[str], name: str) -> None:
        with self._lock:
            if name not in items:
                items.append(name)

    def live(self, tool: BaseTool, tool_input: Any) -> Callable[[], Any] | None:
        """What answers a call about to run live (``None``: the real tool runs)."""
        name = tool.name
        stand_in = self.stand_ins.get(name)
        if stand_in is not None:
            self._note(self.stood_in, name)
            args = (
                tool._filter_injected_args(tool_input)
                if isinstance(tool_input, dict)
                else tool_input
            )
            return lambda: _call(stand_in, args)
        if self.tools.sandbox and name not in self.tools.live:
            self._note(self.refused, name)

            def refuse() -> Any:
                raise ToolRefused(
                    f"the stage's tool sandbox refused tool {name!r}: no stand-in in [tools] "
                    "stand_ins, not served from a cassette, not in [tools] live"
                )

            return refuse
        self._note(self.ran_live, name)
        return None


def _call(stand_in: Any, args: Any) -> Any:
    fn = getattr(stand_in, "func", None) if isinstance(stand_in, BaseTool) else stand_in
    if fn is None:  # a BaseTool subclass: its own ``_run``
        return stand_in._run(**args) if isinstance(args, dict) else stand_in._run(args)
    return fn(**args) if isinstance(args, dict) else fn(args)


@contextmanager
def sandboxed(box: Sandbox | None) -> Iterator[None]:
    """Tool calls in this context (and the graph's task threads) go through ``box``."""
    token = SANDBOX.set(box)
    try:
        yield
    finally:
        SANDBOX.reset(token)
