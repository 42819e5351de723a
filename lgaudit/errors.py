"""Every exception lgaudit raises on purpose.

::

    LgauditError                      base; ``str(e)`` is one line meant for the user
    ├── BadInputError                 the caller asked for something malformed or unknown
    │   ├── UnknownRunError           no run matches the reference
    │   ├── AmbiguousRunError         a run prefix matches several runs
    │   └── UnknownStageError         no stage result matches the reference
    │       └── AmbiguousStageError   a stage prefix matches several stage results
    ├── ReplayError                   a replay could not go on
    │   └── CassetteMissError         strict cassette: a call that was not recorded
    ├── GuardTripped                  a guarded run went past a limit or was killed
    └── StoreError                    the database could not do what was asked
        ├── SchemaError               the database is behind, ahead of, or not lgaudit's
        ├── AppendOnlyViolation       something tried to change or delete a recorded row
        └── StoreUnavailableError     the database cannot be reached / stays locked

The CLI turns ``BadInputError`` and ``SchemaError`` into exit code 2 with the message as
the only line printed; driver errors are translated into ``StoreError`` subclasses at one
point (``lgaudit.store.engine.translate_errors``) and keep the original as ``__cause__``.
"""

from __future__ import annotations


class LgauditError(Exception):
    """Base class of every error lgaudit raises on purpose."""


class BadInputError(LgauditError):
    """The caller gave a malformed or unknown reference, spec or file."""


class UnknownRunError(BadInputError):
    """No recorded run matches the given run id or prefix."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"unknown run {ref!r}: `lgaudit runs` lists the recorded runs")
        self.ref = ref


class AmbiguousRunError(BadInputError):
    """A run prefix matches more than one run."""

    def __init__(self, ref: str, matches: list[str]) -> None:
        shown = ", ".join(matches[:5])
        super().__init__(f"run prefix {ref!r} is ambiguous: matches {shown}; give more characters")
        self.ref = ref
        self.matches = matches


class UnknownStageError(BadInputError):
    """No stage result matches the given stage id or prefix (the UI answers 404)."""

    def __init__(self, ref: str, message: str | None = None) -> None:
        super().__init__(
            message or f"unknown stage {ref!r}: `lgaudit stages` lists the stage results"
        )
        self.ref = ref


class AmbiguousStageError(UnknownStageError):
    """A stage prefix matches more than one stage result."""

    def __init__(self, ref: str, matches: list[str]) -> None:
        shown = ", ".join(matches[:5])
        super().__init__(
            ref, f"stage prefix {ref!r} is ambiguous: matches {shown}; give more characters"
        )
        self.matches = matches


class ReplayError(LgauditError):
    """A replay could not continue (raised inside the replayed graph, recorded as its error)."""


class CassetteMissError(ReplayError):
    """A strict cassette was asked for a call that was not recorded.

    Carries ``call`` (what was asked), ``nearest`` (the closest recorded call, if any) and
    ``matcher`` (which part of the key did not match), as vcrpy's cassette errors do.
    """

    def __init__(self, call: str, nearest: str | None, matcher: str) -> None:
        near = f"; nearest recorded: {nearest}" if nearest else "; no recorded call is near it"
        super().__init__(f"cassette miss (strict): {call} was not recorded ({matcher}){near}")
        self.call = call
        self.nearest = nearest
        self.matcher = matcher


class GuardTripped(LgauditError, RuntimeError):
    """Raised inside a guarded graph at the next node, model or tool call past a limit of
    the guard's policy, or of a run matched by a kill order.

    ``rule`` is the rule it enforced (``guard.killed``, ``budget.tokens``,
    ``rate.llm_calls``...), ``limit`` and ``value`` the figures. A ``RuntimeError``, so
    LangGraph's default retry policy does not retry it.
    """

    def __init__(
        self, rule: str, message: str, *, limit: float | None = None, value: float | None = None
    ) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.limit = limit
        self.value = value


class StoreError(LgauditError):
    """The store could not complete an operation."""


class SchemaError(StoreError):
    """The database schema is not the one this lgaudit version expects."""


class AppendOnlyViolation(StoreError):
    """A recorded row was about to be updated or deleted; the database refused."""


class StoreUnavailableError(StoreError):
    """The database could not be reached, or stayed locked past every retry."""
