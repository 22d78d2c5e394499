"""The audit log: who changed what, with the values before and after."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import Conn


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record_change(
    conn: Conn,
    actor: str,
    action: str,
    entity_type: str,
    entity_name: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at: datetime,
) -> None:
    """Append one audit row; call it inside the transaction that makes the change."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, entity_type, entity_name, before, after)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            at,
            actor,
            action,
            entity_type,
            entity_name,
            Jsonb(_jsonable(before)) if before is not None else None,
            Jsonb(_jsonable(after)) if after is not None else None,
        ),
    )
