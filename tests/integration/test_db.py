"""Migrations from an empty database, re-applied, and raced by two cold starts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from job_scheduler.adapters.db import connect, get_connection, migrate, migrations_dir, yoyo_url
from job_scheduler.errors import DatabaseError

TABLES = {
    "users",
    "rastar_link_states",
    "rastar_pick_offers",
    "character_packs",
    "user_character_packs",
    "scheduled_jobs",
    "job_executions",
    "notification_deliveries",
    "audit_log",
    "system_config",
    "rastar_accounts",
    "admin_tokens",
    "bot_updates",
    "execution_shards",
}


def migrations_after(name: str) -> list[str]:
    """Every migration newer than ``name``, in order: what ``migrate`` applies after a
    rollback to it."""
    names = sorted(path.stem for path in Path(migrations_dir()).glob("0*.sql")
                   if not path.stem.endswith(".rollback"))  # fmt: skip
    return names[names.index(name) + 1 :]


def tables(url: str) -> set[str]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT LIKE '%%yoyo%%'"
        ).fetchall()
    return {row["tablename"] for row in rows}


def test_migrations_build_the_schema_from_empty_and_reapply_as_no_op(make_database):
    url = make_database()
    assert tables(url) == set()

    assert migrate(url) == ALL_MIGRATIONS
    assert ALL_MIGRATIONS[:6] == [
        "0001.initial-schema",
        "0002.execution-leases",
        "0003.rastar-accounts",
        "0004.admin-tokens",
        "0005.delivery-status-without-pending",
        "0006.delivery-window",
    ]
    assert tables(url) == TABLES
    assert migrate(url) == []


def test_two_cold_starts_migrating_at_once_apply_each_migration_once(make_database):
    url = make_database()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: migrate(url), range(4)))

    assert sorted(results, key=len) == [[], [], [], ALL_MIGRATIONS]
    assert tables(url) == TABLES


def roll_back_to_0001(url: str) -> None:
    roll_back_to(url, "0001.initial-schema")


def roll_back_to(url: str, last_kept: str) -> None:
    from yoyo import get_backend, read_migrations

    backend = get_backend(yoyo_url(url))
    try:
        applied = backend.to_rollback(read_migrations(migrations_dir()))
        backend.rollback_migrations([m for m in applied if m.id > last_kept])
    finally:
        backend.connection.close()


def seed(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO users (telegram_chat_id) VALUES (10)")
    conn.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('j', 'coded', 'cron(0 22 * * ? *)', 'Asia/Tehran', 't', 't')"
    )


def test_rolling_back_the_execution_path_keeps_unsent_deliveries_unsent(make_database):
    url = make_database()
    migrate(url)
    roll_back_to(url, "0005.delivery-status-without-pending")  # rows as 0005 writes them
    with connect(url) as conn:
        seed(conn)
        conn.execute(FIRING)
        conn.execute("INSERT INTO users (telegram_chat_id) VALUES (11), (12)")
        for user, status in ((1, "queued"), (2, "sending"), (3, "sent")):
            conn.execute(
                "INSERT INTO notification_deliveries (execution_id, user_id, status)"
                " VALUES (1, %s, %s)",
                (user, status),
            )

    roll_back_to_0001(url)

    with connect(url) as conn:
        rows = conn.execute(
            "SELECT user_id, status FROM notification_deliveries ORDER BY user_id"
        ).fetchall()
    assert [(row["user_id"], row["status"]) for row in rows] == [
        (1, "pending"),
        (2, "pending"),
        (3, "sent"),
    ]
    assert migrate(url) == ALL_MIGRATIONS[1:]


def test_rolling_back_refuses_runs_the_old_schema_cannot_hold(make_database):
    url = make_database()
    migrate(url)
    with connect(url) as conn:
        seed(conn)
        conn.execute(FIRING)
        conn.execute(FIRING.replace("'schedule'", "'manual'"))

    with pytest.raises(Exception, match=r"1 firing minute.*delete the manual ones") as raised:
        roll_back_to_0001(url)

    assert "0002.execution-leases" in str(raised.value)
    with connect(url) as conn:  # nothing half-changed
        count = conn.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"]
        columns = conn.execute(
            "SELECT count(*) AS n FROM information_schema.columns"
            " WHERE table_name = 'job_executions' AND column_name = 'lease_until'"
        ).fetchone()["n"]
    assert (count, columns) == (2, 1)


def test_accounts_linked_under_the_earlier_protocol_are_told_to_link_again(make_database):
    """0007: a long-lived token cannot become a session; the account says "link again", with
    a reason the person's notice and the admins can read, and nothing else breaks on it."""
    url = make_database()
    migrate(url)
    roll_back_to(url, "0006.delivery-window")
    with connect(url) as conn:
        conn.execute("INSERT INTO users (telegram_chat_id) VALUES (10)")
        conn.execute("INSERT INTO rastar_accounts (user_id, sealed_token) VALUES (1, 'sealed')")

    assert migrate(url) == migrations_after("0006.delivery-window")

    with connect(url) as conn:
        row = conn.execute("SELECT * FROM rastar_accounts").fetchone()
        with pytest.raises(psycopg.errors.CheckViolation):  # linked means a session
            conn.execute("UPDATE rastar_accounts SET status = 'linked'")
    assert (row["status"], row["sealed_session"], row["relink_notified_at"]) == (
        "refused",
        None,
        None,
    )
    assert "link again" in row["refused_reason"]


def test_rolling_back_sessions_refuses_while_accounts_are_linked(make_database):
    url = make_database()
    migrate(url)
    with connect(url) as conn:
        conn.execute("INSERT INTO users (telegram_chat_id) VALUES (10)")
        conn.execute("INSERT INTO rastar_accounts (user_id, sealed_session) VALUES (1, 's')")

    with pytest.raises(Exception, match="unlink them first"):
        roll_back_to(url, "0006.delivery-window")

    with connect(url) as conn:  # nothing half-changed
        assert conn.execute("SELECT count(*) AS n FROM rastar_link_states").fetchone()["n"] == 0


ALL_MIGRATIONS = sorted(
    path.stem for path in Path(migrations_dir()).glob("*.sql") if not path.stem.endswith("rollback")
)
FIRING = (
    "INSERT INTO job_executions (job_id, scheduled_for, trigger, status)"
    " VALUES (1, '2026-01-01T00:00Z', 'schedule', 'running')"
)
DELIVERY = "INSERT INTO notification_deliveries (execution_id, user_id) VALUES (1, 1)"


@pytest.mark.parametrize(
    "statement, constraint",
    [
        (FIRING, "job_executions_once_per_firing"),
        (DELIVERY, "notification_deliveries_once_per_user"),
    ],
)
def test_unique_keys_hold_once_per_firing_and_once_per_user(db, statement, constraint):
    db.execute("INSERT INTO users (telegram_chat_id) VALUES (10)")
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('j', 'coded', 'cron(0 22 * * ? *)', 'Asia/Tehran', 't', 't')"
    )
    db.execute(FIRING)
    if statement is DELIVERY:
        db.execute(DELIVERY)

    with pytest.raises(psycopg.errors.UniqueViolation, match=constraint):
        db.execute(statement)


def test_an_inactive_user_must_say_why(db):
    with pytest.raises(psycopg.errors.CheckViolation, match="users_inactive_has_reason"):
        db.execute("INSERT INTO users (telegram_chat_id, is_active) VALUES (1, false)")


def test_job_names_are_checked_by_the_schema_too(db):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
            " updated_by) VALUES ('Bad Name', 'coded', 'cron(0 1 * * ? *)', 'UTC', 't', 't')"
        )


def test_the_warm_connection_is_reused_and_replaced_when_closed(database_url):
    first = get_connection(database_url)
    assert get_connection(database_url) is first
    first.close()
    second = get_connection(database_url)
    assert second is not first and second.execute("SELECT 1 AS one").fetchone()["one"] == 1


def test_an_unreachable_database_is_a_database_error_naming_the_step():
    with pytest.raises(DatabaseError, match="connecting to Postgres"):
        connect("postgresql://postgres@127.0.0.1:1/none")


def test_a_finished_threads_connection_is_closed_when_another_is_opened(database_url):
    """A thread-per-request server (chalice local) must not leave a connection per request."""
    import threading

    opened = []
    worker = threading.Thread(target=lambda: opened.append(get_connection(database_url)))
    worker.start()
    worker.join()
    assert not opened[0].closed

    later = threading.Thread(target=lambda: get_connection(database_url))
    later.start()
    later.join()

    assert opened[0].closed


def test_rolling_back_the_bot_keeps_opted_out_people_from_being_messaged(make_database):
    """0008's rollback loses the opted-out column: those people become inactive instead."""
    url = make_database()
    migrate(url)
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO users (telegram_chat_id, opted_out_at) VALUES (10, now()), (11, NULL)"
        )
        conn.execute("INSERT INTO bot_updates (update_id, kind) VALUES (1, 'message')")

    roll_back_to(url, "0007.rastar-sessions")

    with connect(url) as conn:
        rows = conn.execute(
            "SELECT telegram_chat_id, is_active, inactive_reason FROM users ORDER BY 1"
        ).fetchall()
    assert rows == [
        {"telegram_chat_id": 10, "is_active": False, "inactive_reason": "opted out"},
        {"telegram_chat_id": 11, "is_active": True, "inactive_reason": None},
    ]
    assert "bot_updates" not in tables(url)
    assert migrate(url) == migrations_after("0007.rastar-sessions")


def test_rolling_back_roles_refuses_while_viewers_exist(make_database):
    url = make_database()
    migrate(url)
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO admin_tokens (name, token_sha256, role) VALUES ('v', 'x', 'viewer')"
        )
    with pytest.raises(Exception, match="viewer tokens would become admins"):
        roll_back_to(url, "0009.history-retention")
    with connect(url) as conn:
        conn.execute("UPDATE admin_tokens SET revoked_at = now()")
    roll_back_to(url, "0009.history-retention")
    assert migrate(url) == migrations_after("0009.history-retention")


def add_job(conn: psycopg.Connection, name: str, expression: str, **columns: object) -> None:
    values = {"name": name, "kind": "custom_message", "cron_expression": expression,
              "timezone": "Asia/Tehran", "created_by": "t", "updated_by": "t",
              **columns}  # fmt: skip
    names, placeholders = ", ".join(values), ", ".join(f"%({key})s" for key in values)
    conn.execute(f"INSERT INTO scheduled_jobs ({names}) VALUES ({placeholders})", values)


def test_rolling_back_one_offs_keeps_them_once_and_ended_jobs_stopped(make_database):
    """0013: at() becomes the cron naming the same local minute (year included), a job past
    its end is disabled; a start or end still ahead refuses the rollback."""
    url = make_database()
    migrate(url)
    with connect(url) as conn:
        add_job(conn, "ahead", "at(2031-01-02T09:30)")
        add_job(conn, "done", "at(2026-01-02T00:05:00)", completed_at="2026-01-01T20:35Z")
        add_job(conn, "ended", "cron(0 9 * * ? *)", ends_at="2026-01-01T00:00Z")
        add_job(conn, "window", "cron(0 9 * * ? *)", ends_at="2099-01-01T00:00Z")

    with pytest.raises(Exception, match=r"1 job\(s\) have a start or end still ahead"):
        roll_back_to(url, "0012.cancel-and-pause")
    with connect(url) as conn:
        conn.execute("UPDATE scheduled_jobs SET ends_at = NULL WHERE name = 'window'")
    roll_back_to(url, "0012.cancel-and-pause")

    with connect(url) as conn:
        rows = conn.execute(
            "SELECT name, cron_expression, enabled FROM scheduled_jobs ORDER BY name"
        ).fetchall()
    assert [(row["name"], row["cron_expression"], row["enabled"]) for row in rows] == [
        ("ahead", "cron(30 9 2 1 ? 2031)", True),
        ("done", "cron(5 0 2 1 ? 2026)", True),
        ("ended", "cron(0 9 * * ? *)", False),
        ("window", "cron(0 9 * * ? *)", True),
    ]
    assert migrate(url) == migrations_after("0012.cancel-and-pause")


def test_rolling_back_shards_refuses_while_a_split_execution_runs(make_database):
    url = make_database()
    migrate(url)
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
            " updated_by) VALUES ('p', 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 't', 't')"
        )
        conn.execute(
            "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, shards)"
            " VALUES (1, now(), 'manual', 'running', 2)"
        )
    with pytest.raises(Exception, match="sharded executions are still running"):
        roll_back_to(url, "0013.once-and-between")
    assert "execution_shards" in tables(url)  # nothing half-changed
    with connect(url) as conn:
        conn.execute("UPDATE job_executions SET status = 'succeeded'")
    roll_back_to(url, "0013.once-and-between")
    assert "execution_shards" not in tables(url)
    assert migrate(url) == migrations_after("0013.once-and-between")


def test_rolling_back_cancel_keeps_cancelled_sends_unsent(make_database):
    """0012's rollback: a cancelled execution and its cancelled deliveries become skipped,
    with the reason kept, so nothing cancelled is ever sent by the code before it."""
    url = make_database()
    migrate(url)
    with connect(url) as conn:
        conn.execute("INSERT INTO users (telegram_chat_id) VALUES (10)")
        conn.execute(
            "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
            " updated_by) VALUES ('p', 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 't', 't')"
        )
        conn.execute(
            "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, cancelled_by)"
            " VALUES (1, now(), 'manual', 'cancelled', 'admin:sara')"
        )
        conn.execute(
            "INSERT INTO notification_deliveries (execution_id, user_id, status, last_error)"
            " VALUES (1, 1, 'cancelled', 'cancelled by admin:sara')"
        )
        conn.execute("INSERT INTO system_config (key, value) VALUES ('pause', '{}')")

    roll_back_to(url, "0011.admin-test-chat")

    with connect(url) as conn:
        execution = conn.execute("SELECT status, detail FROM job_executions").fetchone()
        delivery = conn.execute("SELECT status, last_error FROM notification_deliveries").fetchone()
        paused = conn.execute("SELECT count(*) AS n FROM system_config").fetchone()["n"]
    assert execution == {"status": "skipped", "detail": "cancelled by admin:sara"}
    assert delivery == {"status": "skipped", "last_error": "cancelled by admin:sara"}
    assert paused == 0
    assert migrate(url) == migrations_after("0011.admin-test-chat")
