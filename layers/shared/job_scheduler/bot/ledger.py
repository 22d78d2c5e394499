"""The updates already applied: Telegram sends an update again until it gets a 2xx, and
each ``update_id`` is applied at most once.

An update is claimed (its id inserted) before it is applied, in its own statement, so a
redelivery that arrives while the first is still being handled finds it claimed. If the
process dies between the claim and the end, the update is not applied again: at most once,
as a person expects of "I tapped once". Rows are kept ``KEEP_DAYS`` (Telegram gives up on
an undelivered update after 24 hours) and pruned as updates arrive.
"""

from __future__ import annotations

from job_scheduler.adapters.db import Conn, database_errors

KEEP_DAYS = 7
PRUNE_EVERY = 500  # one prune per this many claimed update ids (by id)


def claim(conn: Conn, update_id: int, kind: str) -> bool:
    """True if this update is new and is now this caller's to apply."""
    with database_errors("recording a Telegram update"):
        claimed = (
            conn.execute(
                "INSERT INTO bot_updates (update_id, kind) VALUES (%s, %s)"
                " ON CONFLICT (update_id) DO NOTHING",
                (update_id, kind),
            ).rowcount
            > 0
        )
    if claimed and update_id % PRUNE_EVERY == 0:
        prune(conn)
    return claimed


def finish(conn: Conn, update_id: int, outcome: str) -> None:
    """``applied``, ``failed`` or ``ignored``: for whoever reads the table to see."""
    with database_errors("recording a Telegram update"):
        conn.execute(
            "UPDATE bot_updates SET outcome = %s WHERE update_id = %s", (outcome, update_id)
        )


def prune(conn: Conn, keep_days: int = KEEP_DAYS) -> int:
    with database_errors("pruning Telegram updates"):
        return conn.execute(
            "DELETE FROM bot_updates WHERE received_at < now() - make_interval(days => %s)",
            (keep_days,),
        ).rowcount
