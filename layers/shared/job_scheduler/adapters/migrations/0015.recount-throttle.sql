-- When an execution's counts were last taken from its rows: the notifier recounts a send
-- at most every few seconds while it goes on (a count reads every row of the execution,
-- which per queue message of a million-person send was most of the database's work),
-- and always once nothing of it is left to send.
ALTER TABLE job_executions ADD COLUMN counted_at TIMESTAMPTZ;
