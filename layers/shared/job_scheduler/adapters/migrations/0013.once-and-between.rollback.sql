-- Going back: before 0013 there are no one-off jobs and no windows.
-- A start or end still ahead cannot be kept: refuse, saying what to do, rather than let a
-- job fire outside its window. (A start already past changes nothing and just goes.)
DO $$
DECLARE
    bounded INTEGER;
BEGIN
    SELECT count(*) INTO bounded FROM scheduled_jobs
     WHERE enabled AND (starts_at > now() OR ends_at >= now());
    IF bounded > 0 THEN
        RAISE EXCEPTION 'cannot roll back 0013.once-and-between: % job(s) have a start or end still ahead, which the schema before 0013 cannot hold; clear their starts_at and ends_at, or disable or delete them, first', bounded;
    END IF;
END
$$;
ALTER TABLE scheduled_jobs
    DROP CONSTRAINT scheduled_jobs_only_one_off_jobs_complete,
    DROP CONSTRAINT scheduled_jobs_window_is_for_repeating_jobs,
    DROP CONSTRAINT scheduled_jobs_window_in_order;
-- A job whose end has passed stays stopped: disabled.
UPDATE scheduled_jobs SET enabled = false, version = version + 1, updated_at = now(),
       updated_by = 'migration 0013 rollback'
 WHERE ends_at < now() AND enabled;
-- at(YYYY-MM-DDThh:mm) becomes the cron naming that same local minute, year included: it
-- fires once if it has not come yet (in the same timezone, the same DST rule), never if past.
UPDATE scheduled_jobs
   SET cron_expression = format('cron(%s %s %s %s ? %s)', parts[5]::int, parts[4]::int,
                                parts[3]::int, parts[2]::int, parts[1]::int)
  FROM (SELECT id AS job_id,
               regexp_match(cron_expression,
                            '^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::00)?\)$') AS parts
          FROM scheduled_jobs WHERE left(cron_expression, 3) = 'at(') AS once
 WHERE id = once.job_id AND parts IS NOT NULL;
ALTER TABLE scheduled_jobs
    DROP COLUMN completed_at,
    DROP COLUMN ends_at,
    DROP COLUMN starts_at;
