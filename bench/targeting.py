"""Resolving a job's audience for a million people, against a bare ``SELECT id FROM users``.

    .venv/bin/python -m bench.targeting [--users 1000000] [--repeat 3]

Set-up: ``--users`` active users loaded with COPY (one in fifty inactive, one in a hundred
opted out), three character packs of a fifth of everyone each (overlapping), in a scratch
database; ANALYZE afterwards.

Measured, each the median of ``--repeat`` runs, every row read to the client:

- baseline: ``SELECT id FROM users`` on a server-side cursor (what reading every id costs);
- ``iter_recipients`` (one server-side cursor read 2,000 rows a fetch, ``Recipient`` named
  tuples with names and the language) for: everyone; everyone but 1,000 excluded people;
  three packs plus 1,000 included people minus 1,000 excluded;
- ``shard_starts``: the shard boundaries a split execution plans (one scan of the ids).

Aim: each within 1.5x the baseline's time (the last line: the worst). "Per person" divides
by the rows each returns, for the cases that return fewer than everyone.
"""

from __future__ import annotations

import argparse
import random

from bench.harness import copy_users, footer, header, median, quiet, ratio, scratch_database, table
from bench.harness import timed as timed_block
from job_scheduler.adapters.db import connect
from job_scheduler.execution.targeting import Targeting, iter_recipients, shard_starts


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.targeting")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    quiet()
    header("target resolution", users=args.users, repeat=args.repeat)
    with scratch_database() as url:
        conn = connect(url)
        loaded = copy_users(conn, args.users)
        packs = _packs_and_states(conn, args.users)
        print(f"   set-up: {args.users:,} users with COPY in {loaded:.1f} s; packs {packs}\n")
        ids = [row["id"] for row in conn.execute("SELECT id FROM users ORDER BY id")]
        rng = random.Random(7)
        exclude, include = rng.sample(ids, 1000), rng.sample(ids, 1000)
        cases = {
            "everyone": Targeting(),
            "everyone but 1,000": Targeting(exclude_user_ids=exclude),
            "3 packs + 1,000 in - 1,000 out": Targeting(include, exclude, packs),
        }
        base, base_rows = _median(args.repeat, lambda: _bare(url))
        rows = [("bare SELECT id FROM users (baseline)", base, base_rows, "1.00x", "1.00x")]
        for label, targeting in cases.items():
            seconds, found = _median(args.repeat, lambda t=targeting: _count(conn, t))
            per_person = (seconds / found) / (base / base_rows)
            rows.append((f"iter_recipients: {label}", seconds, found, ratio(seconds, base),
                         f"{per_person:.2f}x"))  # fmt: skip
        seconds, starts = _median(args.repeat, lambda: len(shard_starts(conn, Targeting(), 50_000)))
        rows.append(("shard_starts (50,000 a shard)", seconds, starts, ratio(seconds, base), "-"))
        table(("query", "seconds", "rows", "time vs baseline", "per person vs baseline"), rows)
    footer()
    worst = max(float(row[3].rstrip("x")) for row in rows[1:4])
    print(f"target resolution vs bare SELECT id FROM users: worst {worst:.2f}x (aim <= 1.5x)")


def _packs_and_states(conn, users: int) -> list[int]:
    conn.execute("UPDATE users SET is_active = false, inactive_reason = 'blocked'"
                 " WHERE id % 50 = 0")  # fmt: skip
    conn.execute("UPDATE users SET opted_out_at = now() WHERE id % 100 = 1")
    packs = []
    for number in range(3):
        pack = conn.execute(
            "INSERT INTO character_packs (slug, name) VALUES (%s, %s) RETURNING id",
            (f"pack-{number}", f"Pack {number}"),
        ).fetchone()["id"]
        conn.execute(
            "INSERT INTO user_character_packs (pack_id, user_id) SELECT %s, id FROM users"
            " WHERE (id + %s) %% 5 = 0",
            (pack, number),
        )
        packs.append(pack)
    conn.execute("VACUUM ANALYZE users")
    conn.execute("VACUUM ANALYZE user_character_packs")
    return packs


def _bare(url: str) -> int:
    with connect(url) as conn, conn.transaction(), conn.cursor(name="ids") as cursor:
        cursor.itersize = 2000
        cursor.execute("SELECT id FROM users")
        return sum(1 for _ in cursor)


def _count(conn, targeting: Targeting) -> int:
    return sum(1 for _ in iter_recipients(conn, targeting))


def _median(repeat: int, call) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(repeat):
        with timed_block() as took:
            found = call()
        times.append(took[0])
    return median(times), found


if __name__ == "__main__":
    main()
