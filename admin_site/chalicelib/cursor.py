"""Opaque page cursors for execution history: (scheduled_for, id) of the last row shown."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from .http import ApiError


def encode(scheduled_for: datetime, execution_id: int) -> str:
    raw = f"{scheduled_for.isoformat()}|{execution_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, number = raw.partition("|")
        at = datetime.fromisoformat(moment)
        if at.tzinfo is None or not number.isascii() or not number.isdigit() or len(number) > 18:
            raise ValueError(raw)
        return at, int(number)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(
            400, "bad_request", "before must be the 'next' cursor of a previous page", "before"
        ) from None
