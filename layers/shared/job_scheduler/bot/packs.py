"""Packs a person joins or leaves themselves: those an admin opened to join.

A pack's deep link is ``https://t.me/<bot>?start=pack_<slug>``: /start with that payload
joins it. A closed pack is joined only by an admin; a person may always leave a pack.
"""

from __future__ import annotations

from dataclasses import dataclass

from job_scheduler.adapters.db import Conn, database_errors

START_PREFIX = "pack_"


@dataclass(frozen=True)
class Pack:
    id: int
    slug: str
    name: str
    open_to_join: bool
    member: bool


def deep_link(bot_username: str, slug: str) -> str:
    return f"https://t.me/{bot_username}?start={START_PREFIX}{slug}"


def packs_of(conn: Conn, user_id: int) -> list[Pack]:
    """The open packs, and any other the person is in, by name."""
    with database_errors("listing packs"):
        rows = conn.execute(
            "SELECT p.id, p.slug, p.name, p.open_to_join, m.user_id IS NOT NULL AS member"
            " FROM character_packs p LEFT JOIN user_character_packs m"
            " ON m.pack_id = p.id AND m.user_id = %s"
            " WHERE p.open_to_join OR m.user_id IS NOT NULL ORDER BY p.name, p.id",
            (user_id,),
        ).fetchall()
    return [Pack(**row) for row in rows]


def find(conn: Conn, user_id: int, *, pack_id: int | None = None,
         slug: str | None = None) -> Pack | None:  # fmt: skip
    with database_errors("reading a pack"):
        row = conn.execute(
            "SELECT p.id, p.slug, p.name, p.open_to_join, EXISTS (SELECT 1 FROM"
            " user_character_packs m WHERE m.pack_id = p.id AND m.user_id = %s) AS member"
            " FROM character_packs p WHERE p.id = %s OR p.slug = %s",
            (user_id, pack_id, slug),
        ).fetchone()
    return Pack(**row) if row else None


def join(conn: Conn, user_id: int, pack: Pack) -> bool:
    """Join an open pack; False if they already were in it (or it is closed)."""
    if not pack.open_to_join:
        return False
    with database_errors("joining a pack"):
        return (
            conn.execute(
                "INSERT INTO user_character_packs (pack_id, user_id)"
                " SELECT id, %s FROM character_packs WHERE id = %s AND open_to_join"
                " ON CONFLICT DO NOTHING",
                (user_id, pack.id),
            ).rowcount
            > 0
        )


def leave(conn: Conn, user_id: int, pack: Pack) -> bool:
    with database_errors("leaving a pack"):
        return (
            conn.execute(
                "DELETE FROM user_character_packs WHERE pack_id = %s AND user_id = %s",
                (pack.id, user_id),
            ).rowcount
            > 0
        )
