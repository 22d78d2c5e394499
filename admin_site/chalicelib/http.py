"""JSON in and out, errors in one shape, and the bearer-token check.

Every error answer is ``{"error": {"code", "message", "field"}}``. The package's errors map
to statuses here, once; anything unexpected is a 500 whose body says nothing internal
(the details go to the log, scrubbed).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from chalice import Chalice, Response

from chalicelib.context import current
from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.errors import (
    Conflict,
    InputError,
    InternalError,
    JobSchedulerError,
    NotFound,
    RulesNotUpdated,
    Unavailable,
)
from job_scheduler.observability import logger

MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        body=json.dumps(body, default=_default, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


def error_response(error: ApiError) -> Response:
    body = {"error": {"code": error.code, "message": error.message, "field": error.field}}
    response = json_response(body, error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="admin"'
    return response


_FIELD_NAMES = {"cron_expression": "expression", "message_config": "message"}


# The one place a package error becomes an HTTP answer: by its fault root (errors.py), the
# most specific class first. ``show`` says whether the message is the caller's to read; a
# failed service's or the deployment's detail goes to the log only.
STATUSES: dict[type[JobSchedulerError], tuple[int, str, bool]] = {
    RulesNotUpdated: (503, "rules_not_updated", True),
    InputError: (422, "invalid", True),
    NotFound: (404, "not_found", True),
    Conflict: (409, "conflict", True),
    Unavailable: (503, "unavailable", False),
    InternalError: (500, "internal", False),
}
_HIDDEN = {
    503: "a service the admin API needs is unavailable; try again shortly",
    500: "something went wrong; the details are in the log",
}


def status_of(exc: JobSchedulerError) -> tuple[int, str, bool]:
    return next(
        (answer for kind, answer in STATUSES.items() if isinstance(exc, kind)),
        (500, "internal", False),
    )


def _as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if not isinstance(exc, JobSchedulerError):
        logger.exception("admin API: unexpected error")
        return ApiError(500, "internal", _HIDDEN[500])
    status, code, show = status_of(exc)
    if not show:
        logger.error("admin API: a request failed", extra={"error": str(exc), "code": code})
        return ApiError(status, code, _HIDDEN[status])
    if status >= 500:
        logger.error("admin API: a request failed", extra={"error": str(exc), "code": code})
    return ApiError(status, code, str(exc), _api_field(exc.field))


def _api_field(field: str | None) -> str | None:
    """Validation speaks of columns; the API's fields are named for people."""
    if not field:
        return None
    head, dot, rest = field.partition(".")
    return _FIELD_NAMES.get(head, head) + dot + rest


def endpoint(app: Chalice, public: bool = False, reads: bool = False) -> Callable:
    """Wrap a route: bearer-token check (unless ``public``), body size limit, JSON answers,
    errors in one shape. The handler gets the token's name as ``actor``. A request other
    than GET changes something and needs an admin token (a viewer's gets 403), unless the
    route only ``reads`` (a preview)."""

    def wrap(handler: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def route(*args: Any, **kwargs: Any) -> Response:
            try:
                request = app.current_request
                if request.raw_body and len(request.raw_body) > MAX_BODY_BYTES:
                    raise ApiError(
                        413, "too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes"
                    )
                _check_text(dict(request.query_params or {}), "query")
                _check_text(dict(request.uri_params or {}), "path")
                if not public:
                    holder = _authenticate(request.headers)
                    if request.method != "GET" and not reads and not holder.can_change:
                        raise ApiError(403, "forbidden", _READ_ONLY.format(holder.name))
                    request.token_holder = holder  # (GET /api/me shows it)
                    kwargs["actor"] = f"admin:{holder.name}"
                result = handler(*args, **kwargs)
                return result if isinstance(result, Response) else json_response(result)
            except Exception as exc:  # every failure answers in the one error shape
                return error_response(_as_api_error(exc))

        return route

    return wrap


_READ_ONLY = "the token {!r} is a viewer's: it reads, it cannot change anything"


def _authenticate(headers: Any) -> admin_tokens.Holder:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <admin token>")
    holder = admin_tokens.authenticate(connection(), token.strip())
    if holder is None:
        raise ApiError(401, "unauthorized", "that admin token is unknown or revoked")
    return holder


def connection() -> Any:
    return current.get().connection()


def query_param(request: Any, name: str) -> str | None:
    return (request.query_params or {}).get(name)


def int_param(request: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query_param(request, name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,12}", raw) or not low <= int(raw) <= high:
        raise ApiError(
            400, "bad_request", f"{name} must be a whole number from {low} to {high}", name
        )
    return int(raw)


def time_param(request: Any, name: str) -> datetime | None:
    """``?name=2026-12-01`` or ``2026-12-01T22:00`` (UTC) or with an offset."""
    raw = query_param(request, name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be a date or time in ISO 8601, like"
                       " 2026-12-01 or 2026-12-01T22:00+03:30", name) from None  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ids_param(request: Any, name: str, most: int) -> list[int] | None:
    """``?name=1,2,3``: one to ``most`` positive ids, or None when the parameter is absent."""
    raw = query_param(request, name)
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) > most or not all(re.fullmatch(r"[1-9][0-9]{0,17}", part) for part in parts):
        message = f"{name} must be 1 to {most} positive whole numbers, comma-separated"
        raise ApiError(400, "bad_request", message, name)
    return [int(part) for part in parts]


def confirmation(body: dict[str, Any]) -> bool:
    """``confirm_audience`` taken out of a job's body: a request flag, not a field."""
    confirmed = body.pop("confirm_audience", False)
    if not isinstance(confirmed, bool):
        raise ApiError(422, "invalid", "confirm_audience must be true or false", "confirm_audience")
    return confirmed


def json_body(request: Any) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    try:
        body = json.loads(request.raw_body or b"")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "the body must be a JSON object") from None
    except RecursionError:  # [[[[...]]]] deeper than Python's stack
        raise ApiError(
            400, "bad_request", "the body nests too deeply; send a flat object"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    _check_text(body, "body")
    return body


def _check_text(value: Any, where: str) -> None:
    """Refuse what no field may hold, anywhere in ``value``, naming the field: NUL characters
    (Postgres cannot store them, Telegram would refuse) and lone surrogates (not text at
    all: JSON's "\\ud800" decodes to one, and UTF-8 cannot encode it)."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:  # a stack, not recursion: nesting depth is the caller's to choose
        path, item = pending.pop()
        if isinstance(item, dict):
            pending += [(_joined(path, str(key)), key) for key in item]
            pending += [(_joined(path, str(key)), child) for key, child in item.items()]
        elif isinstance(item, list):
            pending += [(f"{path}[{index}]", child) for index, child in enumerate(item)]
        elif isinstance(item, str):
            _check_string(item, path, where)


def _check_string(text: str, path: str, where: str) -> None:
    field = path or None
    if "\x00" in text:
        raise ApiError(400, "bad_request", f"the {where} holds a NUL character; remove it", field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            422,
            "invalid",
            f"{path or 'the ' + where} holds a lone surrogate (such as \\ud800), which is not"
            " a character; send the text as UTF-8, or pair the surrogate",
            field,
        ) from None


def _joined(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
