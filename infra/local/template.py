"""Reading template.yaml, so the local runtime creates what the stack declares, no more.

CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) become their long-form dicts, and the
few intrinsics the queue and environment definitions use are resolved against what the
local runtime created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# Lambda runs as many invocations of an SQS-triggered function as its queue keeps busy; the
# local runtime runs this many pollers of a mapping that sets no MaximumConcurrency (and
# this many invocations at once of a function URL without reserved concurrency).
LOCAL_CONCURRENCY = 4


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns !Tag values into {'Fn::Tag': value} (or {'Ref': value})."""


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    attributes: dict[str, str]
    dead_letter_queue: str | None
    max_receive_count: int | None


def queue_specs(template: dict[str, Any]) -> list[QueueSpec]:
    """The template's SQS queues, dead-letter queues first (others point at them)."""
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::SQS::Queue":
            continue
        props = resource.get("Properties", {})
        attributes = {
            name: str(props[name])
            for name in ("VisibilityTimeout", "MessageRetentionPeriod")
            if name in props
        }
        redrive = props.get("RedrivePolicy")
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] if redrive else None
        count = resolve(template, redrive["maxReceiveCount"], {}) if redrive else None
        specs.append(QueueSpec(logical_id, attributes, dlq, int(count) if count else None))
    return sorted(specs, key=lambda spec: spec.dead_letter_queue is not None)


def resolve(template: dict[str, Any], value: Any, created: dict[str, dict[str, str]]) -> Any:
    """Resolve Ref / GetAtt / FindInMap against created resources; None if unknown."""
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        name = value["Ref"]
        if name in created:
            return created[name].get("Ref")
        return template.get("Parameters", {}).get(name, {}).get("Default")
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return created.get(logical_id, {}).get(attribute)
    if "Fn::FindInMap" in value:
        mapping, key, name = value["Fn::FindInMap"]
        return template["Mappings"][mapping][key][name]
    return None


def function_environment(
    template: dict[str, Any], created: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The functions' Globals environment, resolved against what was created locally.

    Parameters resolve to their defaults; what cannot be resolved here (secret ARNs without
    a default, ``!Sub`` names) is left out for the local runtime to supply.
    """
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    resolved = {name: resolve(template, value, created) for name, value in variables.items()}
    return {name: str(value) for name, value in resolved.items() if value is not None}


@dataclass(frozen=True)
class SqsSource:
    """One SQS event source mapping of a function, as template.yaml declares it."""

    function: str
    code_uri: str
    handler: str
    timeout: int
    queue: str
    batch_size: int
    report_batch_item_failures: bool
    concurrency: int  # the mapping's MaximumConcurrency, else what the local runtime allows


def sqs_sources(template: dict[str, Any]) -> list[SqsSource]:
    """Every function's SQS event sources (the pollers the local runtime runs)."""
    defaults = template.get("Globals", {}).get("Function", {})
    sources = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in props.get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            spec = event["Properties"]
            sources.append(
                SqsSource(
                    function=logical_id,
                    code_uri=props["CodeUri"],
                    handler=props["Handler"],
                    timeout=int(props.get("Timeout", defaults.get("Timeout", 3))),
                    queue=spec["Queue"]["Fn::GetAtt"][0],
                    batch_size=int(spec.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in spec.get("FunctionResponseTypes", []),
                    concurrency=int(
                        spec.get("ScalingConfig", {}).get("MaximumConcurrency", LOCAL_CONCURRENCY)
                    ),
                )
            )
    return sources


@dataclass(frozen=True)
class UrlFunction:
    """A function behind a Lambda function URL, as template.yaml declares it."""

    function: str
    code_uri: str
    handler: str
    timeout: int
    # Its ReservedConcurrentExecutions, else what the local runtime allows: the invocations
    # that run at once (the rest wait their turn), each on a thread kept for the next.
    concurrency: int = LOCAL_CONCURRENCY


def url_functions(template: dict[str, Any]) -> list[UrlFunction]:
    """The functions with a ``FunctionUrlConfig`` (the URLs the local runtime serves)."""
    defaults = template.get("Globals", {}).get("Function", {})
    return [
        UrlFunction(logical_id, resource["Properties"]["CodeUri"],
                    resource["Properties"]["Handler"],
                    int(resource["Properties"].get("Timeout", defaults.get("Timeout", 3))),
                    int(resource["Properties"].get("ReservedConcurrentExecutions",
                                                   LOCAL_CONCURRENCY)))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and "FunctionUrlConfig" in resource["Properties"]
    ]  # fmt: skip
