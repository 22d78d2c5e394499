-- Going back: cancelled executions and deliveries have no state of their own before 0012;
-- they become 'skipped' with the reason kept, so nothing cancelled is ever sent.
DROP INDEX job_executions_status_time_idx;

UPDATE notification_deliveries SET status = 'skipped',
       last_error = COALESCE(last_error, 'cancelled by an admin')
 WHERE status = 'cancelled';
ALTER TABLE notification_deliveries
    DROP COLUMN retryable,
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('ready', 'queued', 'sending', 'sent', 'failed', 'uncertain', 'skipped'));

UPDATE job_executions SET status = 'skipped',
       detail = concat_ws('; ', detail, 'cancelled by ' || COALESCE(cancelled_by, 'an admin'))
 WHERE status = 'cancelled';
ALTER TABLE job_executions
    DROP COLUMN cancelled_count,
    DROP COLUMN cancelled_by,
    DROP COLUMN cancelled_at,
    DROP CONSTRAINT job_executions_status_check,
    ADD CONSTRAINT job_executions_status_check
        CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'missed'));

DELETE FROM system_config WHERE key = 'pause';
