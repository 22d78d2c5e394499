"""Answering CloudFormation for a custom resource, so bot_startup runs at every deploy.

CloudFormation waits (up to an hour) for a PUT to the pre-signed ``ResponseURL``, so the
handler answers on every path, failures included. The URL carries a signature: it is never
logged. Written by hand because the helper libraries for this (crhelper) add a polling
machinery a sub-minute sync does not need.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from job_scheduler.observability import logger, scrub

PHYSICAL_ID_SUFFIX = "startup-sync"
MAX_DATA_BYTES = 3000  # CloudFormation caps the whole response body at 4096 bytes


def is_custom_resource_event(event: Any) -> bool:
    return isinstance(event, dict) and "RequestType" in event and "ResponseURL" in event


def handle(
    event: dict[str, Any],
    context: Any,
    on_create_or_update: Callable[[], dict[str, Any]],
    on_delete: Callable[[], dict[str, Any]],
    physical_prefix: str,
) -> dict[str, Any]:
    """Run the action for the request type and always report the outcome."""
    status, reason, data = "SUCCESS", "", {}
    try:
        action = on_delete if event["RequestType"] == "Delete" else on_create_or_update
        data = action()
    except Exception as exc:
        logger.exception("custom resource request failed")
        reason = scrub(f"{type(exc).__name__}: {exc}")[:1000]
        # A failed clean-up must not wedge the stack's deletion: report it and let it go.
        status = "SUCCESS" if event["RequestType"] == "Delete" else "FAILED"
    body = {
        "Status": status,
        "Reason": reason or f"See log stream {getattr(context, 'log_stream_name', '-')}",
        "PhysicalResourceId": event.get("PhysicalResourceId")
        or f"{physical_prefix}-{PHYSICAL_ID_SUFFIX}",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": _fit(data),
    }
    _send(event["ResponseURL"], body)
    return body


def _fit(data: dict[str, Any]) -> dict[str, Any]:
    counts = {key: len(value) if isinstance(value, list) else value for key, value in data.items()}
    return counts if len(json.dumps(counts)) <= MAX_DATA_BYTES else {}


def _send(url: str, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's https URL, not user input
        url,
        data=payload,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        logger.info(
            "answered CloudFormation", extra={"status": body["Status"], "http": response.status}
        )
