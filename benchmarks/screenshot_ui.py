"""Screenshots of ``lgaudit ui`` taken in a real browser (Debian's chromium, Playwright):
the run page of the demo's approval agent, for the README.

    python benchmarks/screenshot_ui.py [--db URL] [--out docs/]

Without ``--db`` it records the demo's runs into a fresh SQLite store first.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def serve(url: str) -> tuple[str, object]:
    import uvicorn

    from lgaudit.ui import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(url), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    url = args.db
    if url is None:
        from helpers import record_demo_runs

        url = f"sqlite:///{tempfile.mkdtemp()}/lgaudit.db"
        record_demo_runs(url)
    from playwright.sync_api import sync_playwright

    from lgaudit import Store

    with Store.open(url) as store:
        runs = store.runs(limit=None)
    agent = next(r for r in runs if r["graph"] == "approval_agent" and r["status"] == "succeeded")
    earlier = next(r for r in runs if r["thread_id"] == agent["thread_id"] and r is not agent)
    base, server = serve(url)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{base}/")
        page.screenshot(path=str(out / "ui-runs.png"))
        page.goto(f"{base}/runs/{agent['run_id']}")
        page.locator("details.step").nth(0).locator("summary").click()
        page.evaluate("window.scrollTo(0, document.getElementById('graph').offsetTop - 60)")
        page.screenshot(path=str(out / "ui-run.png"), full_page=False)
        page.goto(f"{base}/diff/{earlier['run_id']}/{agent['run_id']}")
        page.screenshot(path=str(out / "ui-diff.png"))
        browser.close()
    server.should_exit = True  # type: ignore[attr-defined]
    print("\n".join(str(out / n) for n in ("ui-runs.png", "ui-run.png", "ui-diff.png")))


if __name__ == "__main__":
    main()
