ALTER TABLE notification_deliveries
    DROP COLUMN claimed_until,
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'skipped'));
ALTER TABLE job_executions
    DROP CONSTRAINT job_executions_once_per_firing,
    ADD CONSTRAINT job_executions_once_per_firing UNIQUE (job_id, scheduled_for),
    DROP COLUMN event_id,
    DROP COLUMN skipped_count,
    DROP COLUMN queued_count,
    DROP COLUMN lease_until;
