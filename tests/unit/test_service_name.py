"""Powertools' own variables are honoured: POWERTOOLS_SERVICE_NAME names the service in
every log line and metric, POWERTOOLS_METRICS_NAMESPACE the metrics' namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json
from job_scheduler.observability import logger, metrics
print(json.dumps({"service": logger.service, "namespace": metrics.namespace}))
"""


def observed(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_service_and_namespace_come_from_powertools_variables():
    assert observed(POWERTOOLS_SERVICE_NAME="jobs-bot", POWERTOOLS_METRICS_NAMESPACE="Ops") == {
        "service": "jobs-bot",
        "namespace": "Ops",
    }


def test_without_them_the_defaults_hold():
    assert observed() == {"service": "telegram-jobs", "namespace": "TelegramJobs"}
