"""The one-time page where a person links their Rastar account: in Persian (right to left)
or English, no script at all, one form.

``GET /link?state=`` shows the form (it changes nothing); ``POST /link`` (a form body) signs
in through ``job_scheduler.rastar.linking`` and shows the outcome. Each answer says what
happened in words the person can act on: a wrong password shows the form again with the
reason and the tries left; an expired, used or unknown link a page that says so and how to
get a new one. The password is read from the body, passed to Rastar and dropped: it is in
no log, no error and no page.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from chalice import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from job_scheduler.errors import (
    ConfigError,
    CredentialsRefused,
    LinkNotFound,
    LinkUnusable,
    RastarUnavailable,
    SendError,
    Unavailable,
)
from job_scheduler.observability import logger
from job_scheduler.rastar import linking

MAX_FORM_BYTES = 4096
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "link"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
)
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    # No script runs here; styles come from this origin only; no other site may frame it.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the state is in the URL
    "Cache-Control": "no-store",
}
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")

TEXTS: dict[str, dict[str, str]] = {
    "fa": {
        "title": "اتصال حساب رستار",
        "intro": "با ایمیل و رمز عبور رستار خود وارد شوید تا یادآوری غذا را در تلگرام بگیرید.",
        "email": "ایمیل",
        "password": "رمز عبور",
        "submit": "اتصال حساب",
        "tries_left": "{n} تلاش باقی مانده",
        "expires": "این لینک تا {minutes} دقیقه دیگر معتبر است",
        "privacy": "رمز عبور شما فقط به رستار فرستاده می‌شود و جایی ذخیره نمی‌شود.",
        "refused": "رستار این ایمیل یا رمز عبور را نپذیرفت. دوباره امتحان کنید.",
        "unavailable": "رستار الان پاسخ نمی‌دهد؛ چند دقیقه دیگر دوباره امتحان کنید."
        " (این تلاش حساب نشد.)",
        "missing": "ایمیل و رمز عبور هر دو لازم‌اند.",
        "linked": "حساب رستار شما ({email}) وصل شد.",
        "close": "می‌توانید این صفحه را ببندید. پیامی هم در تلگرام برایتان فرستادیم.",
        "unknown": "این لینک شناخته نیست.",
        "expired": "این لینک منقضی شده است.",
        "used": "این لینک قبلاً استفاده شده است.",
        "tries": "این لینک {n} بار امتحان شده و دیگر کار نمی‌کند.",
        "again": "در ربات /link را بفرستید تا لینک تازه‌ای بگیرید.",
        "switch": "فارسی",
        "broken": "مشکلی پیش آمد؛ کمی بعد دوباره امتحان کنید.",
    },
    "en": {
        "title": "Link your Rastar account",
        "intro": "Sign in with your Rastar email and password to get food reminders on Telegram.",
        "email": "Email",
        "password": "Password",
        "submit": "Link account",
        "tries_left": "{n} tries left",
        "expires": "this link works for {minutes} more minutes",
        "privacy": "Your password goes to Rastar only; it is not stored.",
        "refused": "Rastar did not accept that email or password. Try again.",
        "unavailable": "Rastar is not answering right now; try again in a few minutes."
        " (This try was not counted.)",
        "missing": "Both the email and the password are needed.",
        "linked": "Your Rastar account ({email}) is linked.",
        "close": "You can close this page. We also sent you a message on Telegram.",
        "unknown": "This link is not known.",
        "expired": "This link has expired.",
        "used": "This link has already been used.",
        "tries": "This link has been tried {n} times and no longer works.",
        "again": "Send /link to the bot to get a new one.",
        "switch": "English",
        "broken": "Something went wrong; try again a little later.",
    },
}


@dataclass(frozen=True)
class LinkForm:
    state: str
    email: str
    password: str
    lang: str | None


def answered(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Whatever goes wrong inside, the person gets a page (in both languages, the link's
    language not being known then) and the log the detail; never a stack trace."""

    @functools.wraps(handler)
    def route(*args: Any, **kwargs: Any) -> Response:
        try:
            return handler(*args, **kwargs)
        except Exception as exc:
            unavailable = isinstance(exc, Unavailable)
            logger.exception("link page: a request failed", extra={"error": type(exc).__name__})
            text = " / ".join(TEXTS[lang]["broken"] for lang in ("fa", "en"))
            return _page({"view": "unusable", "problem": text}, "fa", None,
                         503 if unavailable else 500)  # fmt: skip

    return route


def show(context: Any, query: dict[str, str]) -> Response:
    """GET: the form for a usable link, or why it cannot be used. Changes nothing."""
    state = query.get("state", "")
    lang = _lang(query.get("lang"))
    try:
        link = linking.peek(context.connection(), state) if state else None
    except (LinkNotFound, LinkUnusable) as exc:
        return _unusable(exc, state, lang)
    if link is None:
        return _unusable(LinkNotFound("no state"), state, lang)
    lang = lang or _lang(link.language) or "fa"
    return _form(state, lang, link, "", problem=None, status=200)


def submit(context: Any, raw_body: bytes | None) -> Response:
    """POST: one try at signing in with the link."""
    form = read_form(raw_body)
    lang = form.lang or "fa"
    conn = context.connection()
    try:
        link = linking.peek(conn, form.state)
    except (LinkNotFound, LinkUnusable) as exc:
        return _unusable(exc, form.state, lang)
    if not form.email.strip() or not form.password:
        return _form(form.state, lang, link, form.email, TEXTS[lang]["missing"], 422)
    try:
        linked = linking.sign_in(
            conn, context.box, context.rastar, form.state, form.email, form.password
        )
    except CredentialsRefused:
        try:  # the try is spent: the tries left, or that there are none
            link = linking.peek(conn, form.state)
        except (LinkNotFound, LinkUnusable) as exc:
            return _unusable(exc, form.state, lang)
        return _form(form.state, lang, link, form.email, TEXTS[lang]["refused"], 422)
    except RastarUnavailable as exc:
        logger.warning("link page: Rastar unavailable", extra={"error": str(exc)})
        return _form(form.state, lang, link, form.email, TEXTS[lang]["unavailable"], 503)
    except (LinkNotFound, LinkUnusable) as exc:
        return _unusable(exc, form.state, lang)
    logger.info("Rastar account linked", extra={"user_id": linked.user_id})
    _tell(context, linked)
    return _page({"view": "linked", "email": linked.email}, lang, None, 200)


def read_form(raw_body: bytes | None) -> LinkForm:
    """The form's fields; a body too large or not a form reads as empty (the page says
    what is missing rather than failing)."""
    body = raw_body or b""
    if len(body) > MAX_FORM_BYTES:
        body = b""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        fields = {}

    def one(name: str) -> str:
        value = (fields.get(name) or [""])[0]
        return value.replace("\x00", "")

    return LinkForm(one("state"), one("email"), one("password"), _lang(one("lang")))


def _tell(context: Any, linked: linking.Linked) -> None:
    """The Telegram message naming the linked email; the page succeeds even if it fails."""
    try:
        context.telegram.send(linked.chat_id, linking.linked_text(linked), "HTML", False)
    except (SendError, ConfigError) as exc:
        logger.warning(
            "link page: the linked message was not sent",
            extra={"user_id": linked.user_id, "error": str(exc)},
        )


def _form(
    state: str, lang: str, link: linking.LinkState, email: str, problem: str | None, status: int
) -> Response:
    minutes = max(1, math.ceil((link.expires_at - datetime.now(UTC)).total_seconds() / 60))
    view = {
        "view": "form",
        "state": state,
        "email": email,
        "problem": problem,
        "tries_left": _number(link.tries_left, lang),
        "minutes_left": _number(minutes, lang),
    }
    return _page(view, lang, state, status)


def _unusable(exc: Exception, state: str, lang: str | None) -> Response:
    lang = lang or "fa"
    reason = getattr(exc, "reason", "unknown")
    text = TEXTS[lang][reason].format(n=_number(linking.MOST_TRIES, lang))
    status = 404 if reason == "unknown" else 410
    return _page({"view": "unusable", "problem": text}, lang, state or None, status)


def _page(view: dict[str, Any], lang: str, state: str | None, status: int) -> Response:
    other_lang = "en" if lang == "fa" else "fa"
    other = None
    if state:
        query = urlencode({"state": state, "lang": other_lang})
        other = {"lang": other_lang, "label": TEXTS[other_lang]["switch"], "query": query}
    body = _TEMPLATES.get_template("page.html").render(t=TEXTS[lang], lang=lang, other=other,
                                                        **view)  # fmt: skip
    return Response(body=body, status_code=status, headers=HEADERS)


def _lang(value: str | None) -> str | None:
    if not value:
        return None
    value = value.lower()
    return "en" if value.startswith("en") else "fa" if value.startswith("fa") else None


def _number(value: int, lang: str) -> str:
    return str(value).translate(_PERSIAN_DIGITS) if lang == "fa" else str(value)
