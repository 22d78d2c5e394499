-- depends: 0004.admin-tokens
-- A delivery row is written 'queued' by the fan-out, so 'pending' (from 0001) names a state
-- nothing reaches any more. Rows still in it (none are expected) become 'queued', which is
-- what every reader treated them as.

UPDATE notification_deliveries SET status = 'queued' WHERE status = 'pending';

ALTER TABLE notification_deliveries
    ALTER COLUMN status SET DEFAULT 'queued',
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped'));
