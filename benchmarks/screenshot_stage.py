"""Screenshots of ``lgaudit ui``'s review pages taken in a real browser (Debian's chromium,
Playwright): a blocked stage result with its checks, cases, coverage and sign-off form, for
the README.

    python benchmarks/screenshot_stage.py [--out docs/]

Records two payments in production into a fresh SQLite store, stages the same version and a
changed one (payments under 100 skip the human) against them, signs the first off, and
photographs ``/stages`` and the blocked ``/stages/STAGE``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

SUITE = """
[suite]
name = "payments-v2"
graph = "stage_graphs:payments"
[traffic]
environment = "production"
[approval]
gates = ["human_review"]
protected = ["execute_payment"]
approve = ["approve"]
[[scenario]]
name = "approved"
input = { amount = 111 }
humans = ["approve"]
expect = { status = "succeeded", state = { approved = true, paid = true } }
[[scenario]]
name = "turned down"
input = { amount = 222 }
humans = ["reject"]
expect = { status = "succeeded", state = { approved = false } }
[gate]
require = ["traffic", "scenarios", "oversight", "observability", "audit"]
"""


def record(url: str, workdir: Path) -> str:
    """The store's runs and stage results; the blocked stage's id."""
    from click.testing import CliRunner
    from langgraph.types import Command
    from stage_graphs import payments

    from lgaudit import Recorder
    from lgaudit.cli import cli

    with Recorder(url, environment="production") as rec:
        g = rec.attach(payments())
        for amount in (50, 500):
            config = {"configurable": {"thread_id": f"pay-{amount}"}}
            g.invoke({"amount": amount}, config)
            g.invoke(Command(resume="approve"), config)
    suite = workdir / "payments.toml"
    suite.write_text(SUITE, encoding="utf-8")

    def lg(*args: str) -> dict[str, object]:
        out = CliRunner().invoke(cli, [*args, "--db", url])
        return json.loads(out.stdout) if "--json" in args else {}

    same = lg("stage", str(suite), "--json")
    lg("signoff", str(same["stage_id"]), "--by", "ann", "--decision", "approve",
       "--note", "traffic replays alike; both gate answers exercised")  # fmt: skip
    changed = lg("stage", str(suite), "--json", "--graph", "stage_graphs:payments_fast_lane")
    return str(changed["stage_id"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from screenshot_ui import serve

    workdir = Path(tempfile.mkdtemp())
    url = f"sqlite:///{workdir}/lgaudit.db"
    blocked = record(url, workdir)
    base, server = serve(url)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shots = [out / "ui-stages.png", out / "ui-stage.png"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{base}/stages")
        page.screenshot(path=str(shots[0]))
        page.goto(f"{base}/stages/{blocked}")
        page.screenshot(path=str(shots[1]), full_page=True)
        browser.close()
    server.should_exit = True  # type: ignore[attr-defined]
    print("\n".join(map(str, shots)))


if __name__ == "__main__":
    main()
