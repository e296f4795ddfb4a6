"""A real headless Chromium for the page tests (analysis.html, serve.py), driven by Playwright.

The browser is the system's (Debian's `chromium` package, which `.ci/run` installs); Playwright's own
browser download is never used (it needs a CDN this project cannot reach). Without either, the tests
that ask for `browser_page` skip and say which is missing. tests/conftest.py registers these fixtures.
"""

from __future__ import annotations

import os
import shutil

import pytest

# The system Chromium: $SPLINTER_CHROMIUM wins, then the names Debian and other distributions use.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Closed network: without these Chromium keeps opening connections that the machine refuses.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    explicit = os.environ.get("SPLINTER_CHROMIUM")
    if explicit:
        return explicit
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; or set SPLINTER_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(browser):
    """A fresh page (its own context: no storage shared between tests), 1280x900, closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
