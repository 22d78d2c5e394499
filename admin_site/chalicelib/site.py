"""The admin site's files, served by the API's own app (no build step)."""

from __future__ import annotations

from pathlib import Path

from chalice import Response

SITE = Path(__file__).parent / "site"
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "people.js": "text/javascript; charset=utf-8",  # the people and packs views
    "control.js": "text/javascript; charset=utf-8",  # progress, pause, charts, search
    "message.js": "text/javascript; charset=utf-8",  # a message's photo, buttons, preview
    "style.css": "text/css; charset=utf-8",
    "link.css": "text/css; charset=utf-8",  # the Rastar link page's (chalicelib/link_page.py)
}
HEADERS = {
    # Only this origin's files run; the token never leaves for another. Images may come from
    # anywhere: a message's photo is a public link the preview shows (no referrer is sent).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https: http:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def page(name: str) -> Response:
    if name not in FILES:
        return Response(body="not found", status_code=404, headers={"Content-Type": "text/plain"})
    body = (SITE / name).read_text(encoding="utf-8")
    return Response(body=body, status_code=200, headers={"Content-Type": FILES[name], **HEADERS})
