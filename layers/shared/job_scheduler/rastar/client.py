"""Talking to Rastar over HTTP: timeouts, retries with backoff, errors that say what to do.

``RastarClient`` is thread-safe (one ``httpx.Client``, its pool sized to the concurrency the
caller uses). Errors:

- ``CredentialsRefused``: the user's token was refused; they must link again. Not retried.
- ``RastarUnavailable``: timeouts, connection errors, 429 or 5xx that outlasted the retries,
  or an answer whose shape ``protocol`` does not know.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from job_scheduler.config import Settings
from job_scheduler.errors import ConfigError, CredentialsRefused, RastarUnavailable
from job_scheduler.rastar import protocol
from job_scheduler.rastar.protocol import Food, Reservation

ATTEMPTS = 3


class _RetryableAnswer(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"Rastar answered {status}")
        self.status = status


_RETRYABLE = (httpx.TimeoutException, httpx.TransportError, _RetryableAnswer)


class RastarClient:
    def __init__(self, base_url: str, timeout_seconds: float = 10, concurrency: int = 32) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 3.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RastarClient:
        if not settings.rastar_api_url:
            raise ConfigError("RASTAR_API_URL is not set: the Rastar food service's base URL")
        return cls(
            settings.rastar_api_url, settings.rastar_timeout_seconds, settings.rastar_concurrency
        )

    def close(self) -> None:
        self._http.close()

    def menu(self, token: str, day: date) -> tuple[Food, ...]:
        """The foods served on ``day``; empty when nothing is."""
        body = self._get(protocol.MENU_PATH, token, protocol.menu_params(day), no_content_ok=True)
        return () if body is None else protocol.parse_menu(body)

    def reservations(self, token: str, first: date, last: date) -> tuple[Reservation, ...]:
        """The user's picks from ``first`` to ``last``, both included."""
        params = protocol.reservations_params(first, last)
        body = self._get(protocol.RESERVATIONS_PATH, token, params)
        return protocol.parse_reservations(body)

    def _get(
        self, path: str, token: str, params: dict[str, str], no_content_ok: bool = False
    ) -> Any:
        try:
            answer = self._get_retrying(path, token, params)
        except _RETRYABLE as exc:
            raise RastarUnavailable(f"Rastar {path}: {_describe(exc)} ({ATTEMPTS} tries)") from None
        if answer.status_code in protocol.REFUSED_STATUSES:
            raise CredentialsRefused(f"Rastar refused the token ({answer.status_code})")
        if no_content_ok and answer.status_code == protocol.NO_MENU_STATUS:
            return None
        if answer.status_code != 200:
            raise RastarUnavailable(f"Rastar {path} answered {answer.status_code}")
        try:
            return answer.json()
        except ValueError:
            raise RastarUnavailable(f"Rastar {path} answered something that is not JSON") from None

    @retry(
        retry=retry_if_exception_type(_RETRYABLE),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential_jitter(multiplier=0.2, max=2),
        reraise=True,
    )
    def _get_retrying(self, path: str, token: str, params: dict[str, str]) -> httpx.Response:
        answer = self._http.get(path, params=params, headers=protocol.auth_headers(token))
        if answer.status_code in protocol.RETRY_STATUSES:
            raise _RetryableAnswer(answer.status_code)
        return answer


def _describe(exc: BaseException) -> str:
    """The error's kind, never its text: httpx puts the URL in it, and the URL is harmless but
    the request headers (the token) must not follow it into a log."""
    if isinstance(exc, _RetryableAnswer):
        return f"answered {exc.status}"
    return type(exc).__name__
