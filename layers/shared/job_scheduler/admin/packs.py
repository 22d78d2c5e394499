"""Character packs as admins manage them: create, rename, change the slug, open or close to
joining, add and remove members. Every change is one transaction with its audit row."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.audit import record_change
from job_scheduler.errors import (
    ConstraintViolation,
    InvalidPack,
    PackExists,
    PackNotFound,
    UserNotFound,
)

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,58}")  # "pack_" + slug fits /start's 64 characters
NAME_CHARS, DESCRIPTION_CHARS = 100, 500
FIELDS = ("slug", "name", "description", "open_to_join")
_PACK = (
    "SELECT p.id, p.slug, p.name, p.description, p.open_to_join, p.created_at, p.updated_at,"
    " (SELECT count(*) FROM user_character_packs m WHERE m.pack_id = p.id) AS members"
    " FROM character_packs p"
)


def list_packs(conn: Conn) -> list[dict[str, Any]]:
    with database_errors("listing character packs"):
        return conn.execute(_PACK + " ORDER BY p.name, p.id").fetchall()


def get_pack(conn: Conn, pack_id: int) -> dict[str, Any]:
    with database_errors("reading a character pack"):
        row = conn.execute(_PACK + " WHERE p.id = %s", (pack_id,)).fetchone()
    if row is None:
        raise PackNotFound(f"there is no character pack {pack_id}", "pack_id")
    return row


def create_pack(conn: Conn, actor: str, values: dict[str, Any]) -> dict[str, Any]:
    """A new pack from ``slug``, ``name`` and optionally ``description``, ``open_to_join``."""
    fields = checked({"description": "", "open_to_join": False, **values}, creating=True)
    with _slug_free(fields["slug"]), database_errors("creating a character pack"), \
            conn.transaction():  # fmt: skip
        row = conn.execute(
            "INSERT INTO character_packs (slug, name, description, open_to_join)"
            " VALUES (%(slug)s, %(name)s, %(description)s, %(open_to_join)s) RETURNING id",
            fields,
        ).fetchone()
        record_change(conn, actor, "create", "pack", fields["slug"], None, fields, _now())
    return get_pack(conn, row["id"])


def update_pack(conn: Conn, actor: str, pack_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields only; the deep link follows a new slug (old links stop)."""
    fields = checked(changes, creating=False)
    with _slug_free(fields.get("slug", "")), database_errors("changing a character pack"), \
            conn.transaction():  # fmt: skip
        before = conn.execute(
            "SELECT slug, name, description, open_to_join FROM character_packs"
            " WHERE id = %s FOR UPDATE", (pack_id,),
        ).fetchone()  # fmt: skip
        if before is None:
            raise PackNotFound(f"there is no character pack {pack_id}", "pack_id")
        if fields:
            assignments = ", ".join(f"{name} = %({name})s" for name in fields)
            conn.execute(
                f"UPDATE character_packs SET {assignments}, updated_at = now() WHERE id = %(id)s",
                {**fields, "id": pack_id},
            )
            record_change(conn, actor, "update", "pack", before["slug"], dict(before),
                          {**before, **fields}, _now())  # fmt: skip
    return get_pack(conn, pack_id)


def add_members(conn: Conn, actor: str, pack_id: int, user_ids: Sequence[int]) -> dict[str, Any]:
    """Put these people in the pack (open or not: an admin may); all of them or none."""
    if not user_ids or len(user_ids) > 1000:
        raise InvalidPack("give 1-1000 user ids to add", "user_ids")
    wanted = sorted(set(user_ids))
    with database_errors("adding pack members"), conn.transaction():
        pack = _locked(conn, pack_id)
        found = {r["id"] for r in conn.execute(
            "SELECT id FROM users WHERE id = ANY(%s)", (wanted,)).fetchall()}  # fmt: skip
        missing = [user_id for user_id in wanted if user_id not in found]
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise UserNotFound(f"there is no user with id {shown}", "user_ids")
        added = conn.execute(
            "INSERT INTO user_character_packs (pack_id, user_id) SELECT %s, unnest(%s::bigint[])"
            " ON CONFLICT DO NOTHING RETURNING user_id",
            (pack_id, wanted),
        ).fetchall()
        if added:
            record_change(conn, actor, "add_members", "pack", pack["slug"], None,
                          {"user_ids": [r["user_id"] for r in added]}, _now())  # fmt: skip
    return get_pack(conn, pack_id)


def remove_member(conn: Conn, actor: str, pack_id: int, user_id: int) -> dict[str, Any]:
    with database_errors("removing a pack member"), conn.transaction():
        pack = _locked(conn, pack_id)
        gone = conn.execute(
            "DELETE FROM user_character_packs WHERE pack_id = %s AND user_id = %s",
            (pack_id, user_id),
        ).rowcount
        if not gone:
            raise UserNotFound(f"user {user_id} is not in {pack['slug']}", "user_id")
        record_change(conn, actor, "remove_member", "pack", pack["slug"], {"user_id": user_id},
                      None, _now())  # fmt: skip
    return get_pack(conn, pack_id)


def checked(values: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The pack fields given, checked; InvalidPack names the first that is wrong."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise InvalidPack(f"unknown field {unknown[0]!r}; a pack has {', '.join(FIELDS)}",
                          unknown[0])  # fmt: skip
    if creating:
        for name in ("slug", "name"):
            if name not in values:
                raise InvalidPack(f"{name} is required", name)
    fields = dict(values)
    if "slug" in fields and not (
        isinstance(fields["slug"], str) and SLUG.fullmatch(fields["slug"])
    ):
        raise InvalidPack("slug must be 1-59 lowercase letters, digits, '-' or '_', starting"
                          " with a letter or digit (it is the deep link: ?start=pack_<slug>)",
                          "slug")  # fmt: skip
    if "name" in fields:
        name = fields["name"].strip() if isinstance(fields["name"], str) else ""
        if not 1 <= len(name) <= NAME_CHARS:
            raise InvalidPack(f"name must be 1-{NAME_CHARS} characters", "name")
        fields["name"] = name
    if "description" in fields and not (
        isinstance(fields["description"], str) and len(fields["description"]) <= DESCRIPTION_CHARS
    ):
        raise InvalidPack(f"description must be text of at most {DESCRIPTION_CHARS} characters",
                          "description")  # fmt: skip
    if "open_to_join" in fields and not isinstance(fields["open_to_join"], bool):
        raise InvalidPack("open_to_join must be true or false", "open_to_join")
    return fields


def _locked(conn: Conn, pack_id: int) -> dict[str, Any]:
    pack = conn.execute(
        "SELECT id, slug FROM character_packs WHERE id = %s FOR UPDATE", (pack_id,)
    ).fetchone()
    if pack is None:
        raise PackNotFound(f"there is no character pack {pack_id}", "pack_id")
    return pack


@contextmanager
def _slug_free(slug: str) -> Iterator[None]:
    """A slug another pack has: PackExists (the unique key says so, race or not)."""
    try:
        yield
    except ConstraintViolation as exc:
        if exc.constraint == "character_packs_slug_key":
            raise PackExists(f"another pack already has the slug {slug!r}", "slug") from exc
        raise


def _now() -> datetime:
    return datetime.now(UTC)
