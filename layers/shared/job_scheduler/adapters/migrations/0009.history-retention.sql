-- depends: 0008.bot
-- prune-history deletes executions and audit rows older than HISTORY_DAYS, oldest first,
-- a batch at a time: each batch finds its rows by these indexes.
CREATE INDEX job_executions_scheduled_idx ON job_executions (scheduled_for);
CREATE INDEX audit_log_at_idx ON audit_log (at);
