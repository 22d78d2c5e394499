-- depends: 0005.delivery-status-without-pending
-- Postgres holds each execution's backlog; the notifications queue carries a bounded window
-- of it per execution, so one big send cannot starve the others (delivery/window.py).
--
-- A delivery is written 'ready' with what to send (payload); it becomes 'queued' when its
-- queue message is sent, 'sending' just before its request leaves, then 'sent', 'failed',
-- or 'uncertain' (no answer came: it may have arrived, and is never sent again).
-- claimed_by/claimed_until mark a notifier working on a queued row.

ALTER TABLE notification_deliveries
    ADD COLUMN payload JSONB,
    ADD COLUMN claimed_by TEXT,
    ALTER COLUMN status SET DEFAULT 'ready',
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('ready', 'queued', 'sending', 'sent', 'failed', 'uncertain', 'skipped'));

-- The next rows of an execution to put on the queue, and the rows the sweeper looks at.
CREATE INDEX notification_deliveries_ready_idx ON notification_deliveries (execution_id, id)
    WHERE status = 'ready';
CREATE INDEX notification_deliveries_open_idx ON notification_deliveries (updated_at)
    WHERE status IN ('queued', 'sending');

ALTER TABLE job_executions ADD COLUMN uncertain_count INTEGER NOT NULL DEFAULT 0;
