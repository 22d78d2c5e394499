"""Every error class of the package, sorted by whose fault it is.

The five fault roots say what a caller should do; everything raised on purpose is under
exactly one of them (``tests/unit/test_errors.py`` checks it, and that the admin API and
the CLI map each root: ``admin_site/chalicelib/http.py`` and ``cli.py``)::

    JobSchedulerError
    ├── InputError           the caller's input is wrong: fix it    API 422 · CLI exit 2
    │   ├── ScheduleError        an expression or timezone cannot be used
    │   │   ├── InvalidExpression
    │   │   └── UnknownTimezone
    │   ├── InvalidJob           a job's field (``field`` names it)
    │   │   └── InvalidMessage   a message or its template
    │   ├── InvalidFiring        a jobs-queue message the executor cannot read
    │   ├── InvalidBatch         a notifications-queue message the notifier cannot read
    │   ├── InvalidTokenName     an admin token's name
    │   ├── InvalidPack          a pack's slug, name or description
    │   ├── InvalidField         another field of an admin's request (a pause's reason)
    │   ├── Rejected *           Telegram refused this message for good
    │   ├── CredentialsRefused † Rastar refused the person's credentials (link again)
    │   └── PickRefused          a pick button that is stale, someone else's, or for a past day
    ├── NotFound             what was asked for does not exist      API 404 · CLI exit 2
    │   ├── JobNotFound
    │   ├── ExecutionNotFound
    │   ├── UserNotFound
    │   ├── TokenNotFound
    │   ├── PackNotFound
    │   └── LinkNotFound         no one-time link has that state
    ├── Conflict             the state changed or is in the way     API 409 · CLI exit 2
    │   ├── JobExists
    │   ├── TokenExists
    │   ├── PackExists           another pack has that slug
    │   ├── EditConflict         the job changed since the version edited
    │   ├── ExecutionSettled     the execution is past what was asked (cancel a finished send)
    │   ├── SystemPaused         sending is paused system-wide (run now waits for resume)
    │   ├── NotPaused            a resume while sending is not paused
    │   ├── ChatGone *           the person blocked the bot or the chat is gone
    │   ├── ChatMigrated *       the chat moved to a new id
    │   └── LinkUnusable         a one-time link that expired, was used, or ran out of tries
    ├── Unavailable          a service failed or a quota was reached: try later
    │   │                                                           API 503 · CLI exit 1
    │   ├── DatabaseError        Postgres refused a statement
    │   │   ├── ConnectionLost   Postgres could not be reached, or the connection broke
    │   │   └── SchemaMissing    the database is not migrated (the wrong one, or never synced)
    │   ├── AwsError             an AWS call failed
    │   │   └── RulesNotUpdated  EventBridge refused an edit's rule change (row undone)
    │   ├── RuleQuotaExceeded    the rules would pass the event bus's quota
    │   ├── RastarUnavailable †  Rastar could not answer usefully, even after retries
    │   │   ├── UnexpectedAnswer † an answer whose shape rastar/protocol.py does not know
    │   │   └── AccessTokenExpired † Rastar refused an access token as expired: refresh it
    │   ├── PickFailed           Rastar did not take a pick (the message says what stayed)
    │   ├── RetryLater           another executor or claim holds it; the queue redelivers
    │   ├── DeliveriesFailed     some deliveries hit transient errors; the queue redelivers
    │   ├── RateLimited *        Telegram's 429: wait ``retry_after``
    │   ├── Transient *          5xx, or the request never reached Telegram
    │   ├── Uncertain *          no answer after sending: Telegram may have delivered it
    │   ├── StarsBalanceTooLow * the bot's Telegram Stars cannot pay for a paid broadcast
    │   └── Deferred *           too little time left in this invocation: re-queued
    └── InternalError        the deployment or the code is wrong    API 500 · CLI exit 1
        ├── ConfigError          a setting is missing or malformed (names the setting)
        ├── RegistryError        two coded jobs share a name, or one is malformed
        ├── SyncError            the startup sync refused a change
        ├── ConstraintViolation  Postgres refused a row our checks let through (names it)
        └── CredentialUnreadable a stored secret no configured key opens

    * also a ``SendError``: what sending one Telegram message ended with (adapters/telegram)
    † also a ``RastarError``: what a call to Rastar ended with (rastar/client)

Lower-level errors (psycopg, botocore, redis, httpx, pyTelegramBotAPI) are translated once,
at the adapter that talks to that service, with ``raise ... from exc`` so the cause is kept.
"""

from __future__ import annotations


class JobSchedulerError(Exception):
    """Root of every error raised on purpose by this package; ``field`` names the part of
    the caller's input it is about, when there is one."""

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- the fault roots ---------------------------------------------------------------------------


class InputError(JobSchedulerError):
    """The caller's input is wrong; the message says what to fix."""


class NotFound(JobSchedulerError):
    """What the caller named does not exist."""


class Conflict(JobSchedulerError):
    """The thing changed, or its state is in the way; reload and try again, or choose another."""


class Unavailable(JobSchedulerError):
    """A service failed or a quota was reached; the same request may work later."""


class InternalError(JobSchedulerError):
    """The deployment or the code is wrong; an operator has to act."""


FAULTS: tuple[type[JobSchedulerError], ...] = (
    InputError,
    NotFound,
    Conflict,
    Unavailable,
    InternalError,
)


# -- the caller's input --------------------------------------------------------------------------


class ScheduleError(InputError):
    """A schedule cannot be used; the message says what to change."""


class InvalidExpression(ScheduleError):
    """The cron()/rate() expression is not valid EventBridge syntax."""


class UnknownTimezone(ScheduleError):
    """The timezone is not an IANA name known to the tz database."""


class InvalidJob(InputError):
    """A job definition cannot be accepted; says what to fix, ``field`` says where."""


class InvalidMessage(InvalidJob):
    """A message or its template cannot be sent as written."""


class InvalidFiring(InputError):
    """The queue message is not a firing this executor understands."""


class InvalidBatch(InputError):
    """The queue message is not a delivery batch this notifier understands."""


class InvalidField(InputError):
    """A field of an admin's request that is not a job's (``field`` names it)."""


class PickRefused(InputError):
    """A pick button that cannot be honoured: stale, someone else's, or for a past day;
    ``reason`` (not_ours, not_yours, over, mismatch, past, not_linked) picks the words the
    person is told."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidTokenName(InputError):
    """An admin token's name is not 1-64 letters, digits or . _ @ -."""


class InvalidPack(InputError):
    """A pack's slug, name or description is not what it may be (``field`` says which)."""


# -- not found -----------------------------------------------------------------------------------


class JobNotFound(NotFound):
    """No job has that name."""


class ExecutionNotFound(NotFound):
    """No execution has that id."""


class UserNotFound(NotFound):
    """No user has that id."""


class PackNotFound(NotFound):
    """No character pack has that id."""


class TokenNotFound(NotFound):
    """No live admin token has that name."""


class LinkNotFound(NotFound):
    """No one-time link has that state (mistyped, or from another deployment)."""


# -- conflicts -----------------------------------------------------------------------------------


class JobExists(Conflict):
    """A job with that name already exists."""


class TokenExists(Conflict):
    """A live admin token has that name; revoke it first."""


class PackExists(Conflict):
    """Another character pack has that slug (its deep link would be ambiguous)."""


class LinkUnusable(Conflict):
    """A one-time link that can no longer be used; ``reason`` is expired, used or tries."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class EditConflict(Conflict):
    """The job changed since the version the edit was made against."""

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(message, "version")
        self.current_version = current_version


# -- services ------------------------------------------------------------------------------------


class DatabaseError(Unavailable):
    """Postgres failed; the original psycopg error is the cause."""


class SchemaMissing(DatabaseError):
    """A table the package needs is not there: the database was never migrated, or it is
    not the one meant (the message says how to fix either)."""


class ConnectionLost(DatabaseError):
    """Postgres refused the connection, cut it, or restarted under it; a new connection may
    well work at once (``adapters.db.get_connection`` opens one)."""


class AwsError(Unavailable):
    """An AWS API call failed; the original botocore error is the cause."""


class RulesNotUpdated(AwsError):
    """EventBridge refused the rule change; the database change was undone."""


class RuleQuotaExceeded(Unavailable):
    """Creating the rules would pass the event bus's rules-per-bus quota."""


class RetryLater(Unavailable):
    """Another executor is running this firing now, or another claim holds deliveries this
    message names; try again after the visibility timeout."""


class DeliveriesFailed(Unavailable):
    """Some deliveries hit transient errors; the queue should redeliver the batch."""


# -- the deployment or the code ------------------------------------------------------------------


class ConfigError(InternalError):
    """A setting is missing or malformed; the message names the setting."""


class RegistryError(InternalError):
    """The coded-job registry was given something it cannot hold."""


class SyncError(InternalError):
    """The startup sync refused to make a change."""


class ConstraintViolation(InternalError):
    """Postgres refused a row: a check of ours let through what the schema forbids, or two
    writers raced. Callers that expect one (a taken name) translate it by ``constraint``."""

    def __init__(self, message: str, constraint: str | None) -> None:
        super().__init__(message)
        self.constraint = constraint


class CredentialUnreadable(InternalError):
    """A stored secret that none of the configured keys decrypts (a key dropped too soon)."""


# -- sending one Telegram message (adapters/telegram.py) ------------------------------------------


class SendError(JobSchedulerError):
    """What sending one message ended with, when not sent; each kind also has its fault."""


class RateLimited(SendError, Unavailable):
    """Telegram's 429: everyone sharing the limiter waits ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExecutionSettled(Conflict):
    """The execution is in a state that refuses the change: a send that finished cannot be
    cancelled, a cancelled one cannot be retried."""


class SystemPaused(Conflict):
    """Sending is paused system-wide; the message says by whom and since when."""


class NotPaused(Conflict):
    """A resume while sending is not paused."""


class ChatGone(SendError, Conflict):
    """The user cannot be reached any more; the text is stored as the reason."""


class ChatMigrated(SendError, Conflict):
    """The chat became a supergroup with a new id; send again there."""

    def __init__(self, new_chat_id: int, message: str) -> None:
        super().__init__(message)
        self.new_chat_id = new_chat_id


class Rejected(SendError, InputError):
    """Telegram refused this message for good (bad HTML, too long, ...)."""


class Transient(SendError, Unavailable):
    """A network error or a server error: the same request may well work later."""


class Uncertain(SendError, Unavailable):
    """The request may have reached Telegram; sending again could deliver it twice."""


class StarsBalanceTooLow(SendError, Unavailable):
    """A paid broadcast's message Telegram refused because the bot's Stars balance cannot pay
    for it: nothing was sent, and nothing will be until someone tops the balance up."""


class Deferred(SendError, Unavailable):
    """Not sent: too little time left in this invocation; re-queued for the next."""


# -- calling Rastar (rastar/client.py) -------------------------------------------------------------


class RastarError(JobSchedulerError):
    """What a call to Rastar ended with, when it failed; each kind also has its fault."""


class CredentialsRefused(RastarError, InputError):
    """Rastar refused this person's token or password (expired, revoked or wrong)."""


class RastarUnavailable(RastarError, Unavailable):
    """Rastar could not answer usefully (timeouts, 5xx, an unknown shape), after retries."""


class UnexpectedAnswer(RastarUnavailable):
    """Rastar answered with a shape ``rastar/protocol.py`` does not know: its assumptions
    are off."""


class AccessTokenExpired(RastarUnavailable):
    """Rastar refused an access token as expired (or no longer valid): the session layer
    refreshes it once and tries again (``rastar/sessions.py``)."""


class PickFailed(Unavailable):
    """Rastar did not take a pick; the message says whether the earlier pick stayed:
    ``kept`` names it when it did; ``lost`` says it was taken away and not put back."""

    def __init__(self, message: str, kept: str | None = None, lost: bool = False) -> None:
        super().__init__(message)
        self.kept = kept
        self.lost = lost
