"""Postgres access: one connection per warm Lambda (per thread), migrations applied by yoyo.
How many connections each function holds, and the budget they add up to: docs/connections.md.

A Lambda runs one invocation at a time, so "per thread" is "per Lambda" there; it matters
locally, where several handlers run in one process and must not share a session (one
handler's transaction would swallow another's statements, and advisory locks would be
shared).

psycopg errors are translated here, once (``database_errors``): a constraint the row broke is
a ``ConstraintViolation`` naming the constraint (callers that expect one, such as a taken
name, check ``constraint``); anything else is a ``DatabaseError``. The psycopg error stays
attached as the cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeAlias, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from job_scheduler.errors import (
    ConnectionLost,
    ConstraintViolation,
    DatabaseError,
    SchemaMissing,
)
from job_scheduler.observability import logger

# Two cold starts may migrate at once; the second waits on this lock, then finds nothing to do.
T = TypeVar("T")
MIGRATION_LOCK_ID = 0x6A6F6273  # "jobs"
CONNECT_TIMEOUT_SECONDS = 5
IDLE_CHECK_SECONDS = 5.0
_local = threading.local()
# Every connection get_connection opened, with the thread it belongs to.
_all_connections: list[tuple[threading.Thread, psycopg.Connection]] = []
_registry_lock = threading.Lock()


# The package's connections: dict rows (``connect`` and ``get_connection`` make them so).
Conn: TypeAlias = "psycopg.Connection[dict[str, Any]]"


@contextmanager
def database_errors(action: str) -> Iterator[None]:
    """Translate psycopg failures into the package's errors, naming what was being done."""
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        constraint = exc.diag.constraint_name
        raise ConstraintViolation(f"{action}: {exc}".strip(), constraint) from exc
    except psycopg.errors.UndefinedTable as exc:
        raise SchemaMissing(
            f"{action}: this database has no {exc.diag.message_primary or 'such table'}: it"
            " is not migrated. Run `jobsctl sync` against it (it migrates), or point"
            " DATABASE_URL at the system that is (after `make run`: `. .local/run.env`)"
        ) from exc
    except psycopg.OperationalError as exc:  # refused, cut, terminated, restarted
        raise ConnectionLost(f"{action}: {type(exc).__name__}: {exc}".strip()) from exc
    except psycopg.Error as exc:
        raise DatabaseError(f"{action}: {type(exc).__name__}: {exc}".strip()) from exc


def connect(database_url: str) -> psycopg.Connection[dict[str, Any]]:
    """A new autocommit connection with dict rows; transactions are explicit blocks."""
    with database_errors("connecting to Postgres"):
        return psycopg.connect(
            database_url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="telegram-jobs",
        )


def get_connection(database_url: str) -> psycopg.Connection[dict[str, Any]]:
    """This thread's connection, kept across warm invocations, replaced when it went bad.

    One that sat idle longer than ``IDLE_CHECK_SECONDS`` (a warm Lambda between
    invocations, across a Postgres restart) is checked with a round trip first, so a stale
    connection fails here, where it is replaced, not in the caller's first statement.

    Opening one also closes those of threads that have ended: a server that spends a thread
    per request (the admin API under ``chalice local`` or ``make run``) would otherwise
    leave a connection behind per request until Postgres refuses clients.
    """
    cache: dict[str, psycopg.Connection] = _local.__dict__.setdefault("connections", {})
    used: dict[str, float] = _local.__dict__.setdefault("used", {})
    conn = cache.get(database_url)
    now = time.monotonic()
    if conn is not None and not _usable(conn, now - used.get(database_url, now)):
        conn.close()
        conn = None
    used[database_url] = now
    if conn is None:
        conn = cache[database_url] = connect(database_url)
        with _registry_lock:
            orphans = [c for thread, c in _all_connections if not thread.is_alive()]
            _all_connections[:] = [(t, c) for t, c in _all_connections if t.is_alive()]
            _all_connections.append((threading.current_thread(), conn))
        for orphan in orphans:
            orphan.close()
    return conn


class ConnectionPool:
    """At most ``size`` connections, each lent to one thread at a time, all closed by
    ``close``: for work spread over many threads that needs Postgres only now and then (the
    food reminder's session refreshes), whose connections should be bounded by what runs at
    once, not by its threads, and gone when the work is (docs/connections.md).

    Connections are opened as needed and kept for the next borrower; one that comes back
    broken or inside a transaction is closed instead.
    """

    def __init__(self, database_url: str, size: int) -> None:
        self.database_url = database_url
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[psycopg.Connection[dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A connection of the pool's, waiting while ``size`` are lent out."""
        with self._slots:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)

    def close(self) -> None:
        """Close the idle connections now, and the lent ones when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> psycopg.Connection[dict[str, Any]]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not (conn.closed or conn.broken):
                    return conn
        return connect(self.database_url)

    def _give_back(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        idle = not (conn.closed or conn.broken)
        idle = idle and conn.info.transaction_status == TransactionStatus.IDLE
        with self._lock:
            if idle and not self._closed:
                self._idle.append(conn)
                return
        conn.close()


def _usable(conn: psycopg.Connection, idle: float) -> bool:
    if conn.closed or conn.broken:
        return False
    if idle < IDLE_CHECK_SECONDS or conn.info.transaction_status != TransactionStatus.IDLE:
        return True
    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def once_more_if_connection_lost(database_url: str, call: Callable[[], T]) -> T:
    """``call()``, and if Postgres's connection was lost under it, once more on a new one.

    For work that is safe to repeat (a queue record: firings and claims are idempotent), so a
    connection that went stale during an outage costs a retry, not a visibility timeout.
    """
    try:
        return call()
    except ConnectionLost:
        logger.info("the Postgres connection was lost; trying once more on a new one")
        drop_connection(database_url)
        return call()


def drop_connection(database_url: str) -> None:
    """Close this thread's connection to ``database_url``; the next use opens a new one."""
    cache: dict[str, psycopg.Connection] = _local.__dict__.setdefault("connections", {})
    conn = cache.pop(database_url, None)
    if conn is not None:
        conn.close()


def close_all() -> None:
    """Close every connection ``get_connection`` opened, in any thread."""
    with _registry_lock:
        while _all_connections:
            _all_connections.pop()[1].close()


def migrations_dir() -> str:
    return str(resources.files("job_scheduler.adapters") / "migrations")


def yoyo_url(database_url: str) -> str:
    """yoyo picks psycopg 3 by the ``postgresql+psycopg://`` scheme."""
    scheme, rest = database_url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if "+" not in scheme else database_url


def migrate(database_url: str) -> list[str]:
    """Apply pending migrations under an advisory lock; return the ids applied."""
    from yoyo import get_backend, read_migrations  # only bot_startup migrates: keep the

    # other functions' cold start free of it
    with connect(database_url) as lock_conn, database_errors("applying migrations"):
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            backend = get_backend(yoyo_url(database_url))
            try:
                pending = backend.to_apply(read_migrations(migrations_dir()))
                applied = [migration.id for migration in pending]
                if applied:
                    backend.apply_migrations(pending)
                    logger.info("migrations applied", extra={"migrations": applied})
                return applied
            finally:
                backend.connection.close()
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
