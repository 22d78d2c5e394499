-- Back to 0004: 'pending' is allowed again (and the default); no row needs to change.

ALTER TABLE notification_deliveries
    ALTER COLUMN status SET DEFAULT 'pending',
    DROP CONSTRAINT notification_deliveries_status_check,
    ADD CONSTRAINT notification_deliveries_status_check
        CHECK (status IN ('pending', 'queued', 'sending', 'sent', 'failed', 'skipped'));
