"""Targeting resolves in one SQL query against the real Postgres."""

from __future__ import annotations

import psycopg
import pytest

from job_scheduler.execution.targeting import (
    STREAM_BATCH,
    Targeting,
    count_recipients,
    iter_recipients,
)
from job_scheduler.model import Job, JobKind

# Users 1-6; 5 and 6 are inactive. Pack 1 = {1, 2, 5}, pack 2 = {3, 4}, pack 3 = {}.
ACTIVE = [1, 2, 3, 4]


@pytest.fixture
def people(db: psycopg.Connection) -> psycopg.Connection:
    for user_id in range(1, 7):
        active = user_id <= 4
        db.execute(
            "INSERT INTO users (telegram_chat_id, first_name, is_active, inactive_reason)"
            " VALUES (%s, %s, %s, %s)",
            (1000 + user_id, f"user{user_id}", active, None if active else "blocked"),
        )
    for slug in ("pack-a", "pack-b", "empty"):
        db.execute("INSERT INTO character_packs (slug, name) VALUES (%s, %s)", (slug, slug))
    for pack_id, user_id in [(1, 1), (1, 2), (1, 5), (2, 3), (2, 4)]:
        db.execute(
            "INSERT INTO user_character_packs (pack_id, user_id) VALUES (%s, %s)",
            (pack_id, user_id),
        )
    return db


@pytest.mark.parametrize(
    "include, exclude, packs, expected",
    [
        ((), (), (), ACTIVE),  # nothing set: every active user
        ((), (2,), (), [1, 3, 4]),  # only exclusions: everyone but them
        ((2, 3), (), (), [2, 3]),
        ((2, 3, 6), (), (), [2, 3]),  # an inactive include is still not targeted
        ((2, 3), (3,), (), [2]),
        ((), (), (1,), [1, 2]),  # pack members, active only
        ((), (), (1, 2), ACTIVE),
        ((), (), (3,), []),  # an empty pack reaches nobody, not everybody
        ((4,), (), (1,), [1, 2, 4]),  # include plus packs
        ((4,), (1,), (1,), [2, 4]),  # exclusion wins over pack membership
        ((4,), (4,), (), []),  # exclusion wins over inclusion
        ((99,), (), (), []),  # unknown ids reach nobody
        ((), (1, 2, 3, 4), (), []),
    ],
)
def test_every_combination(people, include, exclude, packs, expected):
    targeting = Targeting(include, exclude, packs)

    recipients = list(iter_recipients(people, targeting))

    assert [r.user_id for r in recipients] == expected
    assert [r.chat_id for r in recipients] == [1000 + user_id for user_id in expected]
    assert count_recipients(people, targeting) == len(expected)


def test_recipients_carry_what_templates_need(people):
    (first,) = iter_recipients(people, Targeting(include_user_ids=[1]))
    assert (first.first_name, first.chat_id) == ("user1", 1001)


def test_targeting_of_a_job_row(people):
    row = Job(1, "j", JobKind.CODED, "cron(0 22 * * ? *)", "UTC", include_user_ids=(1,),
              pack_ids=(2,))  # fmt: skip
    assert [r.user_id for r in iter_recipients(people, Targeting.of_job(row))] == [1, 3, 4]


def test_large_audiences_stream_in_batches_in_id_order(db):
    total = STREAM_BATCH * 2 + 7
    with db.cursor().copy("COPY users (telegram_chat_id) FROM STDIN") as copy:
        for chat_id in range(total):
            copy.write_row((chat_id,))

    ids = [r.user_id for r in iter_recipients(db, Targeting())]

    assert len(ids) == total and ids == sorted(ids)
