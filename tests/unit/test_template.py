"""template.yaml: the properties the system relies on, plus a clean cfn-lint run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from cfnlint.api import lint
from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE, DECODE_ERRORS = decode_str(TEMPLATE_TEXT)
RESOURCES = TEMPLATE["Resources"]
FUNCTION_GLOBALS = TEMPLATE.get("Globals", {}).get("Function", {})


def of_type(kind: str) -> dict:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


FUNCTIONS = of_type("AWS::Serverless::Function")
QUEUES = of_type("AWS::SQS::Queue")
SQS_EVENTS = [
    (fn_name, ev_name, event["Properties"])
    for fn_name, fn in FUNCTIONS.items()
    for ev_name, event in fn["Properties"].get("Events", {}).items()
    if event["Type"] == "SQS"
]
DLQ_NAMES = {
    q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    for q in QUEUES.values()
    if "RedrivePolicy" in q["Properties"]
}
SQS_IDS = [f"{fn}.{ev}" for fn, ev, _ in SQS_EVENTS]


def resolve(value):
    """Plain values as they are; Fn::FindInMap looked up in the template's Mappings."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, top, second = value["Fn::FindInMap"]
        return TEMPLATE["Mappings"][mapping][top][second]
    return value


def queue_of(event_props: dict) -> str:
    queue = event_props["Queue"]
    assert "Fn::GetAtt" in queue, f"event queue should be a GetAtt of a queue here: {queue}"
    return queue["Fn::GetAtt"][0]


def test_template_decodes():
    assert not DECODE_ERRORS
    assert len(FUNCTIONS) >= 3 and len(SQS_EVENTS) >= 2


@pytest.mark.parametrize(("fn", "ev", "props"), SQS_EVENTS, ids=SQS_IDS)
def test_sqs_events_report_batch_item_failures(fn, ev, props):
    assert "ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])


@pytest.mark.parametrize(("fn", "ev", "props"), SQS_EVENTS, ids=SQS_IDS)
def test_visibility_timeout_is_six_times_the_consumer_timeout(fn, ev, props):
    timeout = FUNCTIONS[fn]["Properties"].get("Timeout", FUNCTION_GLOBALS.get("Timeout", 3))
    visibility = QUEUES[queue_of(props)]["Properties"].get("VisibilityTimeout", 30)
    assert visibility >= 6 * timeout


@pytest.mark.parametrize("name", sorted(set(QUEUES) - DLQ_NAMES))
def test_work_queues_redrive_to_a_dead_letter_queue(name):
    policy = QUEUES[name]["Properties"].get("RedrivePolicy")
    assert policy, f"{name} has no RedrivePolicy"
    assert policy["deadLetterTargetArn"]["Fn::GetAtt"][0] in QUEUES
    assert 1 <= int(resolve(policy["maxReceiveCount"])) <= 10


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_code_defines_its_handler(name):
    props = FUNCTIONS[name]["Properties"]
    module, attribute = props["Handler"].rsplit(".", 1)
    source = ROOT / props["CodeUri"] / f"{module}.py"
    assert source.is_file(), f"{source} is missing"
    defined = set()
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    assert attribute in defined, f"{source} defines no top-level {attribute!r}"


def test_cfn_lint_finds_no_errors_or_warnings():
    matches = lint(TEMPLATE_TEXT, regions=["us-east-1"])
    problems = [m for m in matches if m.rule.id[0] in "EW"]
    assert not problems, "\n".join(f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches)
