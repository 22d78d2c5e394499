"""The admin API (Chalice): jobs, their schedules and history, under /api, JSON in and out;
the admin site (``chalicelib/site/``) at /; and the page where people link their Rastar
account at /link (``chalicelib/link_page.py``).

The routes are wiring only: reading and changing jobs is the shared ``job_scheduler``
package; ``chalicelib/http.py`` holds auth, the error shape and the body limit. The admin
side never runs a job: "run now" queues a manual firing for the job executor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from chalice import Chalice, Response
from chalicelib import cursor, link_page, openapi, site
from chalicelib.context import current
from chalicelib.http import (
    ApiError,
    confirmation,
    connection,
    endpoint,
    ids_param,
    int_param,
    json_body,
    json_response,
    query_param,
    time_param,
)

from job_scheduler.admin import edits as job_edits
from job_scheduler.admin import packs, people
from job_scheduler.admin import queries as history
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.admin.views import (
    execution_detail_view,
    execution_view,
    job_detail,
    job_summary,
    schedule_of,
)
from job_scheduler.delivery import pause
from job_scheduler.errors import SystemPaused
from job_scheduler.execution.manual_run import queue_manual_firing
from job_scheduler.jobs.fields import check_schedule
from job_scheduler.model import ExecutionStatus, JobOverview

app = Chalice(app_name="telegram-jobs-admin")
EXECUTION_STATUSES = tuple(status.value for status in ExecutionStatus)


@app.route("/", methods=["GET"])
def index() -> Response:
    return site.page("index.html")


@app.route("/assets/{name}", methods=["GET"])
def asset(name: str) -> Response:
    return site.page(name if name != "index.html" else "")


@app.route("/link", methods=["GET"])
@link_page.answered
def link_form() -> Response:
    """The one-time Rastar link page (public: the state in the link is the credential)."""
    return link_page.show(current.get(), dict(app.current_request.query_params or {}))


@app.route("/link", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
@link_page.answered
def link_submit() -> Response:
    return link_page.submit(current.get(), app.current_request.raw_body)


@app.route("/api/health", methods=["GET"])
@endpoint(app, public=True)
def health() -> dict[str, Any]:
    connection().execute("SELECT 1")
    return {"status": "ok"}


@app.route("/api/me", methods=["GET"])
@endpoint(app)
def whoami(actor: str) -> dict[str, Any]:
    """The token's name and role: the site hides what a viewer cannot do."""
    holder = app.current_request.token_holder
    return {"name": holder.name, "role": holder.role}


@app.route("/api/openapi.json", methods=["GET"])
@endpoint(app, public=True)
def openapi_document() -> dict[str, Any]:
    return openapi.document()


@app.route("/api/schedule", methods=["GET"])
@endpoint(app)
def schedule_preview(actor: str) -> dict[str, Any]:
    """A schedule in words and its next runs, for the editor's live validation (a one-off
    whose time has passed is refused)."""
    request = app.current_request
    expression = query_param(request, "expression") or ""
    timezone = query_param(request, "timezone") or ""
    now = datetime.now(UTC)
    check_schedule(expression, timezone, now)
    return schedule_of(expression, timezone, True, now)


@app.route("/api/jobs", methods=["GET"])
@endpoint(app)
def list_jobs(actor: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"jobs": [job_summary(job, now) for job in history.list_jobs(connection())]}


@app.route("/api/jobs/{name}", methods=["GET"])
@endpoint(app)
def get_job(name: str, actor: str) -> dict[str, Any]:
    return job_detail(history.job_overview(connection(), name), datetime.now(UTC))


@app.route("/api/jobs", methods=["POST"])
@endpoint(app)
def create_job(actor: str) -> Any:
    body = json_body(app.current_request)
    confirmed = confirmation(body)
    context = current.get()
    spec = CustomJobSpec.from_fields(body, context.settings.default_timezone)
    job = job_edits.create_job(
        connection(), context.rules(), spec, actor, context.guard(), confirmed
    )
    return json_response(job_detail(JobOverview(job, None), datetime.now(UTC)), 201)


@app.route("/api/jobs/{name}", methods=["PATCH"])
@endpoint(app)
def edit_job(name: str, actor: str) -> dict[str, Any]:
    body = json_body(app.current_request)
    confirmed, context = confirmation(body), current.get()
    job_edits.edit_job(connection(), context.rules(), name, body, actor, guard=context.guard(),
                       confirm_audience=confirmed)  # fmt: skip
    return job_detail(history.job_overview(connection(), name), datetime.now(UTC))


@app.route("/api/jobs/{name}", methods=["DELETE"])
@endpoint(app)
def delete_job(name: str, actor: str) -> dict[str, Any]:
    version = int_param(app.current_request, "version", 0, 1, 2**31 - 1)
    if not version:
        raise ApiError(400, "bad_request", "send ?version=<the job's current version>", "version")
    job_edits.delete_job(connection(), current.get().rules(), name, version, actor)
    return {"deleted": name}


@app.route("/api/jobs/{name}/preview", methods=["POST"])
@endpoint(app, reads=True)
def preview(name: str, actor: str) -> dict[str, Any]:
    request = app.current_request
    body = json_body(request) if request.raw_body else {}
    job = history.get_job(connection(), name)
    return job_edits.preview_job(connection(), job, body, datetime.now(UTC))


@app.route("/api/jobs/{name}/test", methods=["POST"])
@endpoint(app)
def send_test(name: str, actor: str) -> dict[str, Any]:
    """The job's message, rendered for the admin, sent to their own chat only (the
    token's Telegram user id): not an execution, not counted."""
    from job_scheduler.admin.test_send import send_test as send

    holder = app.current_request.token_holder
    if holder.telegram_user_id is None:
        raise ApiError(422, "invalid", "this token carries no Telegram user id: make one with"
                       " jobsctl admin-token create NAME --telegram-user ID", "token")  # fmt: skip
    context = current.get()
    job = history.get_job(connection(), name)
    message_id = send(connection(), context.telegram, job, holder.telegram_user_id, actor,
                      datetime.now(UTC))  # fmt: skip
    return {"sent": True, "chat_id": holder.telegram_user_id, "telegram_message_id": message_id}


@app.route("/api/jobs/{name}/executions", methods=["GET"])
@endpoint(app)
def list_executions(name: str, actor: str) -> dict[str, Any]:
    request = app.current_request
    status = query_param(request, "status")
    if status is not None and status not in EXECUTION_STATUSES:
        raise ApiError(400, "bad_request", f"status must be one of {EXECUTION_STATUSES}", "status")
    before = query_param(request, "before")
    limit = int_param(request, "limit", 20, 1, history.MAX_PAGE)
    rows = history.list_executions(
        connection(), name, status, cursor.decode(before) if before else None, limit
    )
    following = cursor.encode(rows[-1].scheduled_for, rows[-1].id) if len(rows) == limit else None
    return {"executions": [execution_view(row) for row in rows], "next": following}


@app.route("/api/executions/{execution_id}", methods=["GET"])
@endpoint(app)
def get_execution(execution_id: str, actor: str) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9]{1,18}", execution_id):
        raise ApiError(404, "not_found", f"there is no execution {execution_id!r}", "execution_id")
    return execution_detail_view(history.get_execution(connection(), int(execution_id)))


@app.route("/api/executions", methods=["GET"])
@endpoint(app)
def search_executions(actor: str) -> dict[str, Any]:
    """Executions of every job, newest first, by status and scheduled time [since, until)."""
    request = app.current_request
    status = query_param(request, "status")
    if status is not None and status not in EXECUTION_STATUSES:
        raise ApiError(400, "bad_request", f"status must be one of {EXECUTION_STATUSES}", "status")
    since, until = time_param(request, "since"), time_param(request, "until")
    if since and until and until <= since:
        raise ApiError(400, "bad_request", "until must be after since", "until")
    before = query_param(request, "before")
    limit = int_param(request, "limit", 20, 1, history.MAX_PAGE)
    rows = history.search_executions(connection(), status, since, until,
                                     cursor.decode(before) if before else None, limit)  # fmt: skip
    last = rows[-1][0] if len(rows) == limit else None
    return {"executions": [{**execution_view(row), "job": job} for row, job in rows],
            "next": cursor.encode(last.scheduled_for, last.id) if last else None}  # fmt: skip


@app.route("/api/executions/{execution_id}/cancel", methods=["POST"])
@endpoint(app)
def cancel_execution(execution_id: str, actor: str) -> dict[str, Any]:
    """Stop a send: what is not sent yet is cancelled; what is in flight finishes."""
    from job_scheduler.execution.cancellation import cancel_execution as cancel

    done = cancel(connection(), _id(execution_id, "execution_id"), actor, datetime.now(UTC))
    return done.as_dict()


@app.route("/api/executions/{execution_id}/retry-failed", methods=["POST"])
@endpoint(app)
def retry_failed(execution_id: str, actor: str) -> dict[str, Any]:
    """Send once more the deliveries that failed for Telegram's or the network's reason."""
    from job_scheduler.delivery.retry import retry_failed as retry

    window = current.get().window()
    done = retry(connection(), window, _id(execution_id, "execution_id"), actor,
                 datetime.now(UTC))  # fmt: skip
    return done.as_dict()


@app.route("/api/system", methods=["GET"])
@endpoint(app)
def system_state(actor: str) -> dict[str, Any]:
    """Whether sending is paused (every page shows a banner while it is)."""
    paused = pause.current(connection())
    return paused.as_dict() if paused else {"paused": False}


@app.route("/api/system/pause", methods=["POST"])
@endpoint(app)
def pause_sending(actor: str) -> dict[str, Any]:
    body = json_body(app.current_request) if app.current_request.raw_body else {}
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise ApiError(422, "invalid", "reason must be text", "reason")
    return pause.pause(connection(), actor, reason, datetime.now(UTC)).as_dict()


@app.route("/api/system/resume", methods=["POST"])
@endpoint(app)
def resume_sending(actor: str) -> dict[str, Any]:
    context = current.get()
    done = pause.resume_and_top_up(connection(), context.window().top_up, actor,
                                   context.settings.pause_max_delay_seconds,
                                   datetime.now(UTC))  # fmt: skip
    return done.as_dict()


@app.route("/api/jobs/{name}/run", methods=["POST"])
@endpoint(app)
def run_now(name: str, actor: str) -> Any:
    job = history.get_job(connection(), name)
    if (paused := pause.current(connection())) is not None:
        raise SystemPaused(f"{paused.describe()}: resume it first, then run the job")
    firing = queue_manual_firing(current.get().settings, job.name, actor)
    return {"queued": True, "job": job.name, "scheduled_for": firing.scheduled_for}


@app.route("/api/character-packs", methods=["GET"])
@endpoint(app)
def list_packs(actor: str) -> dict[str, Any]:
    link = current.get().deep_link
    return {"packs": [{**pack, "deep_link": link(pack["slug"])}
                      for pack in packs.list_packs(connection())]}  # fmt: skip


@app.route("/api/character-packs", methods=["POST"])
@endpoint(app)
def create_pack(actor: str) -> Response:
    pack = packs.create_pack(connection(), actor, json_body(app.current_request))
    return json_response(_pack_view(pack), 201)


@app.route("/api/character-packs/{pack_id}", methods=["PATCH"])
@endpoint(app)
def update_pack(pack_id: str, actor: str) -> dict[str, Any]:
    changes = json_body(app.current_request)
    return _pack_view(packs.update_pack(connection(), actor, _id(pack_id, "pack_id"), changes))


@app.route("/api/character-packs/{pack_id}/members", methods=["GET"])
@endpoint(app)
def pack_members(pack_id: str, actor: str) -> dict[str, Any]:
    request = app.current_request
    pack = packs.get_pack(connection(), _id(pack_id, "pack_id"))
    found = people.list_people(connection(), pack_id=pack["id"],
                               limit=int_param(request, "limit", 50, 1, people.MAX_PAGE),
                               after_id=int_param(request, "after", 0, 0, 2**62))  # fmt: skip
    return {"members": found}


@app.route("/api/character-packs/{pack_id}/members", methods=["POST"])
@endpoint(app)
def add_pack_members(pack_id: str, actor: str) -> dict[str, Any]:
    body = json_body(app.current_request)
    user_ids = body.get("user_ids")
    if not isinstance(user_ids, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in user_ids
    ):
        raise ApiError(422, "invalid", "user_ids must be a list of user ids", "user_ids")
    pack = packs.add_members(connection(), actor, _id(pack_id, "pack_id"), user_ids)
    return _pack_view(pack)


@app.route("/api/character-packs/{pack_id}/members/{user_id}", methods=["DELETE"])
@endpoint(app)
def remove_pack_member(pack_id: str, user_id: str, actor: str) -> dict[str, Any]:
    pack = packs.remove_member(connection(), actor, _id(pack_id, "pack_id"),
                               _id(user_id, "user_id"))  # fmt: skip
    return _pack_view(pack)


def _pack_view(pack: dict[str, Any]) -> dict[str, Any]:
    return {**pack, "deep_link": current.get().deep_link(pack["slug"])}


def _id(raw: str, field: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise ApiError(404, "not_found", f"{field} must be a whole number", field)
    return int(raw)


@app.route("/api/people/{user_id}", methods=["GET"])
@endpoint(app)
def get_person(user_id: str, actor: str) -> dict[str, Any]:
    """One person, and what they were sent (newest first; ``before`` pages on by id)."""
    request = app.current_request
    person_id = _id(user_id, "user_id")
    before = int_param(request, "before", 0, 0, 2**62) or None
    deliveries = people.deliveries_of(connection(), person_id,
                                      int_param(request, "limit", 50, 1, people.MAX_PAGE),
                                      before)  # fmt: skip
    return {"person": people.get_person(connection(), person_id), "deliveries": deliveries}


@app.route("/api/people", methods=["GET"])
@endpoint(app)
def list_people(actor: str) -> dict[str, Any]:
    """People by name, username or id, and state (active, blocked, opted_out), in id order;
    ``after`` pages on."""
    request = app.current_request
    query = (query_param(request, "q") or "").strip()
    state = query_param(request, "state") or None
    if len(query) > 100:
        raise ApiError(400, "bad_request", "q must be at most 100 characters", "q")
    if state not in (None, *people.STATES):
        raise ApiError(400, "bad_request", f"state must be one of {', '.join(people.STATES)}",
                       "state")  # fmt: skip
    found = people.list_people(connection(), query or None, state,
                               int_param(request, "limit", 50, 1, people.MAX_PAGE),
                               int_param(request, "after", 0, 0, 2**62))  # fmt: skip
    return {"people": found, "counts": people.counts(connection())}


@app.route("/api/users", methods=["GET"])
@endpoint(app)
def search_users(actor: str) -> dict[str, Any]:
    """People by name, username or id for the pickers; or, with ``?ids=``, those people."""
    request = app.current_request
    if (ids := ids_param(request, "ids", 200)) is not None:
        return {"users": history.users_by_id(connection(), ids)}
    query = (query_param(request, "q") or "").strip()
    if not query or len(query) > 100:
        raise ApiError(400, "bad_request", "q must be 1-100 characters to search for", "q")
    limit = int_param(request, "limit", 20, 1, 100)
    return {"users": history.search_users(connection(), query, limit)}


@app.route("/api/audit", methods=["GET"])
@endpoint(app)
def audit(actor: str) -> dict[str, Any]:
    request = app.current_request
    limit = int_param(request, "limit", 50, 1, history.MAX_PAGE)
    return {"entries": history.list_audit(connection(), query_param(request, "job"), limit)}
