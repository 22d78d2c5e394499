"""Test helpers for Rastar: accounts in the fake Supabase, linked as the link page links them."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from job_scheduler.rastar import accounts
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox

PASSWORD = "correct horse battery"


def email_of(user_id: int) -> str:
    return f"user{user_id}@rastar.test"


def link_account(
    db: psycopg.Connection,
    box: SecretBox,
    client: RastarClient,
    fake: Any,
    user_id: int,
    picks: dict[date, int] | None = None,
) -> str:
    """An account in the fake (picks: by date, the index of the dish on that date's menu),
    signed in and stored for the user; returns its email."""
    email = email_of(user_id)
    fake.add_account(email, PASSWORD, picks or {})
    accounts.link(db, box, user_id, client.sign_in(email, PASSWORD))
    return email


def dish_names(fake: Any, day: date) -> list[str]:
    return [row["menu_item"]["name"] for row in fake.menu(day)]
