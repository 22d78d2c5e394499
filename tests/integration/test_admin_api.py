"""The admin API (Chalice's test client, in process) against the real Postgres and moto's
SQS: tokens, the error shape, the read routes and "run now"."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from admin_helpers import admin_settings, load_admin_app
from chalice.test import Client
from pipeline import add_custom_job, add_users, make_queues, receive_all

from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.errors import InvalidTokenName, TokenExists
from job_scheduler.observability import scrub


@pytest.fixture
def queues(aws):
    return make_queues(aws)


@pytest.fixture
def client(db, database_url, aws, queues):
    with Client(load_admin_app(admin_settings(database_url, aws, queues))) as test_client:
        yield test_client


def configure(**changes):
    """The admin app's settings with these changed, as a new cold start would read them."""
    from chalicelib.context import current

    current.configure(replace(current.get().settings, **changes))
    return current.get().settings


@pytest.fixture
def token(db) -> str:
    return admin_tokens.create(db, "tester", "test")


def call(client, method: str, path: str, token: str | None = None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = body if isinstance(body, str | bytes) else json.dumps(body)
    response = client.http.request(method, path, headers=headers, body=body or b"")
    return response.status_code, json.loads(response.body or b"null")


def add_executions(db, job_id: int, count: int) -> list[int]:
    start = datetime(2026, 11, 1, 18, 30, tzinfo=UTC)
    ids = []
    for day in range(count):
        row = db.execute(
            "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, recipients_count,"
            " finished_at) VALUES (%s, %s, 'schedule', %s, 3, %s) RETURNING id",
            (job_id, start + timedelta(days=day), "succeeded" if day % 2 else "failed",
             start + timedelta(days=day, seconds=2)),
        ).fetchone()  # fmt: skip
        ids.append(row["id"])
    return ids


# --- auth and the error shape ------------------------------------------------------------

PROTECTED = [
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/promo"),
    ("GET", "/api/jobs/promo/executions"),
    ("GET", "/api/executions/1"),
    ("POST", "/api/jobs/promo/run"),
    ("GET", "/api/character-packs"),
    ("GET", "/api/users?q=a"),
    ("GET", "/api/audit"),
]


def test_health_needs_no_token(client):
    assert call(client, "GET", "/api/health") == (200, {"status": "ok"})


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_other_route_answers_401_without_a_live_token(client, db, token, method, path):
    add_custom_job(db)
    admin_tokens.create(db, "gone", "test")
    revoked = admin_tokens.create(db, "gone-2", "test")
    admin_tokens.revoke(db, "gone-2", "test")

    for bad in (None, "tja_" + "x" * 43, revoked, "not-even-shaped"):
        status, body = call(client, method, path, bad)
        assert status == 401, (bad, body)
        assert body["error"]["code"] == "unauthorized"
    assert call(client, method, path, token)[0] != 401


def test_an_unknown_job_is_a_404_in_the_error_shape(client, token):
    status, body = call(client, "GET", "/api/jobs/nope", token)
    assert status == 404
    assert body == {
        "error": {"code": "not_found", "message": "There is no job named 'nope'.", "field": "name"}
    }


def test_a_body_over_the_limit_is_refused(client, db, token):
    add_custom_job(db)
    status, body = call(client, "POST", "/api/jobs/promo/run", token, "x" * (65 * 1024))
    assert status == 413 and body["error"]["code"] == "too_large"


# --- reading -------------------------------------------------------------------------------


def test_jobs_come_with_schedule_in_words_next_runs_and_last_status(client, db, token):
    job = add_custom_job(db, cron="cron(0 22 * * ? *)", include_user_ids=add_users(db, 2))
    add_executions(db, job["id"], 2)

    status, body = call(client, "GET", "/api/jobs", token)

    assert status == 200
    (row,) = body["jobs"]
    assert row["name"] == "promo" and row["kind"] == "custom_message"
    assert row["schedule"]["in_words"] == "At 22:00 (Asia/Tehran)"
    assert len(row["schedule"]["next_runs"]) == 5
    assert all(run.endswith("T22:00:00+03:30") for run in row["schedule"]["next_runs"])
    assert row["last_execution"] == {
        "status": "succeeded",
        "scheduled_for": "2026-11-02T18:30:00+00:00",
    }
    assert row["targeting"] == "2 users"


def test_one_job_in_full(client, db, token):
    add_custom_job(db)
    status, body = call(client, "GET", "/api/jobs/promo", token)
    assert status == 200
    assert body["message"]["text"] == "<b>Hi {{ user.first_name }}</b>"
    assert (body["misfire_grace_seconds"], body["overlap_policy"]) == (300, "skip")
    assert body["version"] == 1


def test_executions_page_by_cursor_and_filter_by_status(client, db, token):
    job = add_custom_job(db)
    ids = add_executions(db, job["id"], 5)

    first = call(client, "GET", "/api/jobs/promo/executions?limit=2", token)[1]
    second = call(
        client, "GET", f"/api/jobs/promo/executions?limit=2&before={first['next']}", token
    )[1]
    third = call(
        client, "GET", f"/api/jobs/promo/executions?limit=2&before={second['next']}", token
    )[1]
    failed = call(client, "GET", "/api/jobs/promo/executions?status=failed", token)[1]

    seen = [e["id"] for page in (first, second, third) for e in page["executions"]]
    assert seen == list(reversed(ids))
    assert third["next"] is None
    assert [e["id"] for e in failed["executions"]] == [ids[4], ids[2], ids[0]]


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=bogus", "status"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("before=%%%", "before"),
    ],
)
def test_bad_history_queries_say_which_parameter(client, db, token, query, field):
    add_custom_job(db)
    status, body = call(client, "GET", f"/api/jobs/promo/executions?{query}", token)
    assert status == 400 and body["error"]["field"] == field


def test_an_execution_with_its_deliveries(client, db, token):
    job = add_custom_job(db)
    (execution,) = add_executions(db, job["id"], 1)
    users = add_users(db, 3)
    for user, state, error in (
        (users[0], "sent", None),
        (users[1], "sent", None),
        (users[2], "failed", "403: Forbidden: bot was blocked by the user"),
    ):
        db.execute(
            "INSERT INTO notification_deliveries (execution_id, user_id, status, last_error)"
            " VALUES (%s, %s, %s, %s)",
            (execution, user, state, error),
        )  # fmt: skip

    status, body = call(client, "GET", f"/api/executions/{execution}", token)

    assert status == 200
    assert body["job"] == "promo" and body["deliveries"] == {"sent": 2, "failed": 1}
    assert body["delivery_errors"][0]["last_error"].endswith("bot was blocked by the user")
    assert call(client, "GET", "/api/executions/999999", token)[0] == 404
    assert call(client, "GET", "/api/executions/abc", token)[0] == 404


def test_pickers_find_users_and_packs(client, db, token):
    users = add_users(db, 3)
    db.execute("INSERT INTO character_packs (slug, name) VALUES ('owls', 'Night Owls')")
    db.execute("INSERT INTO user_character_packs (pack_id, user_id) SELECT 1, unnest(%s::bigint[])",
               (users[:2],))  # fmt: skip

    packs = call(client, "GET", "/api/character-packs", token)[1]["packs"]
    found = call(client, "GET", "/api/users?q=user1", token)[1]["users"]
    by_id = call(client, "GET", f"/api/users?q={users[2]}", token)[1]["users"]

    assert [(p["name"], p["members"]) for p in packs] == [("Night Owls", 2)]
    assert [u["username"] for u in found] == ["user1"]
    assert [u["id"] for u in by_id] == [users[2]]
    assert call(client, "GET", "/api/users?q=", token)[0] == 400
    assert call(client, "GET", "/api/users?q=%25_%25", token)[1]["users"] == []  # no wildcards


def test_the_audit_log_names_the_token(client, db, token):
    status, body = call(client, "GET", "/api/audit", token)
    assert status == 200
    (entry,) = body["entries"]
    assert (entry["action"], entry["entity_type"], entry["entity_name"]) == (
        "create",
        "admin_token",
        "tester",
    )


# --- run now ---------------------------------------------------------------------------------


def test_run_now_queues_a_manual_firing_in_the_admins_name(client, db, token, queues):
    add_custom_job(db)

    status, body = call(client, "POST", "/api/jobs/promo/run", token)

    assert status == 200 and body["queued"] is True
    (message,) = receive_all(queues, queues.jobs)
    firing = json.loads(message["Body"])
    assert (firing["source"], firing["job"], firing["requested_by"]) == (
        "manual",
        "promo",
        "admin:tester",
    )


# --- tokens ------------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_never_logged(db):
    token = admin_tokens.create(db, "sara", "test")
    stored = db.execute("SELECT token_sha256 FROM admin_tokens WHERE name = 'sara'").fetchone()
    assert token not in stored["token_sha256"] and len(stored["token_sha256"]) == 64
    assert admin_tokens.authenticate(db, token).name == "sara"
    assert token not in scrub(f"request with {token} failed")
    with pytest.raises(TokenExists, match="exists; revoke it first"):
        admin_tokens.create(db, "sara", "test")
    admin_tokens.revoke(db, "sara", "test")
    assert admin_tokens.authenticate(db, token) is None
    assert admin_tokens.authenticate(db, admin_tokens.create(db, "sara", "test")).name == "sara"


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "-lead"])
def test_token_names_are_checked(db, name):
    with pytest.raises(InvalidTokenName):
        admin_tokens.create(db, name, "test")


# --- changing jobs -------------------------------------------------------------------------


@pytest.fixture
def rules_env(client, queues):
    """What editing needs besides the client: the rule prefix and the jobs queue's ARN."""
    configure(rule_prefix="admin-test", jobs_queue_arn=queues.jobs["arn"])
    return client


VERSION_OF = "SELECT version FROM scheduled_jobs WHERE name = %s"


def rule(events, name: str) -> dict | None:
    try:
        return events.describe_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        return None


@pytest.fixture
def events(aws):
    import boto3

    return boto3.client("events", endpoint_url=aws, region_name="us-east-1")


def create_promo(client, token, **fields):
    body = {
        "name": "promo",
        "expression": "cron(0 9 ? * MON *)",
        "timezone": "Europe/Berlin",
        "message": {"text": "<b>Hi {{ user.first_name }}</b>", "parse_mode": "HTML"},
        **fields,
    }
    return call(client, "POST", "/api/jobs", token, body)


def test_creating_a_job_makes_its_rule_and_an_audit_entry(rules_env, db, token, events):
    status, body = create_promo(rules_env, token)

    assert status == 201 and body["name"] == "promo" and body["version"] == 1
    assert rule(events, "admin-test-promo")["ScheduleExpression"] == "cron(0 7-8 ? * 2 *)"
    again = create_promo(rules_env, token)
    assert again[0] == 409 and again[1]["error"]["field"] == "name"
    audit = call(rules_env, "GET", "/api/audit?job=promo", token)[1]["entries"]
    assert [(e["action"], e["actor"]) for e in audit] == [("create", "admin:tester")]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"expression": "cron(0 9 * * *)"}, "expression"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"message": {"text": "{{ user.password }}"}}, "message"),
        ({"message": {"text": "<b>open", "parse_mode": "HTML"}}, "message"),
        ({"include_user_ids": [424242]}, "include_user_ids"),
        ({"misfire_grace_seconds": -1}, "misfire_grace_seconds"),
        ({"enabled": "yes"}, "enabled"),
        ({"name": "Bad Name"}, "name"),
    ],
)
def test_a_bad_new_job_is_refused_naming_the_field_and_nothing_is_made(
    rules_env, db, token, events, fields, field
):
    status, body = create_promo(rules_env, token, **fields)

    assert status == 422, body
    assert body["error"]["field"].split(".")[0] == field
    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"] == 0
    assert rule(events, "admin-test-promo") is None


def test_editing_the_schedule_moves_the_rule_and_bumps_the_version(rules_env, db, token, events):
    create_promo(rules_env, token)

    edit = {"version": 1, "expression": "cron(30 21 * * ? *)", "timezone": "Asia/Tehran"}
    status, body = call(rules_env, "PATCH", "/api/jobs/promo", token, edit)

    assert status == 200, body
    assert body["version"] == 2 and body["schedule"]["in_words"] == "At 21:30 (Asia/Tehran)"
    assert rule(events, "admin-test-promo")["ScheduleExpression"] == "cron(0 18 * * ? *)"
    (change,) = [e for e in call(rules_env, "GET", "/api/audit?job=promo", token)[1]["entries"]
                 if e["action"] == "update"]  # fmt: skip
    assert change["before"] == {
        "cron_expression": "cron(0 9 ? * MON *)",
        "timezone": "Europe/Berlin",
    }
    assert change["after"] == {"cron_expression": "cron(30 21 * * ? *)", "timezone": "Asia/Tehran"}


def test_disabling_disables_the_rule(rules_env, db, token, events):
    create_promo(rules_env, token)
    status, _ = call(rules_env, "PATCH", "/api/jobs/promo", token, {"version": 1, "enabled": False})
    assert status == 200
    assert rule(events, "admin-test-promo")["State"] == "DISABLED"


def test_a_stale_version_is_a_conflict_and_changes_nothing(rules_env, db, token, events):
    create_promo(rules_env, token)
    call(rules_env, "PATCH", "/api/jobs/promo", token, {"version": 1, "enabled": False})

    status, body = call(rules_env, "PATCH", "/api/jobs/promo", token,
                        {"version": 1, "expression": "cron(0 1 * * ? *)"})  # fmt: skip

    assert status == 409 and body["error"]["field"] == "version"
    assert db.execute("SELECT cron_expression FROM scheduled_jobs WHERE name = 'promo'").fetchone()[
        "cron_expression"
    ] == ("cron(0 9 ? * MON *)")


@pytest.mark.parametrize(
    "change, status, field",
    [
        ({"expression": "cron(99 9 * * ? *)"}, 422, "expression"),
        ({"color": "red"}, 422, "color"),
        ({"message": {"text": "hi"}}, 422, "message"),  # the coded job has no message
        ({}, 422, "version"),
    ],
)
def test_bad_edits_are_refused_before_anything_changes(rules_env, db, token, change, status, field):
    from job_scheduler.sync.startup import run_startup

    run_startup(configure())  # the coded food reminder
    body = {"version": 1, **change} if change else {"enabled": False}
    code, answer = call(rules_env, "PATCH", "/api/jobs/unselected-food-reminder", token, body)
    assert (code, answer["error"]["field"]) == (status, field)
    assert db.execute(VERSION_OF, ("unselected-food-reminder",)).fetchone()["version"] == 1


def test_when_eventbridge_fails_the_edit_is_undone(rules_env, db, token):
    create_promo(rules_env, token)
    configure(aws_endpoint_url="http://127.0.0.1:1")  # EventBridge unreachable

    status, body = call(rules_env, "PATCH", "/api/jobs/promo", token,
                        {"version": 1, "expression": "cron(0 1 * * ? *)"})  # fmt: skip

    assert status == 503 and body["error"]["code"] == "rules_not_updated"
    row = db.execute(
        "SELECT cron_expression, version FROM scheduled_jobs WHERE name = 'promo'"
    ).fetchone()
    assert (row["cron_expression"], row["version"]) == ("cron(0 9 ? * MON *)", 1)


def test_deleting_a_custom_job_removes_its_rule_but_coded_jobs_stay(rules_env, db, token, events):
    create_promo(rules_env, token)
    from job_scheduler.sync.startup import run_startup

    run_startup(configure())

    stale = call(rules_env, "DELETE", "/api/jobs/promo?version=7", token)
    coded = call(rules_env, "DELETE", "/api/jobs/unselected-food-reminder?version=1", token)
    done = call(rules_env, "DELETE", "/api/jobs/promo?version=1", token)

    assert stale[0] == 409 and coded[0] == 422
    assert done == (200, {"deleted": "promo"})
    assert rule(events, "admin-test-promo") is None
    assert rule(events, "admin-test-unselected-food-reminder") is not None


def test_preview_renders_for_the_first_target_and_counts(rules_env, db, token):
    users = add_users(db, 3)
    create_promo(rules_env, token, include_user_ids=users[1:])

    saved = call(rules_env, "POST", "/api/jobs/promo/preview", token)[1]
    unsaved = {"message": {"text": "Yo {{ user.username }}"}, "include_user_ids": users}
    edited = call(rules_env, "POST", "/api/jobs/promo/preview", token, unsaved)[1]

    assert saved["recipients"] == 2 and saved["sample"]["text"] == "<b>Hi User1</b>"
    assert edited["recipients"] == 3 and edited["sample"]["text"] == "Yo user0"
    code, answer = call(rules_env, "POST", "/api/jobs/promo/preview", token,
                        {"message": {"text": "{{ nope }}"}})  # fmt: skip
    assert code == 422 and answer["error"]["field"] == "message.text"
    assert db.execute(VERSION_OF, ("promo",)).fetchone()["version"] == 1


DOUBLING = '{% set a = "' + "x" * 20 + '" %}' + "\n{% set a = a ~ a %}" * 26 + "{{ a|length }}"


def test_a_template_that_doubles_itself_is_refused_at_preview_and_save(rules_env, db, token):
    create_promo(rules_env, token)
    message = {"text": DOUBLING, "parse_mode": None}

    previewed = call(rules_env, "POST", "/api/jobs/promo/preview", token, {"message": message})
    body = {"name": "doubling", "expression": "cron(0 9 * * ? *)", "message": message}
    created = call(rules_env, "POST", "/api/jobs", token, body)

    for status, body in (previewed, created):
        assert (status, body["error"]["field"]) == (422, "message.text")
        assert "could grow to" in body["error"]["message"]
    assert (
        db.execute("SELECT count(*) AS n FROM scheduled_jobs WHERE name = 'doubling'").fetchone()[
            "n"
        ]
        == 0
    )


# --- the audience guard: schedule × audience against the bot's rate ---------------------------


def every_minute_for(users, confirm=None):
    body = {"name": "flood", "expression": "cron(* * * * ? *)", "timezone": "UTC",
            "include_user_ids": users, "message": {"text": "hi", "parse_mode": None}}  # fmt: skip
    return body if confirm is None else {**body, "confirm_audience": confirm}


def test_a_job_that_would_flood_the_bot_needs_confirming_and_says_by_how_much(rules_env, db, token):
    users = add_users(db, 100)
    configure(job_send_budget_hours=1)  # 108,000 messages a day at 30/s

    refused = call(rules_env, "POST", "/api/jobs", token, every_minute_for(users))
    created = call(rules_env, "POST", "/api/jobs", token, every_minute_for(users, True))

    status, body = refused
    assert (status, body["error"]["field"]) == (422, "confirm_audience")
    assert "about 144,000 messages a day (100 people × 1,440.0 firings)" in body["error"]["message"]
    assert "108,000 a day" in body["error"]["message"]
    assert created[0] == 201
    (entry,) = db.execute("SELECT after FROM audit_log WHERE entity_name = 'flood'").fetchall()
    assert entry["after"]["confirm_audience"] is True


def test_a_firing_that_takes_longer_to_send_than_the_gap_to_the_next_is_refused(
    rules_env, db, token
):
    users = add_users(db, 2000)  # 67 s to send at 30/s, every minute
    code, body = call(rules_env, "POST", "/api/jobs", token, every_minute_for(users))
    assert (code, body["error"]["field"]) == (422, "confirm_audience")
    assert "one firing takes 67 s to send but the next comes 60 s later" in body["error"]["message"]


def test_edits_that_raise_the_volume_are_guarded_and_others_are_not(rules_env, db, token):
    users = add_users(db, 100)
    configure(job_send_budget_hours=1)
    create_promo(rules_env, token, include_user_ids=users)  # weekly: fine

    every_minute = {"version": 1, "expression": "cron(* * * * ? *)"}
    refused = call(rules_env, "PATCH", "/api/jobs/promo", token, every_minute)
    described = call(rules_env, "PATCH", "/api/jobs/promo", token,
                     {"version": 1, "description": "weekly hello"})  # fmt: skip
    confirmed = call(rules_env, "PATCH", "/api/jobs/promo", token,
                     {**every_minute, "version": 2, "confirm_audience": True})  # fmt: skip
    disabled = call(rules_env, "PATCH", "/api/jobs/promo", token, {"version": 3, "enabled": False})
    enabling = call(rules_env, "PATCH", "/api/jobs/promo", token, {"version": 4, "enabled": True})

    assert refused[0] == 422 and described[0] == 200 and confirmed[0] == 200
    assert disabled[0] == 200  # sending less needs no confirmation
    assert enabling[0] == 422 and enabling[1]["error"]["field"] == "confirm_audience"


def test_a_housekeeping_job_is_not_guarded(rules_env, db, token):
    add_users(db, 3000)
    from job_scheduler.sync.startup import run_startup

    run_startup(configure())
    sweeper = call(rules_env, "GET", "/api/jobs/sweep-stranded-work", token)[1]
    changed = call(rules_env, "PATCH", "/api/jobs/sweep-stranded-work", token,
                   {"version": sweeper["version"], "expression": "cron(* * * * ? *)"})  # fmt: skip
    assert changed[0] == 200


def test_deeply_nested_json_is_a_400_not_a_500(client, token):
    body = "[" * 30_000 + "]" * 30_000  # 60 KB: within the body limit
    status, answer = call(client, "POST", "/api/jobs", token, body)
    assert (status, answer["error"]["code"]) == (400, "bad_request")
    assert "nests too deeply" in answer["error"]["message"]


def test_a_lone_surrogate_is_a_422_naming_the_field_not_a_503(client, token, db):
    body = '{"name": "x", "expression": "cron(0 9 * * ? *)", "message": {"text": "hi \\ud800"}}'
    status, answer = call(client, "POST", "/api/jobs", token, body)
    assert (status, answer["error"]["field"]) == (422, "message.text")
    assert "lone surrogate" in answer["error"]["message"]
    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"] == 0
