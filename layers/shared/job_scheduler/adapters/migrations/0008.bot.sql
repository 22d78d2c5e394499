-- depends: 0007.rastar-sessions
-- The bot: people register themselves, choose their language and packs, and opt out.
-- language is the person's choice in the bot (NULL: Telegram's language_code, else
-- Persian); opted out (/stop) is its own state, apart from is_active (blocked, gone), so
-- /resume can undo it and the admin sees which it is.
ALTER TABLE users
    ADD COLUMN language      TEXT CHECK (language IN ('fa', 'en')),
    ADD COLUMN opted_out_at  TIMESTAMPTZ,
    ADD COLUMN last_seen_at  TIMESTAMPTZ;
-- Targeting walks people who can be reached and want to be, in id order.
CREATE INDEX users_reachable_id_idx ON users (id) WHERE is_active AND opted_out_at IS NULL;
DROP INDEX users_active_id_idx;

-- A pack people may join themselves (/packs, or a t.me/<bot>?start=pack_<slug> link).
-- Telegram's start payload is at most 64 of [A-Za-z0-9_-]: "pack_" leaves 59 for the slug.
ALTER TABLE character_packs
    ADD COLUMN open_to_join BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD CONSTRAINT character_packs_slug_shape CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,58}$') NOT VALID;

-- Telegram updates already applied: Telegram delivers an update again until it gets a 2xx,
-- and an update id is applied at most once. Kept for a bounded time (Telegram keeps an
-- undelivered update for 24 hours); pruned by the bot itself.
CREATE TABLE bot_updates (
    update_id    BIGINT PRIMARY KEY,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind         TEXT NOT NULL,
    outcome      TEXT NOT NULL DEFAULT 'applying'
                 CHECK (outcome IN ('applying', 'applied', 'failed', 'ignored'))
);
CREATE INDEX bot_updates_received_idx ON bot_updates (received_at);
