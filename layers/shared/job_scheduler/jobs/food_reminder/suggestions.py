"""One dish to suggest to a user from tomorrow's menu, from what they picked before.

With an LLM configured (``LLM_API_URL``: any OpenAI-compatible ``/chat/completions``), the
model is asked; its answer counts only if it names a dish on the menu. Without one, on a
timeout, an error or an answer off the menu, the suggestion is deterministic: the user's
most frequent past pick that is on tomorrow's menu (the latest such pick on a tie), else
none. A suggestion never fails a run: after ``BREAKER_FAILURES`` LLM failures in a row the
model is not asked again in this run (10k users must not each wait out a timeout).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

import httpx

from job_scheduler.config import Settings
from job_scheduler.observability import logger, metrics
from job_scheduler.rastar.protocol import Food, Selection

BREAKER_FAILURES = 3
MAX_ANSWER_TOKENS = 20


def most_frequent_pick(menu: Sequence[Food], past: Sequence[Selection]) -> Food | None:
    """The user's most frequent past pick that is on ``menu``; the latest of a tie."""
    on_menu = {food.id: food for food in menu}
    counts = Counter(r.food.id for r in past if r.food.id in on_menu)
    if not counts:
        return None
    latest = {r.food.id: r.date for r in sorted(past, key=lambda r: r.date)}
    best = max(counts, key=lambda food_id: (counts[food_id], latest[food_id]))
    return on_menu[best]


class Suggester:
    """Deterministic suggestions, asking the LLM first when one is configured."""

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        timeout_seconds: float = 5,
        concurrency: int = 32,
    ) -> None:
        self._model = model
        self._http = None
        if api_url:
            headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
            self._http = httpx.Client(
                base_url=api_url,
                headers=headers,
                timeout=timeout_seconds,
                limits=httpx.Limits(max_connections=concurrency),
            )
        self._lock = threading.Lock()
        self._failures_in_a_row = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Suggester:
        return cls(
            settings.llm_api_url,
            settings.llm_api_key,
            settings.llm_model,
            settings.llm_timeout_seconds,
            settings.rastar_concurrency,
        )

    @property
    def uses_llm(self) -> bool:
        return self._http is not None and self._failures_in_a_row < BREAKER_FAILURES

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def suggest(self, menu: Sequence[Food], past: Sequence[Selection]) -> Food | None:
        if not menu:
            return None
        if self.uses_llm and past:
            chosen = self._ask(menu, past)
            if chosen is not None:
                return chosen
        return most_frequent_pick(menu, past)

    def _ask(self, menu: Sequence[Food], past: Sequence[Selection]) -> Food | None:
        assert self._http is not None
        try:
            answer = self._http.post("/chat/completions", json=self._request(menu, past))
            answer.raise_for_status()
            text = answer.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            self._failed(type(exc).__name__)
            return None
        chosen = _food_named(menu, str(text))
        if chosen is None:
            self._failed("answer not on the menu")
            return None
        with self._lock:
            self._failures_in_a_row = 0
        return chosen

    def _request(self, menu: Sequence[Food], past: Sequence[Selection]) -> dict:
        dishes = "\n".join(f"{food.id}: {food.name}" for food in menu)
        history = "\n".join(f"{r.date.isoformat()}: {r.food.name}" for r in past[-30:])
        return {
            "model": self._model,
            "temperature": 0,
            "max_tokens": MAX_ANSWER_TOKENS,
            "messages": [
                {
                    "role": "system",
                    "content": "You suggest one dish from a menu to a person, based on what"
                    " they ate before. Answer with the dish's id only.",
                },
                {
                    "role": "user",
                    "content": f"Tomorrow's menu (id: name):\n{dishes}\n\n"
                    f"What they picked before (date: dish):\n{history}",
                },
            ],
        }

    def _failed(self, why: str) -> None:
        with self._lock:
            self._failures_in_a_row += 1
            tripped = self._failures_in_a_row == BREAKER_FAILURES
        metrics.add_metric(name="SuggestionFallbacks", unit="Count", value=1)
        if tripped:
            logger.warning(
                "the LLM failed several times in a row; suggesting from past picks for the"
                " rest of this run",
                extra={"last_error": why},
            )


def _food_named(menu: Sequence[Food], text: str) -> Food | None:
    """The menu item the answer names: by id (the answer asked for), else by exact name."""
    answer = text.strip().strip("\"'`.").strip()
    for food in menu:
        if answer == food.id:
            return food
    for food in menu:
        if answer.casefold() == food.name.casefold():
            return food
    return None
