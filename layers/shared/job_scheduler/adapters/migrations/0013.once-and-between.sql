-- depends: 0012.cancel-and-pause
-- One-off jobs and a window for repeating ones. A job whose schedule is at(YYYY-MM-DDThh:mm)
-- runs once; completed_at says when it did (it is then done and its rule removed). A
-- repeating job may have a start and an end (both inclusive); firings outside them are
-- recorded skipped, and its rules are removed once the end has passed.
ALTER TABLE scheduled_jobs
    ADD COLUMN starts_at    TIMESTAMPTZ,
    ADD COLUMN ends_at      TIMESTAMPTZ,
    ADD COLUMN completed_at TIMESTAMPTZ,
    ADD CONSTRAINT scheduled_jobs_window_in_order
        CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at),
    ADD CONSTRAINT scheduled_jobs_window_is_for_repeating_jobs
        CHECK (left(cron_expression, 3) <> 'at(' OR (starts_at IS NULL AND ends_at IS NULL)),
    ADD CONSTRAINT scheduled_jobs_only_one_off_jobs_complete
        CHECK (completed_at IS NULL OR left(cron_expression, 3) = 'at(');
