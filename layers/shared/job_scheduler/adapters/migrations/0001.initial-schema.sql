-- The whole schema of the scheduled-jobs system. Times are timestamptz (stored in UTC);
-- schedules are evaluated in each job's IANA timezone by the application.

CREATE TABLE users (
    id                BIGSERIAL PRIMARY KEY,
    telegram_chat_id  BIGINT NOT NULL UNIQUE,
    username          TEXT,
    first_name        TEXT,
    last_name         TEXT,
    language_code     TEXT,
    is_active         BOOLEAN NOT NULL DEFAULT TRUE,
    inactive_reason   TEXT,
    inactive_since    TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_inactive_has_reason CHECK (is_active OR inactive_reason IS NOT NULL)
);
-- Targeting walks active users in id order.
CREATE INDEX users_active_id_idx ON users (id) WHERE is_active;

CREATE TABLE character_packs (
    id           BIGSERIAL PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE user_character_packs (
    pack_id   BIGINT NOT NULL REFERENCES character_packs (id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (pack_id, user_id)
);
CREATE INDEX user_character_packs_user_idx ON user_character_packs (user_id);

CREATE TABLE scheduled_jobs (
    id                       BIGSERIAL PRIMARY KEY,
    name                     TEXT NOT NULL UNIQUE
                             CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,47}$'),
    kind                     TEXT NOT NULL CHECK (kind IN ('coded', 'custom_message')),
    description              TEXT NOT NULL DEFAULT '',
    cron_expression          TEXT NOT NULL,
    timezone                 TEXT NOT NULL,
    enabled                  BOOLEAN NOT NULL DEFAULT TRUE,
    message_config           JSONB NOT NULL DEFAULT '{}'::jsonb,
    include_user_ids         BIGINT[] NOT NULL DEFAULT '{}',
    exclude_user_ids         BIGINT[] NOT NULL DEFAULT '{}',
    pack_ids                 BIGINT[] NOT NULL DEFAULT '{}',
    misfire_grace_seconds    INTEGER NOT NULL DEFAULT 300 CHECK (misfire_grace_seconds >= 0),
    overlap_policy           TEXT NOT NULL DEFAULT 'skip' CHECK (overlap_policy IN ('skip', 'allow')),
    version                  INTEGER NOT NULL DEFAULT 1,
    -- What the code declared at the last sync (coded jobs): lets a changed default reach
    -- jobs whose admins never changed that field.
    code_defaults            JSONB,
    -- A coded job that left the code: disabled, its rules removed, its history kept.
    orphaned_at              TIMESTAMPTZ,
    enabled_before_orphaned  BOOLEAN,
    -- The EventBridge rules installed for this job by the last sync.
    rule_names               TEXT[] NOT NULL DEFAULT '{}',
    rule_expressions         TEXT[] NOT NULL DEFAULT '{}',
    last_synced_at           TIMESTAMPTZ,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by               TEXT NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by               TEXT NOT NULL,
    CONSTRAINT scheduled_jobs_orphans_are_coded CHECK (orphaned_at IS NULL OR kind = 'coded')
);

CREATE TABLE job_executions (
    id                BIGSERIAL PRIMARY KEY,
    job_id            BIGINT NOT NULL REFERENCES scheduled_jobs (id) ON DELETE CASCADE,
    scheduled_for     TIMESTAMPTZ NOT NULL,
    trigger           TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status            TEXT NOT NULL
                      CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'missed')),
    lock_mode         TEXT CHECK (lock_mode IN ('redis', 'redis-unavailable', 'none')),
    started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at       TIMESTAMPTZ,
    duration_ms       INTEGER,
    recipients_count  INTEGER NOT NULL DEFAULT 0,
    sent_count        INTEGER NOT NULL DEFAULT 0,
    failed_count      INTEGER NOT NULL DEFAULT 0,
    detail            TEXT,
    error             TEXT,
    attempts          INTEGER NOT NULL DEFAULT 1,
    triggered_by      TEXT,
    CONSTRAINT job_executions_once_per_firing UNIQUE (job_id, scheduled_for)
);
-- Execution history, newest first, per job and per job and status.
CREATE INDEX job_executions_history_idx ON job_executions (job_id, scheduled_for DESC, id DESC);
CREATE INDEX job_executions_status_idx ON job_executions (job_id, status, scheduled_for DESC);
-- The overlap check: is a run of this job still going?
CREATE INDEX job_executions_running_idx ON job_executions (job_id) WHERE status = 'running';

CREATE TABLE notification_deliveries (
    id                   BIGSERIAL PRIMARY KEY,
    execution_id         BIGINT NOT NULL REFERENCES job_executions (id) ON DELETE CASCADE,
    user_id              BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    telegram_message_id  BIGINT,
    attempts             INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at              TIMESTAMPTZ,
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT notification_deliveries_once_per_user UNIQUE (execution_id, user_id)
);
CREATE INDEX notification_deliveries_status_idx ON notification_deliveries (execution_id, status);
CREATE INDEX notification_deliveries_user_idx ON notification_deliveries (user_id);

CREATE TABLE audit_log (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_name  TEXT NOT NULL,
    before       JSONB,
    after        JSONB
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_name, at DESC);

CREATE TABLE system_config (
    key         TEXT PRIMARY KEY,
    value       JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
