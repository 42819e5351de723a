"""Redaction: secrets are masked before anything reaches the store.

Defaults mask API keys (OpenAI/Anthropic ``sk-…``, AWS ``AKIA…``, GitHub, Slack, Google),
``Bearer``/``Basic`` credentials, and the value of any mapping key that names a secret
(``password``, ``secret``, ``token``, ``api_key``, ``authorization``, ``cookie``, …).
``Recorder(redact=...)`` adds key patterns (regex strings or compiled patterns, matched
against mapping keys) and callables (``fn(text) -> text``, applied to every string).

Redaction applies to event payloads and to checkpoint values alike, so a secret carried in
graph state is masked in the checkpointer's copy too: a resumed run sees the mask.
A cheap byte-level pre-check keeps clean values on the fast path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"

_VALUE_PATTERNS = [
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",
    r"AKIA[0-9A-Z]{16}",
    r"gh[pousr]_[A-Za-z0-9]{30,}",
    r"xox[baprs]-[A-Za-z0-9\-]{10,}",
    r"AIza[0-9A-Za-z_\-]{35}",
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}",
    r"(?i:basic)\s+[A-Za-z0-9+/=]{12,}",
]
_SECRET_KEY = (
    r"(?i)^(?:.*[_\-.])?(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|"
    r"authorization|auth|cookie|set-cookie|credentials?|private[_\-]?key|access[_\-]?key|"
    r"client[_\-]?secret|session[_\-]?id|x-api-key)$"
)
_KEY_HINT = rb"(?i)pass|pwd|secret|token|key|auth|cookie|credential|session"
#: Secret-naming key words as they appear inside serialized bytes (lower-cased); a match
#: counts when the word ends the key (``access_token`` is a secret, ``input_tokens`` not).
_KEY_WORDS = (
    b"password", b"passwd", b"pwd", b"secret", b"token", b"apikey", b"api_key", b"api-key",
    b"authorization", b"auth", b"cookie", b"credential", b"credentials", b"private_key",
    b"private-key", b"privatekey", b"access_key", b"access-key", b"accesskey", b"session_id",
    b"session-id", b"sessionid",
)  # fmt: skip
#: Lower-case prefixes of the default secret value patterns (cheap test before the regex).
_VALUE_PREFIXES = (
    b"sk-", b"akia", b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"xoxb-", b"xoxa-",
    b"xoxp-", b"xoxr-", b"xoxs-", b"aiza", b"bearer", b"basic",
)  # fmt: skip

#: Substrings that every key word and default value prefix above contains: bytes holding
#: none of them need no closer look (most values), in a few fast scans. None is shorter than
#: three bytes: a two-letter needle (``gh``) is in most kilobytes of ordinary text.
_NEEDLES = (
    b"pass", b"pwd", b"secret", b"token", b"key", b"auth", b"cookie", b"credential",
    b"session", b"sk-", b"akia", b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"xox", b"aiza",
    b"bearer", b"basic",
)  # fmt: skip

#: What a plain string holds when a default value pattern matches it (in the case the
#: pattern requires); ``bearer``/``basic`` match in any case. A string is no mapping, so key
#: words are not at stake: these few scans decide for most text.
_TEXT_NEEDLES = ("sk-", "AKIA", "xox", "AIza")
_TEXT_GH = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")

Redact = Iterable[str | re.Pattern[str] | Callable[[str], str]]


class Redactor:
    """Masks secrets in values of any shape (dicts, lists, messages, dataclasses)."""

    def __init__(self, extra: Redact | None = None) -> None:
        key_patterns = [re.compile(_SECRET_KEY)]
        self._callables: list[Callable[[str], str]] = []
        hints = [_KEY_HINT]
        for item in extra or ():
            if callable(item) and not isinstance(item, re.Pattern):
                self._callables.append(item)
            else:
                pattern = item if isinstance(item, re.Pattern) else re.compile(item, re.I)
                key_patterns.append(pattern)
                hints.append(re.escape(pattern.pattern).encode())
        self._keys = key_patterns
        self._verdicts: dict[bytes, bool] = {}
        self._user_keys = key_patterns[1:]
        self._key_verdicts: dict[str, bool] = {}
        self._values = re.compile("|".join(_VALUE_PATTERNS))
        self._hint = re.compile(b"|".join(hints) + b"|" + "|".join(_VALUE_PATTERNS).encode())
        self._secret_values = re.compile("|".join(_VALUE_PATTERNS).encode())

    def needs(self, data: bytes | str) -> bool:
        """Whether serialized bytes/text might hold something to mask (cheap pre-check:
        substrings every default pattern contains, then the user's patterns)."""
        if self._callables:
            return True
        raw = data.encode() if isinstance(data, str) else data
        known = self._verdicts.get(raw)
        if known is None:
            known = self._scan(raw)
            if len(raw) <= 4096 and len(self._verdicts) < 20_000:
                self._verdicts[raw] = known  # values recur step after step (message history)
        return known

    def needs_text(self, text: str) -> bool:
        """``needs`` for a plain string (whose redaction is ``text``): whether a default
        value pattern might match it, or a callable is set."""
        if self._callables:
            return True
        if len(text) < 8:
            return False  # ``text`` leaves it as it is
        for needle in _TEXT_NEEDLES:
            if needle in text:
                return True
        if "_" in text and any(needle in text for needle in _TEXT_GH):
            return True
        low = text.lower()
        return "bearer" in low or "basic" in low

    def _scan(self, raw: bytes) -> bool:
        low = raw.lower()
        for needle in _NEEDLES:
            if needle in low:
                break
        else:
            return bool(self._user_keys) and self._hint.search(raw) is not None
        for word in _KEY_WORDS:
            at = low.find(word)
            while at != -1:
                end = at + len(word)
                if not low[end : end + 1].isalnum():  # the word ends the key: not "tokens"
                    return True
                at = low.find(word, at + 1)
        if any(prefix in low for prefix in _VALUE_PREFIXES) and self._secret_values.search(raw):
            return True
        return bool(self._user_keys) and self._hint.search(raw) is not None

    def is_secret_key(self, key: str) -> bool:
        known = self._key_verdicts.get(key)
        if known is None:
            known = any(p.search(key) for p in self._keys)
            if len(self._key_verdicts) < 10_000:
                self._key_verdicts[key] = known
        return known

    def for_key(self, key: Any, value: Any) -> Any:
        """``value`` as stored under ``key``: the mask when the key names a secret."""
        return MASK if isinstance(key, str) and value and self.is_secret_key(key) else value

    def _under(self, key: Any, value: Any, depth: int) -> Any:
        """``value`` redacted as it is held under ``key`` (a mapping key, a field name)."""
        masked = self.for_key(key, value)
        return masked if masked is not value else self.redact(value, depth)

    def text(self, value: str) -> str:
        if len(value) < 8 and not self._callables:
            return value  # shorter than any secret the patterns match
        out = self._values.sub(MASK, value)
        for fn in self._callables:
            out = fn(out)
        return out

    def redact(self, value: Any, _depth: int = 0) -> Any:
        """``value`` with secrets masked; the same object when nothing needed masking."""
        if _depth > 40:
            return value
        d = _depth + 1
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict | Mapping):
            changed = False
            out: dict[Any, Any] = {}
            for k, v in value.items():
                nv = self._under(k, v, d)
                changed |= nv is not v
                out[k] = nv
            if not changed:
                return value
            try:
                return type(value)(out)  # type: ignore[call-arg]
            except Exception:  # noqa: BLE001 - exotic mapping: a plain dict keeps the data
                return out
        if isinstance(value, list | tuple):
            items = [self.redact(v, d) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return type(value)(items) if not hasattr(value, "_fields") else type(value)(*items)
        if isinstance(value, BaseException):
            text = str(value)
            masked = self.text(text)
            if masked == text:
                return value
            try:
                clone = type(value)(masked)
            except Exception:  # noqa: BLE001 - exception types with other signatures
                clone = RuntimeError(f"{type(value).__name__}: {masked}")
            return clone
        fields = getattr(type(value), "model_fields", None)
        if isinstance(fields, dict):
            update = {}
            for name in fields:
                current = getattr(value, name, None)
                new = self._under(name, current, d)
                if new is not current:
                    update[name] = new
            return value.model_copy(update=update) if update else value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            update = {}
            for f in dataclasses.fields(value):
                current = getattr(value, f.name)
                new = self._under(f.name, current, d)
                if new is not current:
                    update[f.name] = new
            if not update:
                return value
            try:
                return dataclasses.replace(value, **update)
            except Exception:  # noqa: BLE001 - init=False fields: fall back to a JSON view
                return {
                    **{f.name: getattr(value, f.name) for f in dataclasses.fields(value)},
                    **update,
                }
        return value
