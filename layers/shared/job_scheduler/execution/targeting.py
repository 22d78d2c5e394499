"""Who a job reaches, resolved by one SQL query and streamed.

Rules: the included users plus the members of the selected character packs; when neither is
set, every user. Excluded users are then removed (exclusion always wins), and only people
who can be reached (active) and want to be (not opted out with /stop) are ever returned,
whoever fires the job. The query runs on a server-side cursor so a run over a million
people never holds them all in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psycopg
from psycopg.rows import args_row

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.messages.languages import LANGUAGE
from job_scheduler.model import Job, Recipient

STREAM_BATCH = 2000
LAST_ID = 2**63 - 1  # the end of the last shard's range: people who join later are in it

_TARGETED = """
    FROM users AS u
    WHERE u.is_active AND u.opted_out_at IS NULL
      AND NOT (u.id = ANY(%(exclude)s::bigint[]))
      AND (
            (cardinality(%(include)s::bigint[]) = 0 AND cardinality(%(packs)s::bigint[]) = 0)
         OR u.id = ANY(%(include)s::bigint[])
         OR EXISTS (
                SELECT 1 FROM user_character_packs AS m
                WHERE m.user_id = u.id AND m.pack_id = ANY(%(packs)s::bigint[])
            )
      )
"""


@dataclass(frozen=True)
class Targeting:
    """A job's audience as stored on ``scheduled_jobs``."""

    include_user_ids: Sequence[int] = ()
    exclude_user_ids: Sequence[int] = ()
    pack_ids: Sequence[int] = ()

    @classmethod
    def of_job(cls, job: Job) -> Targeting:
        return cls(job.include_user_ids, job.exclude_user_ids, job.pack_ids)

    def params(self) -> dict[str, list[int]]:
        return {
            "include": list(self.include_user_ids),
            "exclude": list(self.exclude_user_ids),
            "packs": list(self.pack_ids),
        }


def iter_recipients(
    conn: Conn,
    targeting: Targeting,
    page_size: int = STREAM_BATCH,
    ids: tuple[int, int] | None = None,
) -> Iterator[Recipient]:
    """The targeted active users in id order, ``page_size`` at a time; with ``ids`` (first,
    last), only those in that range (a shard's).

    One query on a server-side cursor, read through a connection of its own (made from
    ``conn``'s parameters, closed when the stream ends): planned once, so the packs'
    members are hashed once rather than once per page (keyset pages of the same query took
    60 ms a page with three packs, bench/targeting.py), and the caller's connection stays
    free to write in its own short transactions meanwhile.
    """
    query = (
        "SELECT u.id AS user_id, u.telegram_chat_id AS chat_id, u.first_name, u.last_name,"
        " u.username, " + LANGUAGE + " AS language_code" + _TARGETED
        + " AND u.id BETWEEN %(first)s AND %(last)s ORDER BY u.id"
    )  # fmt: skip
    first, last = ids or (0, LAST_ID)
    params = {**targeting.params(), "first": first, "last": last}
    with _reader(conn) as reader:
        with database_errors("resolving a job's recipients"):
            cursor = reader.cursor("recipients", row_factory=args_row(Recipient), binary=True)
            cursor.execute(query, params)
        while True:
            with database_errors("resolving a job's recipients"):
                page = cursor.fetchmany(page_size)
            yield from page
            if len(page) < page_size:
                return


def _reader(conn: Conn) -> Conn:
    """A connection to ``conn``'s database for one read; its transaction holds the cursor."""
    info = conn.info
    with database_errors("connecting to Postgres to read recipients"):
        return psycopg.connect(info.dsn, password=info.password or None, connect_timeout=5,
                               application_name="telegram-jobs")  # fmt: skip


def count_recipients(conn: Conn, targeting: Targeting) -> int:
    with database_errors("counting a job's recipients"):
        row = conn.execute("SELECT count(*) AS n" + _TARGETED, targeting.params()).fetchone()
    return row["n"]


def shard_starts(conn: Conn, targeting: Targeting, size: int) -> list[int]:
    """The first user id of every ``size`` targeted people, in order: shard boundaries
    (one scan of the targeted ids; a shard is [start, next start - 1])."""
    with database_errors("splitting a job's recipients into shards"):
        rows = conn.execute(
            "SELECT id FROM (SELECT u.id, row_number() OVER (ORDER BY u.id) AS n"
            + _TARGETED
            + ") AS t WHERE (n - 1) %% %(size)s = 0 ORDER BY id",
            {**targeting.params(), "size": size},
        ).fetchall()
    return [row["id"] for row in rows]
