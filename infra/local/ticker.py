"""EventBridge's scheduler, for moto: fire each enabled rule on its schedule into its targets.

moto stores rules but does not fire schedules, so at every UTC minute this looks at the
deployment's rules and, for each one due, builds the scheduled event EventBridge would send
(``detail-type: Scheduled Event``, ``time`` = the minute, ``resources`` = [rule ARN]) and
delivers it to each SQS target, applying the target's Input, InputPath or InputTransformer.
It is off against LocalStack, which fires rules itself.

``rate()`` rules fire on multiples of their interval since the epoch (EventBridge counts from
the rule's creation; the executor treats every rate firing as due either way).

Input transformers are applied for unquoted placeholders (``"time": <time>``), the form
this deployment's rules use; a quoted placeholder inside a longer string is not supported.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from job_scheduler.execution.firing import floor_minute, iso_minute
from job_scheduler.observability import logger
from job_scheduler.schedule.zoned import Schedule

_PATH_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")
CATCH_UP = timedelta(minutes=10)
_RATE_MINUTES = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


def scheduled_event(rule: dict[str, Any], minute: datetime, account: str, region: str) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso_minute(minute),
        "region": region,
        "resources": [rule["Arn"]],
        "detail": {},
    }


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath ($.a.b[0]); None where it does not exist."""
    value = document
    for key, index in _PATH_PART.findall(path.removeprefix("$")):
        try:
            value = value[key] if key else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The message body EventBridge would deliver to this target."""
    if "Input" in target:
        return target["Input"]
    if "InputPath" in target:
        return json.dumps(json_path(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(event)
    body = transformer["InputTemplate"]
    for name, path in transformer.get("InputPathsMap", {}).items():
        body = body.replace(f"<{name}>", json.dumps(json_path(event, path)))
    return body.replace("<aws.events.event.json>", json.dumps(event))


def is_due(expression: str, minute: datetime) -> bool:
    if expression.startswith("rate("):
        value, unit = expression[5:-1].split(" ")
        every = int(value) * _RATE_MINUTES[unit]
        return int(minute.timestamp() // 60) % every == 0
    return Schedule.parse(expression, "UTC").is_due(minute)


class RuleTicker(threading.Thread):
    """Fires the rules named ``<prefix>-...`` once per UTC minute."""

    def __init__(self, events: Any, sqs: Any, prefix: str, region: str, stop: threading.Event):
        super().__init__(name="rule-ticker", daemon=True)
        self.events, self.sqs, self.prefix, self.region, self.stop = (
            events,
            sqs,
            prefix,
            region,
            stop,
        )
        self.fired = 0
        self._last: datetime | None = None

    def run(self) -> None:
        while not self.stop.wait(0.5):
            for minute in self.due_minutes(floor_minute(datetime.now(UTC))):
                self.fire(minute)

    def due_minutes(self, now_minute: datetime) -> list[datetime]:
        """The minutes not fired yet, up to now: a slow tick or a sleeping laptop skips none
        (back to ``CATCH_UP`` minutes; EventBridge does not replay older ones either)."""
        first = now_minute if self._last is None else self._last + timedelta(minutes=1)
        first = max(first, now_minute - CATCH_UP)
        minutes = []
        while first <= now_minute:
            minutes.append(first)
            first += timedelta(minutes=1)
        if minutes:
            self._last = minutes[-1]
        return minutes

    def fire(self, minute: datetime) -> int:
        """Deliver every rule due at ``minute``; return how many deliveries were made."""
        try:
            rules = self._rules()
        except Exception:  # the emulator may be stopping; the next minute tries again
            logger.exception("rule ticker could not list rules")
            return 0
        count = 0
        for rule in rules:
            try:
                count += self._fire_rule(rule, minute)
            except Exception:  # one bad rule must not stop the others
                logger.exception("rule ticker failed a rule", extra={"rule": rule.get("Name")})
        self.fired += count
        return count

    def _fire_rule(self, rule: dict[str, Any], minute: datetime) -> int:
        expression = rule.get("ScheduleExpression")
        if rule.get("State") != "ENABLED" or not expression or not is_due(expression, minute):
            return 0
        event = scheduled_event(rule, minute, rule["Arn"].split(":")[4], self.region)
        count = 0
        for target in self.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            if ":sqs:" in target["Arn"]:
                self.sqs.send_message(
                    QueueUrl=self._queue_url(target["Arn"]),
                    MessageBody=target_input(target, event),
                )
                count += 1
        return count

    def _rules(self) -> list[dict[str, Any]]:
        rules, kwargs = [], {"NamePrefix": f"{self.prefix}-"}
        while True:
            page = self.events.list_rules(**kwargs)
            rules += page.get("Rules", [])
            if not page.get("NextToken"):
                return rules
            kwargs["NextToken"] = page["NextToken"]

    def _queue_url(self, arn: str) -> str:
        name, account = arn.split(":")[5], arn.split(":")[4]
        return self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
