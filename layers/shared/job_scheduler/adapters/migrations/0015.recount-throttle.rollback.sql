ALTER TABLE job_executions DROP COLUMN counted_at;
