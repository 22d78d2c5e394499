"""What each Lambda entry imports at cold start: each function loads its own path only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOAD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("entry", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""


def modules_loaded_by(function: str) -> set[str]:
    app = ROOT / "functions" / function / "app.py"
    result = subprocess.run(
        [sys.executable, "-c", LOAD, str(app)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def loaded(modules: set[str], prefix: str) -> list[str]:
    return sorted(name for name in modules if name == prefix or name.startswith(prefix + "."))


@pytest.mark.parametrize(
    "function, never",
    [
        ("notifier", ["job_scheduler.execution", "job_scheduler.jobs", "jinja2"]),
        ("notifier", ["job_scheduler.admin", "job_scheduler.sync", "job_scheduler.rastar"]),
        ("job_executor", ["telebot", "job_scheduler.delivery.notifier", "job_scheduler.admin"]),
        ("job_executor", ["job_scheduler.rastar", "httpx"]),  # the reminder loads them to run
        ("bot_startup", ["job_scheduler.admin", "job_scheduler.delivery.notifier", "telebot"]),
        # The bot must answer with Redis down: it has no Redis client (pyTelegramBotAPI
        # imports the redis package for a storage the bot does not use).
        ("bot_webhook", ["job_scheduler.adapters.redis_client", "job_scheduler.execution"]),
        ("bot_webhook", ["job_scheduler.delivery"]),
        ("bot_webhook", ["job_scheduler.admin", "job_scheduler.sync", "boto3"]),
        # httpx, Jinja and the Jalali calendar load at the first tap on a dish, not at start
        ("bot_webhook", ["httpx", "jinja2", "jdatetime", "job_scheduler.rastar.client"]),
    ],
)
def test_a_function_never_loads_another_functions_path(function, never):
    modules = modules_loaded_by(function)
    assert [name for prefix in never for name in loaded(modules, prefix)] == []


def test_each_function_loads_its_own_path():
    assert loaded(modules_loaded_by("notifier"), "job_scheduler.delivery.notifier")
    assert loaded(modules_loaded_by("job_executor"), "job_scheduler.execution.executor")
    assert loaded(modules_loaded_by("bot_startup"), "job_scheduler.sync.converge")
    assert loaded(modules_loaded_by("bot_webhook"), "job_scheduler.bot.conversation")
