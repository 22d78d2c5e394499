"""``python -m infra.fakes.supabase [--port 8082] [--latency-ms 0]``: print the URL, serve
until Ctrl-C."""

from __future__ import annotations

from infra.fakes.supabase.server import main

main()
