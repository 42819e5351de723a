"""The browser tests on a machine without a browser: the README's test command must pass on
a newcomer's machine (skipped, with the reason shown), and fail in CI, where
``LGAUDIT_REQUIRE_BROWSER=1`` says a browser was installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def _run_without_browser(tmp_path: Path, require: bool) -> subprocess.CompletedProcess[str]:
    """pytest on one test that needs the ``browser`` fixture, with no ``chromium`` on PATH and
    an empty Playwright browser folder."""
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_page.py").write_text("def test_page(browser):\n    assert browser\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LGAUDIT_REQUIRE_BROWSER", "PYTEST_ADDOPTS")
    }
    env["PATH"] = str(bin_dir)
    env["PLAYWRIGHT_BROWSERS_PATH"] = str(tmp_path / "no-browsers")
    if require:
        env["LGAUDIT_REQUIRE_BROWSER"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_a_browser_the_browser_tests_skip_with_the_reason(tmp_path: Path) -> None:
    done = _run_without_browser(tmp_path, require=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "no browser" in done.stdout and "chromium" in done.stdout


def test_ci_fails_the_browser_tests_when_no_browser_is_found(tmp_path: Path) -> None:
    done = _run_without_browser(tmp_path, require=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout  # a failing fixture is an error of its test
    assert "LGAUDIT_REQUIRE_BROWSER=1" in done.stdout


def test_debian_chromium_is_the_browser_when_installed() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        import pytest

        pytest.skip("chromium is not on PATH here")
    sys.path.insert(0, str(TESTS))
    try:
        from conftest import _find_browser
    finally:
        sys.path.remove(str(TESTS))
    assert _find_browser() == (chromium, "")
