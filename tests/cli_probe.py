"""Runs one ``lgaudit`` verb in a fresh interpreter, as a user's shell would, and reports its
exit code, its output and which of the watched (heavy) modules it loaded: what the cold-start
and early-error tests assert on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
args, watched = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["lgaudit", *args]
from lgaudit.cli import cli
code = 0
try:
    cli()
except SystemExit as e:
    code = e.code or 0
heavy = sorted(m for m in watched if m in sys.modules)
print("\\nPROBE " + json.dumps({"code": code, "heavy": heavy}))
"""


def probe_cli(
    args: list[str], *, heavy: Iterable[str], url: str | None = None, cwd: Path = ROOT
) -> dict[str, Any]:
    """``{"code", "heavy", "stdout", "stderr"}`` of ``lgaudit ARGS`` (``$LGAUDIT_DB=url`` when
    given); ``stdout`` is what the verb printed, without the probe's own line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if url is not None:
        env["LGAUDIT_DB"] = url
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(list(heavy))],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    printed, found, last = out.stdout.rstrip().rpartition("\nPROBE ")
    assert found, (args, out.stdout[-500:], out.stderr[-2000:])
    result: dict[str, Any] = json.loads(last)
    result["stdout"] = printed
    result["stderr"] = out.stderr
    return result
