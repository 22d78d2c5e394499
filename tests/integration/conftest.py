"""Fixtures the integration tests share beyond tests/conftest.py: the browser, the fake
Telegram, a Rastar client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, driven by Playwright (which downloads no browser of its own)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: `make test` installs it when it may"
            " (infra/scripts/ensure-chromium.sh), else: sudo apt-get install chromium (or set"
            " CHROMIUM_PATH)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where a browser test's screenshots go: a temporary directory, or docs/screenshots
    with UPDATE_SCREENSHOTS=1 (what the docs show is what a test saw)."""
    if os.environ.get("UPDATE_SCREENSHOTS"):
        target = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path


@pytest.fixture
def page(browser, site):
    """A desktop-sized page on the admin site a test module serves as its ``site`` fixture."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


@pytest.fixture(scope="session")
def telegram_server() -> Iterator[tuple[Any, str]]:
    """The fake Telegram Bot API, over HTTP on loopback, and its URL."""
    from infra.fakes.telegram import FakeTelegram

    fake = FakeTelegram()
    url = fake.start()
    yield fake, url
    fake.stop()


@pytest.fixture
def telegram(telegram_server: tuple[Any, str]) -> Iterator[Any]:
    """The fake Telegram, forgetting every message and knob around each test."""
    fake, _ = telegram_server
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture
def sealing_key() -> str:
    """A fresh Fernet key people's Rastar sessions are sealed with (RASTAR_ENCRYPTION_KEYS)."""
    from job_scheduler.rastar.crypto import SecretBox

    return SecretBox.new_key()


@pytest.fixture
def box(sealing_key: str) -> Any:
    """The SecretBox of ``sealing_key``."""
    from job_scheduler.rastar.crypto import SecretBox

    return SecretBox([sealing_key])


@pytest.fixture
def rastar_client(rastar: Any) -> Iterator[Any]:
    """The package's Rastar client, aimed at the fake Rastar."""
    from job_scheduler.rastar.client import RastarClient

    client = RastarClient(rastar.base_url, rastar.anon_key, timeout_seconds=2)
    yield client
    client.close()
