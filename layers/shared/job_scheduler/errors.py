"""Every error the package raises, under one root.

    JobSchedulerError
    ├── ConfigError            a setting is missing or malformed (names the setting)
    ├── ScheduleError          an expression or timezone an admin gave is not usable
    │   ├── InvalidExpression
    │   └── UnknownTimezone
    ├── RegistryError          two coded jobs share a name, or a job is malformed
    ├── InvalidJob             a job definition cannot be accepted (``field`` names the part)
    │   ├── InvalidMessage     a custom message cannot be sent as written
    │   ├── JobExists          the name is taken
    │   └── JobNotFound        no job has that name
    ├── DatabaseError          Postgres refused or could not be reached (wraps psycopg)
    ├── AwsError               an AWS call failed (wraps botocore)
    └── SyncError              the startup sync would leave things inconsistent
        └── RuleQuotaExceeded

Lower-level errors (psycopg, botocore, redis) are translated once, at the module that talks
to that service, with ``raise ... from exc`` so the cause is kept.
"""

from __future__ import annotations


class JobSchedulerError(Exception):
    """Root of every error raised on purpose by this package."""


class ConfigError(JobSchedulerError):
    """A setting is missing or malformed; the message names the setting."""


class ScheduleError(JobSchedulerError):
    """A schedule cannot be used; the message says what to change."""


class InvalidExpression(ScheduleError):
    """The cron()/rate() expression is not valid EventBridge syntax."""


class UnknownTimezone(ScheduleError):
    """The timezone is not an IANA name known to the tz database."""


class RegistryError(JobSchedulerError):
    """The coded-job registry was given something it cannot hold."""


class InvalidJob(JobSchedulerError):
    """A job definition cannot be accepted; says what to fix, ``field`` says where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidMessage(InvalidJob):
    """A message or its template cannot be sent as written."""


class JobExists(InvalidJob):
    """A job with that name already exists."""


class JobNotFound(InvalidJob):
    """No job has that name."""


class DatabaseError(JobSchedulerError):
    """Postgres failed; the original psycopg error is the cause."""


class AwsError(JobSchedulerError):
    """An AWS API call failed; the original botocore error is the cause."""


class SyncError(JobSchedulerError):
    """The startup sync refused to make a change."""


class RuleQuotaExceeded(SyncError):
    """Creating the rules would pass the event bus's rules-per-bus quota."""
