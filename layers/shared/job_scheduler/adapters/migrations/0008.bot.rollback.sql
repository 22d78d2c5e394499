-- Back to 0007. Who opted out is lost with its column: they are marked inactive instead,
-- so a rollback never starts sending to someone who said /stop.
UPDATE users SET is_active = false, inactive_reason = 'opted out', inactive_since = opted_out_at
    WHERE opted_out_at IS NOT NULL AND is_active;
DROP TABLE bot_updates;
ALTER TABLE character_packs
    DROP CONSTRAINT character_packs_slug_shape,
    DROP COLUMN updated_at,
    DROP COLUMN open_to_join;
CREATE INDEX users_active_id_idx ON users (id) WHERE is_active;
DROP INDEX users_reachable_id_idx;
ALTER TABLE users DROP COLUMN last_seen_at, DROP COLUMN opted_out_at, DROP COLUMN language;
