-- Back to 0005: rows not yet on the queue cannot be held by 0005's pipeline (its messages
-- carried the text, which only the rows here have); refuse rather than lose them.
DO $$
DECLARE
    waiting INTEGER;
BEGIN
    SELECT count(*) INTO waiting FROM notification_deliveries
        WHERE status IN ('ready', 'queued', 'sending');
    IF waiting > 0 THEN
        RAISE EXCEPTION 'cannot roll back 0006.delivery-window: % deliveries are not finished yet; let them finish (or mark them failed) first', waiting;
    END IF;
END
$$;
UPDATE notification_deliveries SET status = 'failed' WHERE status = 'uncertain';
DROP INDEX notification_deliveries_open_idx;
DROP INDEX notification_deliveries_ready_idx;
ALTER TABLE notification_deliveries
    DROP COLUMN claimed_by,
    DROP COLUMN payload,
    ALTER COLUMN status SET DEFAULT 'queued',
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped'));
ALTER TABLE job_executions DROP COLUMN uncertain_count;
