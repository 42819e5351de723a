"""Reading a staging suite file with the standard library alone: ``lgaudit stage`` and
``lgaudit shadow`` report a missing, unreadable or malformed file before LangGraph, LangChain
or the ORM are imported (one line, at once). On the lowest floor, beside ``lgaudit.errors``:
a missing file is said before even SQLAlchemy is imported (``lgaudit.stage.arguments``
validates the rest of the suite before LangGraph is)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from lgaudit.errors import BadInputError


def read_suite(path: str | Path) -> dict[str, Any]:
    """The parsed TOML document of a suite file; ``BadInputError`` naming the file when it
    is missing, unreadable or not TOML."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"suite file {str(p)!r} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"cannot read suite file {str(p)!r}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInputError(f"{p}: not valid TOML: {e}") from None
