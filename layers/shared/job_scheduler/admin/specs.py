"""A custom-message job as a person asks for it, from the admin API or the CLI.

``CustomJobSpec.from_fields`` converts each field exactly as an edit would
(``jobs.fields``); ``check`` does the checks that need the whole job. Writing it is
``admin.edits.create_job``'s: the one way a job comes into being.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from job_scheduler.errors import InvalidJob
from job_scheduler.jobs import fields
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.model import JobKind, OverlapPolicy


@dataclass(frozen=True)
class CustomJobSpec:
    """A custom-message job before it is stored."""

    name: str
    cron_expression: str
    timezone: str
    message: MessageConfig
    description: str = ""
    enabled: bool = True
    include_user_ids: tuple[int, ...] = ()
    exclude_user_ids: tuple[int, ...] = ()
    pack_ids: tuple[int, ...] = ()
    misfire_grace_seconds: int = 300
    overlap_policy: str = OverlapPolicy.SKIP
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @classmethod
    def from_fields(cls, body: Mapping[str, Any], default_timezone: str) -> CustomJobSpec:
        """A spec from API fields (``name``, ``expression``, ``message`` required; the rest as
        in ``jobs.fields.FIELDS``), each converted and checked as an edit's would be."""
        unknown = sorted(set(body) - set(fields.FIELDS) - {"name"})
        if unknown:
            raise InvalidJob(
                f"{unknown[0]!r} is not a field of a job; fields: {sorted(fields.FIELDS)}",
                unknown[0],
            )
        for required in ("name", "expression", "message"):
            if required not in body:
                raise InvalidJob(f"{required} is required", required)
        if not isinstance(body["name"], str):
            raise InvalidJob("name must be text", "name")
        columns = dict(
            fields.convert(field, value) for field, value in body.items() if field != "name"
        )
        timezone = columns.get("timezone") or default_timezone
        columns = fields.in_job_zone(columns, timezone)
        return cls(
            name=body["name"],
            cron_expression=columns["cron_expression"],
            timezone=timezone,
            message=MessageConfig.from_json(columns["message_config"]),
            description=columns.get("description", ""),
            enabled=columns.get("enabled", True),
            include_user_ids=columns.get("include_user_ids", ()),
            exclude_user_ids=columns.get("exclude_user_ids", ()),
            pack_ids=columns.get("pack_ids", ()),
            misfire_grace_seconds=columns.get("misfire_grace_seconds", 300),
            overlap_policy=columns.get("overlap_policy", OverlapPolicy.SKIP),
            starts_at=columns.get("starts_at"),
            ends_at=columns.get("ends_at"),
        )

    def check(self) -> None:
        """Everything that needs no database: raise InvalidJob naming the field."""
        fields.check_name(self.name)
        fields.text(self.description, "description")
        fields.check_job_fields(self)

    def columns(self) -> dict[str, Any]:
        """The ``scheduled_jobs`` columns this spec sets."""
        return {
            "name": self.name,
            "kind": JobKind.CUSTOM_MESSAGE,
            "description": self.description,
            "cron_expression": self.cron_expression,
            "timezone": self.timezone,
            "enabled": self.enabled,
            "message_config": self.message.to_json(),
            "include_user_ids": sorted(set(self.include_user_ids)),
            "exclude_user_ids": sorted(set(self.exclude_user_ids)),
            "pack_ids": sorted(set(self.pack_ids)),
            "misfire_grace_seconds": self.misfire_grace_seconds,
            "overlap_policy": self.overlap_policy,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
        }
