"""A fake of the Rastar food service as it really is: a Supabase project, GoTrue auth under
``/auth/v1`` and PostgREST tables under ``/rest/v1``, a real HTTP server on loopback that
answers as Supabase does, errors included, so that the package's own client and Supabase's
Python clients (supabase-auth, postgrest) both work against it::

    fake = FakeSupabase()                     # or FakeSupabase(Knobs(latency_ms=50))
    base = fake.start()                       # http://127.0.0.1:<port>; every call needs
                                              # the header apikey: fake.anon_key
    user_id = fake.add_account("a@x.ir", "pw", {date(2025, 1, 4): 2})   # a pick: dish 2
    fake.menu(date(2025, 1, 4))               # menu_schedule rows, menu_item embedded
    fake.configure(access_token_ttl_seconds=60, server_error_every=5)
    fake.expire_access_tokens(); fake.revoke_sessions("a@x.ir"); fake.stats()

    python -m infra.fakes.supabase --port 8082   # standalone; prints its URL first

The modules:

- ``data``: the tables (``menu_items``, ``menu_schedule``, ``user_menu_selections``), their
  keys and row-level security, the menu rotating by date (four of eight dishes; none on
  Fridays or holidays), stable ids, and Postgres's errors (23503, 23505, 42501, ...).
- ``gotrue``: accounts, password and refresh-token grants with rotation and the reuse
  interval, sign-out, ``/user``, HS256 access tokens, and GoTrue's error shapes.
- ``postgrest``: the query string (``select`` with embeds and ``!inner``, filters, order,
  limit) run over the tables, and PostgREST's error codes (PGRST1xx/2xx/3xx).
- ``server``: ``FakeSupabase`` and ``Knobs``, the gateway (``apikey``), the faults
  (latency, 503s, non-JSON bodies), the counts, the ``/_fake`` routes, the handler, ``main``.

What it does not fake: sign-up, OTP, OAuth and MFA, JWKS and asymmetric keys, the admin API,
realtime and storage, RPC, upserts, CSV, ``or``/``and`` filters, spreads, casts and aggregates
(PGRST127), CORS, TLS.
"""

from __future__ import annotations

from infra.fakes.supabase.data import DISHES, FRIDAY
from infra.fakes.supabase.server import DEFAULT_ANON_KEY, FakeSupabase, Knobs, main

__all__ = ["DEFAULT_ANON_KEY", "DISHES", "FRIDAY", "FakeSupabase", "Knobs", "main"]
