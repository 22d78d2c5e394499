"""Demo data for ``make run`` on an empty database: people, two packs, a custom job, and
Rastar accounts for the food reminder (the coded job, at 22:00 Tehran).

The every-minute job makes the whole path visible within a minute of starting. Created
through the same code admins use.

Every demo person has an account in the fake Rastar (``<username>@rastar.local``, password
``<username>-demo``); two of every three are linked on the first run, signed in as the link
page signs in. ``jobsctl fire unselected-food-reminder`` reminds the linked people without
a pick for tomorrow; ``jobsctl user link-rastar 1`` links one who is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from job_scheduler.admin.edits import create_job
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.rastar import accounts
from job_scheduler.rastar.client import RastarClient
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


DEMO_EMAIL_DOMAIN = "rastar.local"
HISTORY_DAYS = 30
PICKED_AHEAD_DAYS = 7


@dataclass(frozen=True)
class DemoAccount:
    user_id: int
    first_name: str
    email: str
    password: str
    linked: bool


def seed_if_empty(conn: psycopg.Connection, rules: RuleStore) -> bool:
    """Insert the demo data unless there are users already; return whether it did."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM users) AS any").fetchone()["any"]:
        return False
    with conn.transaction():
        user_ids = [_add_user(conn, index, name) for index, name in enumerate(FIRST_NAMES)]
        sunrise = _add_pack(conn, "sunrise-crew", "Sunrise Crew", user_ids[0::2])
        _add_pack(conn, "night-owls", "Night Owls", user_ids[1::2])
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
        "INSERT INTO character_packs (slug, name, open_to_join) VALUES (%s, %s, true) RETURNING id",
        (slug, name),
    ).fetchone()["id"]
    conn.execute(
        "INSERT INTO user_character_packs (pack_id, user_id) SELECT %s, unnest(%s::bigint[])",
        (pack_id, members),
    )
    return pack_id


def demo_credentials(username: str) -> tuple[str, str]:
    """A demo person's account in the fake Rastar: the same on every start."""
    return f"{username}@{DEMO_EMAIL_DOMAIN}", f"{username}-demo"


def prime_fake_rastar(
    conn: psycopg.Connection, box: SecretBox, client: RastarClient, fake: Any, first_run: bool
) -> list[DemoAccount]:
    """The fake Supabase forgets everything when it stops, so on each start: an account
    for every demo person (a month of past picks; the week ahead picked by every third
    linked person), and their links signed in anew, as the link page would. On the first
    run two of every three people are linked; later, whoever is linked to a demo account
    (or was, before a restart or an upgrade emptied the session) stays linked, and people
    without an account stay unlinked: link them with ``jobsctl user link-rastar``."""
    people = conn.execute(
        "SELECT u.id, u.username, u.first_name, a.user_id IS NOT NULL AS has_account,"
        " a.sealed_session FROM users u LEFT JOIN rastar_accounts a ON a.user_id = u.id"
        " WHERE u.telegram_chat_id BETWEEN %s AND %s ORDER BY u.id",
        (FIRST_CHAT_ID, FIRST_CHAT_ID + len(FIRST_NAMES) - 1),
    ).fetchall()
    today = datetime.now(load_zone("Asia/Tehran")).date()
    demo: list[DemoAccount] = []
    for index, person in enumerate(people):
        email, password = demo_credentials(person["username"])
        link = index % 3 != 0 if first_run else _stays_linked(box, person, email)
        picks = _demo_picks(fake, person["id"], today, picks_ahead=index % 9 in (1, 5))
        fake.add_account(email, password, picks)
        if link:
            accounts.link(conn, box, person["id"], client.sign_in(email, password))
        demo.append(DemoAccount(person["id"], person["first_name"], email, password, link))
    return demo


def _stays_linked(box: SecretBox, person: Any, email: str) -> bool:
    if not person["has_account"]:
        return False
    if person["sealed_session"] is None:  # emptied by an upgrade: a demo account after all
        return True
    return accounts.unseal(box, person["sealed_session"]).email == email


def _demo_picks(fake: Any, user_id: int, today: date, picks_ahead: bool) -> dict[date, int]:
    """A month of past picks (each person with a favourite), and the week ahead for some:
    by date, the index of the dish on that date's menu."""
    picks: dict[date, int] = {}
    last = PICKED_AHEAD_DAYS if picks_ahead else 0
    for offset in range(-HISTORY_DAYS, last + 1):
        day = today + timedelta(days=offset)
        menu = fake.menu(day)
        if menu and (offset <= 0 or picks_ahead):
            picks[day] = user_id % len(menu) if offset % 3 else 0
    return picks
