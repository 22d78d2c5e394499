"""Add N people to the running ``make run`` (``python -m infra.local.crowd 2000``): a crowd
big enough to watch a send's progress bar move and to cancel it midway. They are ordinary
active people ("Crowd 1" …) with chat ids the fake Telegram accepts; run it again to add
more. With a slow fake (``curl -d '{"latency_ms": 1000}' localhost:8081/_fake/config``) a
"Run now" to everyone takes minutes."""

from __future__ import annotations

import argparse

from job_scheduler.adapters.db import get_connection
from job_scheduler.cli.options import environment

FIRST_CROWD_CHAT_ID = 920_000_001


def add_crowd(conn, count: int) -> int:
    """``count`` more people after the crowd already there; how many there are now."""
    with conn.transaction():
        start = conn.execute(
            "SELECT count(*) AS n FROM users WHERE telegram_chat_id >= %s", (FIRST_CROWD_CHAT_ID,)
        ).fetchone()["n"]
        conn.execute(
            "INSERT INTO users (telegram_chat_id, first_name, username, language_code)"
            " SELECT %s::bigint + i, 'Crowd ' || (i + 1), 'crowd' || (i + 1), 'en'"
            " FROM generate_series(%s::int, %s::int) AS i ON CONFLICT DO NOTHING",
            (FIRST_CROWD_CHAT_ID, start, start + count - 1),
        )
    return start + count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="how many people to add")
    args = parser.parse_args()
    total = add_crowd(get_connection(environment().database_url), args.count)
    print(f"added {args.count}; the crowd is {total} people (plus the demo's 36)")


if __name__ == "__main__":
    main()
