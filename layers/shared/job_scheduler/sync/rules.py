"""EventBridge rules for jobs: naming, the target that carries the firing, and the API calls.

Each job gets one rule per UTC expression (one in most zones). A rule's target is the jobs
queue, through an input transformer that writes the job's name next to the scheduled
event's ``time``, ``id`` and rule ARN, so the executor learns which job fired and for which
minute without a lookup. A rule belongs to this deployment when its name starts with the
rule prefix *and* its description starts with ``[prefix]``: a neighbour whose prefix merely
begins with ours is never touched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from job_scheduler.adapters.aws import aws_call, client
from job_scheduler.errors import AwsError
from job_scheduler.model import Job

MAX_RULE_NAME = 64
TARGET_ID = "jobs-queue"
ENABLED, DISABLED = "ENABLED", "DISABLED"


@dataclass(frozen=True)
class RuleSpec:
    """A rule as this deployment wants it."""

    name: str
    expression: str
    state: str
    description: str


def rule_names(prefix: str, job_name: str, count: int) -> list[str]:
    """``prefix-job`` then ``prefix-job.2`` ...; job names have no '.', so names never clash."""
    names = [
        f"{prefix}-{job_name}" + (f".{index}" if index > 1 else "") for index in range(1, count + 1)
    ]
    return [_fit(name) for name in names]


def _fit(name: str) -> str:
    if len(name) <= MAX_RULE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_RULE_NAME - 9]}_{digest}"


def description_for(prefix: str, job: Job, expression: str) -> str:
    return (
        f"[{prefix}] job {job.name}: {job.cron_expression} in {job.timezone}"
        f" (UTC rule {expression})"
    )[:512]


def desired_rules(prefix: str, job: Job, expressions: list[str]) -> list[RuleSpec]:
    state = ENABLED if job.enabled else DISABLED
    names = rule_names(prefix, job.name, len(expressions))
    return [
        RuleSpec(name, expression, state, description_for(prefix, job, expression))
        for name, expression in zip(names, expressions, strict=True)
    ]


def target_for(job_name: str, queue_arn: str) -> dict[str, Any]:
    """The jobs-queue target: the scheduled event's time, id and rule, plus the job name."""
    template = json.dumps(
        {
            "source": "schedule",
            "job": job_name,
            "time": "__T__",
            "rule": "__R__",
            "event_id": "__I__",
        }
    )
    template = template.replace('"__T__"', "<time>").replace('"__R__"', "<rule>")
    return {
        "Id": TARGET_ID,
        "Arn": queue_arn,
        "InputTransformer": {
            "InputPathsMap": {"time": "$.time", "rule": "$.resources[0]", "id": "$.id"},
            "InputTemplate": template.replace('"__I__"', "<id>"),
        },
        "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
    }


class RuleStore:
    """The event bus's rules that belong to this deployment."""

    def __init__(self, settings: Any) -> None:
        self.prefix = settings.rule_prefix
        self.bus = settings.event_bus_name
        self.queue_arn = settings.jobs_queue_arn
        self.quota = settings.rules_per_bus_quota
        self._events = client(settings, "events")

    def managed(self) -> dict[str, RuleSpec]:
        marker = f"[{self.prefix}] "
        return {
            rule["Name"]: RuleSpec(
                rule["Name"], rule.get("ScheduleExpression", ""), rule["State"], rule["Description"]
            )
            for rule in self._list_rules(f"{self.prefix}-")
            if rule.get("Description", "").startswith(marker)
        }

    def count_all(self) -> int:
        """Every rule on the bus, ours or not: the quota counts them all."""
        return len(self._list_rules(None))

    def target_matches(self, name: str, job_name: str) -> bool:
        with aws_call(f"listing targets of rule {name}"):
            targets = self._events.list_targets_by_rule(Rule=name, EventBusName=self.bus)["Targets"]
        wanted = target_for(job_name, self._queue_arn())
        return any(_same_target(target, wanted) for target in targets) and len(targets) == 1

    def put(self, spec: RuleSpec, job_name: str) -> None:
        with aws_call(f"putting rule {spec.name}"):
            self._events.put_rule(
                Name=spec.name,
                ScheduleExpression=spec.expression,
                State=spec.state,
                Description=spec.description,
                EventBusName=self.bus,
            )
        self._replace_targets(spec.name, job_name)

    def delete(self, name: str) -> None:
        with aws_call(f"deleting rule {name}"):
            try:
                targets = self._events.list_targets_by_rule(Rule=name, EventBusName=self.bus)
                ids = [target["Id"] for target in targets["Targets"]]
                if ids:
                    self._events.remove_targets(Rule=name, Ids=ids, EventBusName=self.bus)
                self._events.delete_rule(Name=name, EventBusName=self.bus)
            except self._events.exceptions.ResourceNotFoundException:
                return  # already gone: deleting is idempotent

    def _replace_targets(self, name: str, job_name: str) -> None:
        wanted = target_for(job_name, self._queue_arn())
        with aws_call(f"listing targets of rule {name}"):
            current = self._events.list_targets_by_rule(Rule=name, EventBusName=self.bus)["Targets"]
        stale = [target["Id"] for target in current if target["Id"] != TARGET_ID]
        with aws_call(f"setting the target of rule {name}"):
            if stale:
                self._events.remove_targets(Rule=name, Ids=stale, EventBusName=self.bus)
            response = self._events.put_targets(Rule=name, Targets=[wanted], EventBusName=self.bus)
        if response.get("FailedEntryCount"):
            raise AwsError(f"putting the target of rule {name} failed: {response['FailedEntries']}")

    def _queue_arn(self) -> str:
        if not self.queue_arn:
            raise AwsError("JOBS_QUEUE_ARN is not set: rules need the jobs queue as their target")
        return self.queue_arn

    def _list_rules(self, prefix: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"EventBusName": self.bus, "Limit": 100}
        if prefix:
            kwargs["NamePrefix"] = prefix
        with aws_call("listing EventBridge rules"):
            while True:
                page = self._events.list_rules(**kwargs)
                found.extend(page.get("Rules", []))
                if not page.get("NextToken"):
                    return found
                kwargs["NextToken"] = page["NextToken"]


def _same_target(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("Id", "Arn", "InputTransformer")
    return all(actual.get(key) == wanted.get(key) for key in keys)


__all__ = [
    "DISABLED",
    "ENABLED",
    "RuleSpec",
    "RuleStore",
    "desired_rules",
    "rule_names",
    "target_for",
]
