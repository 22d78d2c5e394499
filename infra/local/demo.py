"""Demo data for ``make run`` on an empty database: people, two packs, a custom job, and
Rastar accounts for the food reminder (the coded job, at 22:00 Tehran).

The every-minute job makes the whole path visible within a minute of starting. Created
through the same code admins use.

Two of every three people link a Rastar account (demo tokens, sealed like real ones); on
each start the fake Rastar learns those tokens again, with a month of past picks for each,
and with tomorrow (and the rest of the week) already picked by every third linked person.
So ``jobsctl fire unselected-food-reminder`` reminds the linked people without a pick.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from job_scheduler.admin.edits import create_job
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.rastar import accounts
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.schedule.zoned import load_zone
from job_scheduler.sync.rules import RuleStore

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


DEMO_TOKEN_PREFIX = "demo-rastar-token-"  # noqa: S105 - the fake service's, not a secret
HISTORY_DAYS = 30
PICKED_AHEAD_DAYS = 7


def seed_if_empty(conn: psycopg.Connection, box: SecretBox, rules: RuleStore) -> bool:
    """Insert the demo data unless there are users already; return whether it did."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM users) AS any").fetchone()["any"]:
        return False
    with conn.transaction():
        user_ids = [_add_user(conn, index, name) for index, name in enumerate(FIRST_NAMES)]
        sunrise = _add_pack(conn, "sunrise-crew", "Sunrise Crew", user_ids[0::2])
        _add_pack(conn, "night-owls", "Night Owls", user_ids[1::2])
        link_demo_accounts(conn, box)
    create_job(
        conn,
        rules,
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
        "demo",
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


def link_demo_accounts(conn: psycopg.Connection, box: SecretBox) -> int:
    """Link two of every three demo people to Rastar, unless anyone is linked already (a
    database seeded before Rastar existed gets its links on the next start)."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM rastar_accounts) AS any").fetchone()["any"]:
        return 0
    rows = conn.execute(
        "SELECT id FROM users WHERE telegram_chat_id BETWEEN %s AND %s ORDER BY id",
        (FIRST_CHAT_ID, FIRST_CHAT_ID + len(FIRST_NAMES) - 1),
    ).fetchall()
    linked = [row["id"] for index, row in enumerate(rows) if index % 3 != 2]
    for user_id in linked:
        accounts.link(conn, box, user_id, f"{DEMO_TOKEN_PREFIX}{user_id}")
    return len(linked)


def prime_fake_rastar(conn: psycopg.Connection, box: SecretBox, fake: Any) -> int:
    """Teach the fake Rastar every demo account's token and picks; how many accounts."""
    linked = conn.execute(
        "SELECT user_id, sealed_token FROM rastar_accounts ORDER BY user_id"
    ).fetchall()
    today = datetime.now(load_zone("Asia/Tehran")).date()
    primed = 0
    for position, row in enumerate(linked):
        token = box.decrypt(row["sealed_token"])
        if not token.startswith(DEMO_TOKEN_PREFIX):
            continue
        fake.add_user(token, _demo_picks(fake, row["user_id"], today, position % 3 == 0))
        primed += 1
    return primed


def _demo_picks(fake: Any, user_id: int, today: date, picks_ahead: bool) -> dict[date, str]:
    """A month of past picks (each person with a favourite), and the week ahead for some."""
    picks: dict[date, str] = {}
    last = PICKED_AHEAD_DAYS if picks_ahead else 0
    for offset in range(-HISTORY_DAYS, last + 1):
        day = today + timedelta(days=offset)
        menu = fake.menu(day)
        if menu and (offset <= 0 or picks_ahead):
            favourite = menu[user_id % len(menu)] if offset % 3 else menu[0]
            picks[day] = favourite["id"]
    return picks
