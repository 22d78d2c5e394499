DROP TABLE IF EXISTS system_config, audit_log, notification_deliveries, job_executions,
    scheduled_jobs, user_character_packs, character_packs, users;
