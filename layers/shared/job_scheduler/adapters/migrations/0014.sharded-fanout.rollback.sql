-- Going back to one fan-out per firing: a sharded execution still running cannot be
-- finished by the code before 0014, so the rollback refuses while one is.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM job_executions WHERE shards > 0 AND status = 'running') THEN
        RAISE EXCEPTION 'sharded executions are still running: wait for them, or cancel them'
              ' (jobsctl execution cancel ID), then roll back';
    END IF;
END $$;
ALTER TABLE job_executions DROP COLUMN shards;
DROP TABLE execution_shards;
