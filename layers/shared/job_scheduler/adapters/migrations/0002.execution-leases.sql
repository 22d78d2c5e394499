-- depends: 0001.initial-schema
-- The execution path: leases so a crashed run can be resumed, per-trigger firing keys so a
-- manual "run now" in the same minute as a scheduled run is its own execution, and the
-- delivery states between queueing and Telegram's answer.

ALTER TABLE job_executions
    ADD COLUMN lease_until    TIMESTAMPTZ,
    ADD COLUMN queued_count   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN skipped_count  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN event_id       TEXT,
    DROP CONSTRAINT job_executions_once_per_firing,
    ADD CONSTRAINT job_executions_once_per_firing UNIQUE (job_id, scheduled_for, trigger);

ALTER TABLE notification_deliveries
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('pending', 'queued', 'sending', 'sent', 'failed', 'skipped')),
    ADD COLUMN claimed_until TIMESTAMPTZ;
