"""People's Rastar sessions, kept alive: a call on someone's behalf never fails because an
access token ran out.

Before a call, a session whose access token expires within ``REFRESH_MARGIN`` is refreshed;
a call Rastar answers "token expired" (a clock off, a key rotated) refreshes once and is
tried again. Refreshing is serialised per person by a row lock (``SELECT ... FOR UPDATE``
on the account), and the new pair is stored before it is used: Supabase rotates refresh
tokens and refuses a spent one, so two runs must never both spend the same one. The second
to take the lock finds a session newer than the one it read, and uses it.

A refresh Rastar refuses (the refresh token spent, revoked, the person deleted) marks the
account to be linked again (``CredentialsRefused``); one that fails on the network
(``RastarUnavailable``) changes nothing, and the next run tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from job_scheduler.adapters.db import Conn, ConnectionPool, database_errors, get_connection
from job_scheduler.errors import AccessTokenExpired, CredentialsRefused
from job_scheduler.rastar import accounts
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.rastar.protocol import Session

REFRESH_MARGIN = timedelta(minutes=5)
T = TypeVar("T")

if TYPE_CHECKING:  # the client (httpx) loads only where Rastar is called
    from job_scheduler.rastar.client import RastarClient


@dataclass(frozen=True)
class Sessions:
    """Postgres is needed for refreshes only: through ``pool`` when one is given (a run on
    many threads: its connections bounded by the pool and closed with it, ``close``), else
    through the calling thread's own connection (``get_connection``)."""

    database_url: str
    box: SecretBox
    client: RastarClient
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    pool: ConnectionPool | None = None

    @property
    def conn(self) -> Conn:
        return get_connection(self.database_url)

    def close(self) -> None:
        """Close the pool's connections, if there is a pool."""
        if self.pool is not None:
            self.pool.close()

    def _connection(self) -> AbstractContextManager[Conn]:
        return self.pool.connection() if self.pool is not None else nullcontext(self.conn)

    def live(self, user_id: int, sealed: str) -> Session:
        """The person's session from ``sealed`` (as read with the account), refreshed first
        if its access token expires within ``REFRESH_MARGIN``."""
        session = accounts.unseal(self.box, sealed)
        if session.expires_at - self.clock() < REFRESH_MARGIN:
            session = self.refresh(user_id, seen=session.refresh_token)
        return session

    def call(self, user_id: int, session: Session | str, request: Callable[[Session], T]) -> T:
        """``request`` with a live session of the person's: ``session`` is one from
        ``live``, or the sealed session as read with the account (made live here)."""
        if isinstance(session, str):
            session = self.live(user_id, session)
        try:
            return request(session)
        except AccessTokenExpired:
            return request(self.refresh(user_id, seen=session.refresh_token, expired=True))

    def refresh(self, user_id: int, seen: str, expired: bool = False) -> Session:
        """A fresh session for the person: refreshed here, under the account's row lock,
        unless another run already replaced the one this caller saw (``seen``, its refresh
        token: those always rotate, while two access tokens issued in one second can be
        the same string)."""
        with self._connection() as conn:
            return self._refresh(conn, user_id, seen, expired)

    def _refresh(self, conn: Conn, user_id: int, seen: str, expired: bool) -> Session:
        refused: CredentialsRefused | None = None
        with database_errors("refreshing a Rastar session"), conn.transaction():
            row = conn.execute(
                "SELECT sealed_session, status FROM rastar_accounts WHERE user_id = %s FOR UPDATE",
                (user_id,),
            ).fetchone()
            if row is None or row["status"] != "linked" or row["sealed_session"] is None:
                raise CredentialsRefused("the Rastar account is no longer linked")
            current = accounts.unseal(self.box, row["sealed_session"])
            if current.refresh_token != seen and current.expires_at > self.clock():
                return current  # another run refreshed it meanwhile: use theirs
            if not expired and not self._stale(current):
                return current
            try:
                fresh = self.client.refresh(current.refresh_token)
            except CredentialsRefused as exc:
                refused = exc  # recorded below, outside the transaction that rolls back
            else:
                accounts.store_session(conn, self.box, user_id, fresh, fresh_link=False)
                return fresh
        accounts.mark_refused(conn, user_id, str(refused), row["sealed_session"])
        raise refused

    def _stale(self, session: Session) -> bool:
        return session.expires_at - self.clock() < REFRESH_MARGIN
