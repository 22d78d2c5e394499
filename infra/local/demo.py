"""Demo data for ``make run`` on an empty database: people, two packs, two custom jobs.

The every-minute job makes the whole path visible within a minute of starting; the
22:00 Tehran job shows a daily schedule. Created through the same code admins use.
"""

from __future__ import annotations

import psycopg

from job_scheduler.custom_jobs import CustomJobSpec, create_custom_job
from job_scheduler.custom_message import MessageConfig

FIRST_NAMES = [
    "Sara",
    "Reza",
    "Maryam",
    "Ali",
    "Niloufar",
    "Kian",
    "Parisa",
    "Dariush",
    "Shirin",
    "Arash",
    "Leila",
    "Omid",
    "Yasmin",
    "Babak",
    "Roya",
    "Kaveh",
    "Mina",
    "Farhad",
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Hedy",
    "Edsger",
    "Barbara",
    "Ken",
    "Radia",
    "Tim",
    "Margaret",
    "Donald",
    "Frances",
    "Dennis",
    "Katherine",
    "John",
    "Anita",
    "Guido",
]
FIRST_CHAT_ID = 910_001
EVERY_MINUTE = """<b>Hi {{ user.first_name }}!</b> It is {{ now.strftime('%H:%M') }} in Tehran.
This is the <i>every-minute</i> demo job: it reaches the Sunrise Crew pack, silently."""
NIGHTLY = """Good evening {{ user.first_name }} — it is 22:00 in Tehran.
Have you picked tomorrow's food?"""


def seed_if_empty(conn: psycopg.Connection) -> bool:
    """Insert the demo data unless there are users already; return whether it did."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM users) AS any").fetchone()["any"]:
        return False
    with conn.transaction():
        user_ids = [_add_user(conn, index, name) for index, name in enumerate(FIRST_NAMES)]
        sunrise = _add_pack(conn, "sunrise-crew", "Sunrise Crew", user_ids[0::2])
        _add_pack(conn, "night-owls", "Night Owls", user_ids[1::2])
    create_custom_job(
        conn,
        CustomJobSpec(
            name="demo-every-minute",
            description="Demo: a silent HTML message every minute to the Sunrise Crew pack",
            cron_expression="cron(* * * * ? *)",
            timezone="Asia/Tehran",
            message=MessageConfig.from_json(
                {"text": EVERY_MINUTE, "parse_mode": "HTML", "silent": True}
            ),
            pack_ids=(sunrise,),
            exclude_user_ids=(user_ids[0],),
        ),
        actor="demo",
    )
    create_custom_job(
        conn,
        CustomJobSpec(
            name="demo-nightly-reminder",
            description="Demo: 22:00 Asia/Tehran to everyone (plain text)",
            cron_expression="cron(0 22 * * ? *)",
            timezone="Asia/Tehran",
            message=MessageConfig.from_json({"text": NIGHTLY, "parse_mode": None, "silent": False}),
        ),
        actor="demo",
    )
    return True


def _add_user(conn: psycopg.Connection, index: int, name: str) -> int:
    return conn.execute(
        "INSERT INTO users (telegram_chat_id, first_name, username, language_code)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (FIRST_CHAT_ID + index, name, name.lower(), "fa" if index < 18 else "en"),
    ).fetchone()["id"]


def _add_pack(conn: psycopg.Connection, slug: str, name: str, members: list[int]) -> int:
    pack_id = conn.execute(
        "INSERT INTO character_packs (slug, name) VALUES (%s, %s) RETURNING id", (slug, name)
    ).fetchone()["id"]
    conn.execute(
        "INSERT INTO user_character_packs (pack_id, user_id) SELECT %s, unnest(%s::bigint[])",
        (pack_id, members),
    )
    return pack_id
