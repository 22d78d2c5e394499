"""A Lambda function's handler object, built from ``Settings`` once per cold start.

In Lambda the first invocation builds it from the environment (one read per cold start);
whoever runs the handler in-process (the local runtime, the tests) hands it the settings
with ``configure`` first, so nothing writes ``os.environ`` to steer it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from job_scheduler.config import Settings

H = TypeVar("H")


class ColdStart(Generic[H]):
    """Builds the handler object with ``build(settings)`` when first needed, then keeps it."""

    def __init__(self, build: Callable[[Settings], H]) -> None:
        self._build = build
        self._built: H | None = None
        self._lock = threading.Lock()

    def configure(self, settings: Settings) -> H:
        """Build (or rebuild) the handler object from these settings."""
        with self._lock:
            self._built = self._build(settings)
            return self._built

    def get(self) -> H:
        """The handler object, built from the environment if nobody configured it."""
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._build(Settings.from_env())
                built = self._built
        return built
