"""The admin API's OpenAPI 3.0 description, served at /api/openapi.json.

Written by hand next to the routes; tests/test_admin_openapi.py runs schemathesis against
the served API so that this stays true (every documented status and body shape, no 5xx).
"""

from __future__ import annotations

from typing import Any

ERROR_STATUSES = {
    "400": "The request is malformed; the error says what to fix.",
    "401": "No valid admin token.",
    "403": "The token is a viewer's: it reads, it cannot change anything.",
    "404": "No such job or execution.",
    "409": "A job of that name exists, the job changed since the version sent, the"
    " execution is past what was asked, or sending is paused.",
    "413": "The body is over 64 KB.",
    "422": "A field is invalid; the error names it.",
    "503": "Postgres or EventBridge is unavailable; nothing was changed.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": kind, "nullable": True}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: str, schema: dict[str, Any], errors: tuple[str, ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {ok: {"description": "OK", **_json(schema)}}
    for status in errors:
        answers[status] = {"description": ERROR_STATUSES[status], **_json(_ref("Error"))}
    return answers


READ = ("400", "401", "413", "503")
NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 48},
}
EDIT_FIELDS: dict[str, Any] = {
    "expression": {
        "type": "string",
        "maxLength": 256,
        "description": "cron(...) or rate(...) to repeat; at(YYYY-MM-DDThh:mm), in the job's"
        " timezone, to run once (it must be still to come).",
    },
    "timezone": {"type": "string", "maxLength": 64},
    "enabled": {"type": "boolean"},
    "include_user_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "exclude_user_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "pack_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "misfire_grace_seconds": {"type": "integer", "minimum": 0, "maximum": 86400},
    "overlap_policy": {"type": "string", "enum": ["skip", "allow"]},
    "description": {"type": "string", "maxLength": 1000},
    "message": _ref("Message"),
    **{
        name: {
            "type": "string",
            "nullable": True,
            "maxLength": 40,
            "description": f"A repeating job {what} (inclusive): ISO 8601 with an offset, or"
            " without one in the job's timezone (2026-12-04T09:00); null clears it.",
        }
        for name, what in (("starts_at", "fires from"), ("ends_at", "fires until"))
    },
}

CONFIRM: dict[str, Any] = {
    "confirm_audience": {
        "type": "boolean",
        "description": "Save it even though it would send more a day than JOB_SEND_BUDGET_HOURS"
        " of the bot's sending, or faster than it can be sent (refused with 422 and the"
        " numbers otherwise).",
    }
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": _nullable("string"),
                },
            }
        },
    },
    "Message": {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {
                "type": "string",
                "maxLength": 16384,
                "description": "A template; with a photo, its caption (at most 1024 characters"
                " as Telegram counts them, may be empty), else at most 4096 and not empty.",
            },
            "parse_mode": {"type": "string", "enum": ["HTML"], "nullable": True},
            "silent": {"type": "boolean"},
            "photo": {
                "type": "string",
                "nullable": True,
                "maxLength": 2048,
                "description": "A public http(s) link to a picture, or a Telegram file_id: the"
                ' message goes as a photo with the text as its caption. Null or "": none.',
            },
            "buttons": {
                "type": "array",
                "nullable": True,
                "maxItems": 100,
                "description": "Rows of URL buttons under the message: at most 8 in a row and"
                " 100 in all; links are http, https or tg.",
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 8,
                    "items": _ref("UrlButton"),
                },
            },
            "link_preview": {
                "type": "boolean",
                "description": "False: no preview of the text's first link (default true).",
            },
            "protect_content": {
                "type": "boolean",
                "description": "True: the message cannot be forwarded or saved (default false).",
            },
            "paid_broadcast": {
                "type": "boolean",
                "description": "True: a paid broadcast, COSTING TELEGRAM STARS. Sent with"
                " Telegram's allow_paid_broadcast at up to TELEGRAM_PAID_RATE_PER_SECOND (1,000)"
                " messages a second instead of 30; Telegram bills 0.1 Stars for every message"
                " over the free 30 a second, from the bot's balance. Default false. A message"
                " the balance cannot pay for fails, retryable (docs/paid-broadcasts.md).",
            },
        },
    },
    "UrlButton": {
        "type": "object",
        "required": ["text", "url"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 64},
            "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        },
    },
    "Schedule": {
        "type": "object",
        "required": ["in_words", "error", "next_runs"],
        "properties": {
            "in_words": _nullable("string"),
            "error": _nullable("string"),
            "next_runs": {"type": "array", "items": {"type": "string"}},
        },
    },
    "JobSummary": {
        "type": "object",
        "required": ["name", "kind", "expression", "timezone", "schedule", "enabled", "version"],
        "properties": {
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["coded", "custom_message"]},
            "description": {"type": "string"},
            "expression": {"type": "string"},
            "timezone": {"type": "string"},
            "schedule": _ref("Schedule"),
            "enabled": {"type": "boolean"},
            "orphaned": {"type": "boolean"},
            "once": {"type": "boolean"},
            "starts_at": _nullable("string"),
            "ends_at": _nullable("string"),
            "completed_at": _nullable("string"),
            "finished": {
                "type": "object",
                "nullable": True,
                "description": "Set once the schedule fires no more: done (a one-off ran),"
                " expired (its time passed without a finished run) or ended (past ends_at).",
                "required": ["state", "since", "says"],
                "properties": {
                    "state": {"type": "string", "enum": ["done", "expired", "ended"]},
                    "since": {"type": "string"},
                    "says": {"type": "string"},
                },
            },
            "last_execution": {
                "type": "object",
                "nullable": True,
                "properties": {"status": {"type": "string"}, "scheduled_for": {"type": "string"}},
            },
            "targeting": {"type": "string"},
            "paid_broadcast": {
                "type": "boolean",
                "description": "The job's message is a paid broadcast (it costs Telegram Stars).",
            },
            "version": {"type": "integer"},
        },
    },
    "JobDetail": {
        "allOf": [
            _ref("JobSummary"),
            {
                "type": "object",
                "required": ["misfire_grace_seconds", "overlap_policy", "rule_names"],
                "properties": {
                    "misfire_grace_seconds": {"type": "integer"},
                    "overlap_policy": {"type": "string"},
                    "include_user_ids": {"type": "array", "items": {"type": "integer"}},
                    "exclude_user_ids": {"type": "array", "items": {"type": "integer"}},
                    "pack_ids": {"type": "array", "items": {"type": "integer"}},
                    "message": {"type": "object", "nullable": True},
                    "rule_names": {"type": "array", "items": {"type": "string"}},
                    "created_at": _nullable("string"),
                    "created_by": {"type": "string"},
                    "updated_at": _nullable("string"),
                    "updated_by": {"type": "string"},
                },
            },
        ]
    },
    "Execution": {
        "type": "object",
        "required": ["id", "status", "trigger", "scheduled_for"],
        "properties": {
            "id": {"type": "integer"},
            "trigger": {"type": "string", "enum": ["schedule", "manual"]},
            "status": {"type": "string"},
            "lock_mode": _nullable("string"),
            "scheduled_for": {"type": "string"},
            "started_at": _nullable("string"),
            "finished_at": _nullable("string"),
            "recipients_count": {"type": "integer"},
            "queued_count": {"type": "integer"},
            "sent_count": {"type": "integer"},
            "failed_count": {"type": "integer"},
            "skipped_count": {"type": "integer"},
            "uncertain_count": {"type": "integer"},
            "cancelled_count": {"type": "integer"},
            "cancelled_by": _nullable("string"),
            "cancelled_at": _nullable("string"),
            "job": {"type": "string"},
            "progress": {"$ref": "#/components/schemas/Progress"},
            "retryable_failed": {"type": "integer"},
            "shards": {"type": "integer", "description": "0: fanned out in one run"},
            "shard_progress": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Each shard of a split execution: its range of user ids (last"
                " null: to the newest), state, attempts, counts, error.",
            },
            "duration_ms": _nullable("integer"),
            "attempts": {"type": "integer"},
            "detail": _nullable("string"),
            "error": _nullable("string"),
        },
    },
}


SCHEMAS["Progress"] = {
    "type": "object",
    "description": "Where a send stands: the live progress bar's figures.",
    "required": ["total", "sent", "failed", "waiting", "per_second", "sending"],
    "properties": {
        **{name: {"type": "integer"} for name in ("total", "sent", "failed", "uncertain",
                                                   "skipped", "cancelled", "waiting",
                                                   "in_flight")},
        "per_second": {"type": "number"},
        "seconds_left": _nullable("integer"),
        "sending": {"type": "boolean"},
    },
}  # fmt: skip
SCHEMAS["Pause"] = {
    "type": "object",
    "required": ["paused"],
    "properties": {
        "paused": {"type": "boolean"},
        "by": {"type": "string"},
        "at": {"type": "string"},
        "reason": {"type": "string"},
        "paused_seconds": {"type": "integer"},
        "executions_resumed": {"type": "integer"},
        "deliveries_dropped": {"type": "integer"},
    },
}
EXECUTION_ID = {"name": "execution_id", "in": "path", "required": True,
                "schema": {"type": "string"}}  # fmt: skip


# The message as the first person reached gets it, as Telegram gets it (null for coded jobs).
SAMPLE: dict[str, Any] = {
    "type": "object",
    "nullable": True,
    "properties": {
        "user_id": _nullable("integer"),
        "first_name": _nullable("string"),
        "text": {"type": "string"},
        "parse_mode": _nullable("string"),
        "silent": {"type": "boolean"},
        "photo": _nullable("string"),
        "reply_markup": {"type": "object", "nullable": True},
        "link_preview": {"type": "boolean"},
        "protect_content": {"type": "boolean"},
        "paid_broadcast": {"type": "boolean"},
    },
}


PACK_FIELDS = {
    "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,58}$"},
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "description": {"type": "string", "maxLength": 500},
    "open_to_join": {"type": "boolean"},
}
PACK_ID = {"name": "pack_id", "in": "path", "required": True, "schema": {"type": "string"}}
USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]
SCHEMAS["Pack"] = {
    "type": "object",
    "required": ["id", "slug", "name", "open_to_join", "members", "deep_link"],
    "properties": {
        "id": {"type": "integer"},
        **PACK_FIELDS,
        "members": {"type": "integer"},
        "deep_link": _nullable("string"),
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}
SCHEMAS["Person"] = {
    "type": "object",
    "required": ["id", "telegram_chat_id", "state", "since", "rastar", "packs"],
    "properties": {
        "id": {"type": "integer"},
        "telegram_chat_id": {"type": "integer"},
        "first_name": _nullable("string"),
        "last_name": _nullable("string"),
        "username": _nullable("string"),
        "language": _nullable("string"),
        "language_code": _nullable("string"),
        "state": {"type": "string", "enum": ["active", "blocked", "opted_out"]},
        "since": _nullable("string"),
        "inactive_reason": _nullable("string"),
        "rastar": {"type": "string", "enum": ["linked", "refused", "not_linked"]},
        "packs": {"type": "array", "items": {"type": "string"}},
        "last_seen_at": _nullable("string"),
        "created_at": {"type": "string"},
    },
}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _array_of(key: str, items: dict[str, Any]) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": items}}, [key])


def _execution_action(description: str, fields: dict[str, str], required: list[str]) -> dict:
    """A POST on one execution (cancel, retry-failed): what it did, by field type."""
    answer = {"execution_id": {"type": "integer"}, "job": {"type": "string"},
              **{name: {"type": kind} for name, kind in fields.items()}}  # fmt: skip
    return {
        "parameters": [EXECUTION_ID],
        "post": {
            "description": description,
            "responses": _responses("200", _object(answer, required), (*READ, "404", "409")),
        },
    }


def document() -> dict[str, Any]:
    version_query = {
        "name": "version",
        "in": "query",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
    executions_query = [
        NAME,
        {"name": "status", "in": "query", "schema": {"type": "string"}},
        {"name": "before", "in": "query", "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    ]
    edit = _object(
        {"version": {"type": "integer", "minimum": 1}, **EDIT_FIELDS, **CONFIRM}, ["version"]
    )
    create = _object(
        {"name": {"type": "string", "maxLength": 48}, **EDIT_FIELDS, **CONFIRM},
        ["name", "expression", "message"],
    )
    preview = _object(
        {
            "recipients": {"type": "integer"},
            "sample": SAMPLE,
        },
        ["recipients", "sample"],
    )
    pack_create = _object(PACK_FIELDS, ["slug", "name"])
    members = _object(
        {
            "user_ids": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 1,
                "maxItems": 1000,
            }
        },
        ["user_ids"],
    )
    paths: dict[str, Any] = {
        "/api/health": {
            "get": {
                "security": [],
                "responses": _responses(
                    "200", _object({"status": {"type": "string"}}, []), ("503",)
                ),
            }
        },
        "/api/openapi.json": {
            "get": {"security": [], "responses": _responses("200", {"type": "object"}, ())}
        },
        "/api/jobs": {
            "get": {"responses": _responses("200", _array_of("jobs", _ref("JobSummary")), READ)},
            "post": {
                "requestBody": {"required": True, **_json(create)},
                "responses": _responses("201", _ref("JobDetail"), (*READ, "409", "422")),
            },
        },
        "/api/jobs/{name}": {
            "parameters": [NAME],
            "get": {"responses": _responses("200", _ref("JobDetail"), (*READ, "404"))},
            "patch": {
                "requestBody": {"required": True, **_json(edit)},
                "responses": _responses("200", _ref("JobDetail"), (*READ, "404", "409", "422")),
            },
            "delete": {
                "parameters": [version_query],
                "responses": _responses(
                    "200",
                    _object({"deleted": {"type": "string"}}, ["deleted"]),
                    (*READ, "404", "409", "422"),
                ),
            },
        },
        "/api/jobs/{name}/run": {
            "parameters": [NAME],
            "post": {
                "responses": _responses(
                    "200",
                    _object({"queued": {"type": "boolean"}}, ["queued"]),
                    (*READ, "404", "409"),
                )
            },
        },
        "/api/jobs/{name}/test": {
            "parameters": [NAME],
            "post": {
                "description": "Send the job's message, rendered for you, to your own chat only"
                " (the token's Telegram user id: jobsctl admin-token create NAME --telegram-user"
                " ID). Not an execution; audited.",
                "responses": _responses(
                    "200",
                    _object(
                        {
                            "sent": {"type": "boolean"},
                            "chat_id": {"type": "integer"},
                            "telegram_message_id": {"type": "integer"},
                        },
                        ["sent"],
                    ),
                    (*READ, "404", "422"),
                ),
            },
        },
        "/api/jobs/{name}/preview": {
            "parameters": [NAME],
            "post": {
                "requestBody": {"required": False, **_json(_object(EDIT_FIELDS, []))},
                "responses": _responses("200", preview, (*READ, "404", "422")),
            },
        },
        "/api/jobs/{name}/executions": {
            "get": {
                "parameters": executions_query,
                "responses": _responses(
                    "200",
                    _object(
                        {
                            "executions": {"type": "array", "items": _ref("Execution")},
                            "next": _nullable("string"),
                        },
                        ["executions", "next"],
                    ),
                    (*READ, "404"),
                ),
            }
        },
        "/api/executions/{execution_id}": {
            "get": {
                "parameters": [EXECUTION_ID],
                "responses": _responses("200", _ref("Execution"), (*READ, "404")),
            }
        },
        "/api/executions": {
            "get": {
                "description": "Executions of every job, newest first, by status and by"
                " scheduled time in [since, until) (ISO 8601; without an offset, UTC).",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {"name": "since", "in": "query", "schema": {"type": "string"}},
                    {"name": "until", "in": "query", "schema": {"type": "string"}},
                    {"name": "before", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": _responses(
                    "200",
                    _object(
                        {
                            "executions": {"type": "array", "items": _ref("Execution")},
                            "next": _nullable("string"),
                        },
                        ["executions", "next"],
                    ),
                    READ,
                ),
            }
        },
        "/api/executions/{execution_id}/cancel": _execution_action(
            "Stop a send: its deliveries not sent yet are cancelled, those in flight finish."
            " Audited.",
            {"was": "string", "cancelled": "integer", "in_flight": "integer"},
            ["cancelled", "in_flight"],
        ),
        "/api/executions/{execution_id}/retry-failed": _execution_action(
            "Send once more the deliveries that failed for Telegram's or the network's reason"
            " (never a person who blocked the bot or opted out). Audited.",
            {"retried": "integer", "not_retried": "integer", "queued": "integer"},
            ["retried", "not_retried"],
        ),
        "/api/system": {
            "get": {"responses": _responses("200", _ref("Pause"), READ)},
        },
        "/api/system/pause": {
            "post": {
                "description": "Pause all sending: firings are recorded skipped, queued"
                " deliveries wait. Audited.",
                "requestBody": {
                    "required": False,
                    **_json(_object({"reason": {"type": "string", "maxLength": 500}}, [])),
                },
                "responses": _responses("200", _ref("Pause"), (*READ, "409", "422")),
            },
        },
        "/api/system/resume": {
            "post": {
                "description": "Resume: what the pause held goes out, or is dropped as missed"
                " when the pause lasted longer than PAUSE_MAX_DELAY_SECONDS. Audited.",
                "responses": _responses("200", _ref("Pause"), (*READ, "409")),
            },
        },
        "/api/schedule": {
            "get": {
                "parameters": [
                    {
                        "name": "expression",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "timezone",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": _responses("200", _ref("Schedule"), (*READ, "422")),
            }
        },
        "/api/character-packs": {
            "get": {"responses": _responses("200", _array_of("packs", _ref("Pack")), READ)},
            "post": {
                "description": "A new pack; `open_to_join` lets people join it themselves"
                " (/packs, or its deep link `t.me/<bot>?start=pack_<slug>`).",
                "requestBody": {"required": True, **_json(pack_create)},
                "responses": _responses("201", _ref("Pack"), (*READ, "409", "422")),
            },
        },
        "/api/character-packs/{pack_id}": {
            "parameters": [PACK_ID],
            "patch": {
                "description": "Change the fields given; a new slug changes the deep link.",
                "requestBody": {"required": True, **_json(_object(PACK_FIELDS, []))},
                "responses": _responses("200", _ref("Pack"), (*READ, "404", "409", "422")),
            },
        },
        "/api/character-packs/{pack_id}/members": {
            "parameters": [PACK_ID],
            "get": {
                "parameters": PAGE,
                "responses": _responses(
                    "200", _array_of("members", _ref("Person")), (*READ, "404")
                ),
            },
            "post": {
                "requestBody": {"required": True, **_json(members)},
                "responses": _responses("200", _ref("Pack"), (*READ, "404", "422")),
            },
        },
        "/api/character-packs/{pack_id}/members/{user_id}": {
            "parameters": [PACK_ID, USER_ID],
            "delete": {"responses": _responses("200", _ref("Pack"), (*READ, "404"))},
        },
        "/api/people/{user_id}": {
            "parameters": [USER_ID],
            "get": {
                "description": "One person and what they were sent: each delivery's job,"
                " firing, status, when, Telegram's message id, and the error if any.",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                    },
                    {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": _responses(
                    "200",
                    _object(
                        {
                            "person": _ref("Person"),
                            "deliveries": {"type": "array", "items": {"type": "object"}},
                        },
                        ["person", "deliveries"],
                    ),
                    (*READ, "404"),
                ),
            },
        },
        "/api/people": {
            "get": {
                "description": "People in id order: whether they can be reached (`active`,"
                " `blocked`: Telegram cannot reach them, `inactive_reason` says why) or opted"
                " out with /stop, and since when; language; packs; Rastar link; last seen.",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["active", "blocked", "opted_out"]},
                    },
                    *PAGE,
                ],
                "responses": _responses(
                    "200",
                    _object(
                        {
                            "people": {"type": "array", "items": _ref("Person")},
                            "counts": {"type": "object"},
                        },
                        ["people", "counts"],
                    ),
                    READ,
                ),
            }
        },
        "/api/users": {
            "get": {
                "description": "People for the targeting pickers: those whose name, username,"
                " id or chat id matches `q`; or, with `ids`, the people with those ids (so that"
                " ids already chosen show by name). One of `q` and `ids` is needed; with `ids`,"
                " `q` and `limit` are not used.",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "description": "1-100 characters to search for.",
                        "schema": {"type": "string"},
                    },
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {
                        "name": "ids",
                        "in": "query",
                        "description": "Up to 200 user ids, comma-separated: `1,2,3`.",
                        "schema": {
                            "type": "string",
                            "pattern": "^[1-9][0-9]{0,17}(,[1-9][0-9]{0,17}){0,199}$",
                        },
                    },
                ],
                "responses": _responses("200", _array_of("users", {"type": "object"}), READ),
            }
        },
        "/api/audit": {
            "get": {
                "parameters": [
                    {"name": "job", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": _responses("200", _array_of("entries", {"type": "object"}), READ),
            }
        },
    }
    paths["/api/me"] = {"get": {"responses": _responses(
        "200", _object({"name": {"type": "string"}, "role": {"type": "string",
                        "enum": ["admin", "viewer"]}}, ["name", "role"]), READ)}}  # fmt: skip
    for path, operations in paths.items():  # whatever changes something needs an admin
        for method, operation in operations.items():
            if method in ("post", "patch", "delete") and not path.endswith("/preview"):
                operation["responses"]["403"] = _responses("200", {}, ("403",))["403"]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Telegram scheduled jobs: admin API",
            "version": "1.0.0",
            "description": "Every route but health and this document needs"
            " `Authorization: Bearer <admin token>` (jobsctl admin-token create NAME).",
        },
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
    }
