-- depends: 0011.admin-test-chat
-- An admin can stop a send: an execution may end 'cancelled' (who and when are kept), and
-- its deliveries not yet sent become 'cancelled' too, counted apart. A failed delivery
-- records whether trying it again could help (Telegram or the network failed), so "retry
-- failed" never re-sends to someone who blocked the bot. The system-wide pause lives in
-- system_config under the key 'pause'.
ALTER TABLE job_executions
    DROP CONSTRAINT job_executions_status_check,
    ADD CONSTRAINT job_executions_status_check
        CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'missed', 'cancelled')),
    ADD COLUMN cancelled_at     TIMESTAMPTZ,
    ADD COLUMN cancelled_by     TEXT,
    ADD COLUMN cancelled_count  INTEGER NOT NULL DEFAULT 0;

ALTER TABLE notification_deliveries
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('ready', 'queued', 'sending', 'sent', 'failed', 'uncertain', 'skipped',
                          'cancelled')),
    ADD COLUMN retryable BOOLEAN NOT NULL DEFAULT false;

-- Cross-job history: executions by status and time, newest first.
CREATE INDEX job_executions_status_time_idx ON job_executions (status, scheduled_for DESC, id DESC);
