DROP INDEX audit_log_at_idx;
DROP INDEX job_executions_scheduled_idx;
