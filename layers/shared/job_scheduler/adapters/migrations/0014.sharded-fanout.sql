-- depends: 0013.once-and-between
-- A big audience is fanned out in shards (execution/shards.py): ranges of user ids, each a
-- work item on the jobs queue that a parallel executor invocation runs. A shard row says
-- how far its range got; the execution finishes when its last shard does.
CREATE TABLE execution_shards (
    execution_id   BIGINT NOT NULL REFERENCES job_executions (id) ON DELETE CASCADE,
    shard          INTEGER NOT NULL CHECK (shard >= 0),
    first_user_id  BIGINT NOT NULL,
    last_user_id   BIGINT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_until    TIMESTAMPTZ,
    recipients     INTEGER NOT NULL DEFAULT 0,
    messages       INTEGER NOT NULL DEFAULT 0,
    skipped        INTEGER NOT NULL DEFAULT 0,
    note           TEXT,
    error          TEXT,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, shard),
    CONSTRAINT execution_shards_range_in_order CHECK (first_user_id <= last_user_id)
);

ALTER TABLE job_executions ADD COLUMN shards INTEGER NOT NULL DEFAULT 0;
