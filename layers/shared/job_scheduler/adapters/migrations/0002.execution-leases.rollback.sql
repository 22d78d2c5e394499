-- 0001 has one execution per (job, minute): refuse, saying what to do, rather than lose a
-- run, when a manual and a scheduled run share a minute.
DO $$
DECLARE
    shared INTEGER;
BEGIN
    SELECT count(*) INTO shared FROM (
        SELECT 1 FROM job_executions GROUP BY job_id, scheduled_for HAVING count(*) > 1
    ) AS twins;
    IF shared > 0 THEN
        RAISE EXCEPTION 'cannot roll back 0002.execution-leases: % firing minute(s) have both a manual and a scheduled execution, which 0001 cannot hold; delete the manual ones (trigger = ''manual'') first', shared;
    END IF;
END
$$;
-- 0001 knows no 'queued' or 'sending': both are deliveries not yet sent.
UPDATE notification_deliveries SET status = 'pending' WHERE status IN ('queued', 'sending');
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
