"""The services ``make run`` needs, from configuration or embedded defaults.

- Postgres: ``DATABASE_URL`` when set; otherwise an embedded PostgreSQL 16 (the ``pgserver``
  wheel) with its data in ``.local/pgdata``, kept between runs.
- Redis: ``REDIS_URL`` when set and answering; otherwise none (the executor then runs
  lock-less, as it would with Redis down, and says so).
- Telegram: the real Bot API when ``TELEGRAM_BOT_TOKEN`` is set; otherwise the fake server
  from ``infra/fakes`` with a fake token.
- Rastar: the Supabase project at ``RASTAR_SUPABASE_URL`` (with ``RASTAR_SUPABASE_ANON_KEY``)
  when set; otherwise the fake Supabase from ``infra/fakes``. The key people's sessions are
  sealed with: ``RASTAR_ENCRYPTION_KEYS``, else one made on the first run and kept in
  ``.local/rastar.key`` (so linked accounts stay readable between runs).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from job_scheduler.adapters.redis_client import redis_from_url

ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR = ROOT / ".local"
FAKE_TOKEN = "123456789:LOCAL-fake-token-for-the-fake-telegram"  # noqa: S105 - not a secret


@dataclass
class Services:
    database_url: str
    redis_url: str | None
    telegram_api_url: str
    telegram_token: str
    rastar_url: str
    rastar_anon_key: str
    rastar_keys: str
    notes: list[str]
    stoppers: list[Any]
    fake_rastar: Any = None  # infra.fakes.supabase.FakeSupabase unless RASTAR_SUPABASE_URL
    fake_telegram: Any = None  # infra.fakes.telegram.FakeTelegram unless TELEGRAM_BOT_TOKEN

    def stop(self) -> None:
        for stopper in reversed(self.stoppers):
            stopper()


def start_services(environ: dict[str, str] | None = None) -> Services:
    env = dict(os.environ if environ is None else environ)
    notes: list[str] = []
    stoppers: list[Any] = []
    database_url = env.get("DATABASE_URL") or _embedded_postgres(notes, stoppers)
    redis_url = _answering_redis(env.get("REDIS_URL"), notes)
    token = env.get("TELEGRAM_BOT_TOKEN")
    fake = None
    if token:
        api_url = env.get("TELEGRAM_API_URL", "https://api.telegram.org")
        notes.append(f"Telegram: the real Bot API at {api_url}")
    else:
        from infra.fakes.telegram import FakeTelegram

        fake = FakeTelegram()
        api_url = fake.start(port=int(env.get("FAKE_TELEGRAM_PORT") or free_or_any(8081)))
        stoppers.append(fake.stop)
        token = FAKE_TOKEN
        notes.append(f"Telegram: the fake Bot API; chats at {api_url}/_fake")
    rastar_url, anon_key, fake_rastar = _rastar(env, notes, stoppers)
    keys = env.get("RASTAR_ENCRYPTION_KEYS") or _local_key(notes)
    return Services(database_url, redis_url, api_url, token, rastar_url, anon_key, keys, notes,
                    stoppers, fake_rastar, fake)  # fmt: skip


def _rastar(env: dict[str, str], notes: list[str], stoppers: list[Any]) -> tuple[str, str, Any]:
    if env.get("RASTAR_SUPABASE_URL"):
        notes.append(f"Rastar: the Supabase project at {env['RASTAR_SUPABASE_URL']}")
        return env["RASTAR_SUPABASE_URL"], env.get("RASTAR_SUPABASE_ANON_KEY", ""), None
    from infra.fakes.supabase import FakeSupabase

    fake = FakeSupabase()
    url = fake.start(port=int(env.get("FAKE_RASTAR_PORT") or free_or_any(8082)))
    stoppers.append(fake.stop)
    notes.append(
        f"Rastar: the fake Supabase at {url} (set RASTAR_SUPABASE_URL and"
        " RASTAR_SUPABASE_ANON_KEY for the real one)"
    )
    return url, fake.anon_key, fake


def _local_key(notes: list[str]) -> str:
    """The local runtime's own Rastar encryption key, made once, readable by its owner only."""
    from job_scheduler.rastar.crypto import SecretBox

    path = LOCAL_DIR / "rastar.key"
    if not path.exists():
        LOCAL_DIR.mkdir(exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(SecretBox.new_key() + "\n")
        notes.append(f"Rastar sessions: sealed with a new local key in {path}")
    return path.read_text().strip()


def free_or_any(preferred: int) -> int:
    """``preferred`` when nothing listens there (a stable address to bookmark), else any.

    The probe binds as the servers do (SO_REUSEADDR), so connections a killed run left in
    TIME_WAIT do not push the next run off its usual port.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


def _embedded_postgres(notes: list[str], stoppers: list[Any]) -> str:
    runtime_dir = LOCAL_DIR / "xdg-runtime"  # pgserver asks platformdirs for one; give it ours
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    import pgserver

    data = LOCAL_DIR / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    if _forget_dead_handles(data):
        notes.append("Postgres: took over the embedded server a killed run left running")
    server = pgserver.get_server(str(data), cleanup_mode="stop")
    stoppers.append(server.cleanup)
    notes.append(
        f"Postgres: embedded PostgreSQL 16, data in {data} (set DATABASE_URL to use yours)"
    )
    return server.get_uri()


def _forget_dead_handles(data: Path) -> bool:
    """pgserver stops its server when the last process holding it lets go, and keeps the
    holders' pids in ``.handle_pids.json``. A run killed with -9 never lets go, so its pid
    would stay there and no later run would ever stop the server. Pids of processes that no
    longer exist are dropped first; returns whether there were any."""
    handles = data / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return False
    alive = [pid for pid in pids if isinstance(pid, int) and _running(pid)]
    if alive == pids:
        return False
    handles.write_text(json.dumps(alive))
    return True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _answering_redis(url: str | None, notes: list[str]) -> str | None:
    if not url:
        notes.append("Redis: not configured (REDIS_URL); firings run without the Redis lock")
        return None
    client = redis_from_url(url)
    try:
        client.ping()
    except Exception as exc:
        notes.append(f"Redis: {type(exc).__name__} at REDIS_URL; running without the Redis lock")
        return None
    notes.append("Redis: answering at REDIS_URL; firing locks and the rate limiter use it")
    return url
