-- depends: 0006.delivery-window
-- Rastar as it is: a Supabase project whose sessions expire and rotate. An account keeps a
-- sealed session (access token, refresh token, expiry, Rastar user id, email: Fernet, see
-- rastar/crypto.py) and, unsealed, when its access token expires, so a run knows whom to
-- refresh without opening every session. Links made under the earlier protocol (one long-
-- lived token) cannot work: they are marked to be linked again, and each person is told once.

ALTER TABLE rastar_accounts ADD COLUMN sealed_session TEXT, ADD COLUMN access_expires_at TIMESTAMPTZ;
UPDATE rastar_accounts SET status = 'refused', refused_at = now(), relink_notified_at = NULL,
    refused_reason = 'linked under the earlier Rastar protocol; link again with /link';
ALTER TABLE rastar_accounts
    DROP COLUMN sealed_token,
    ADD CONSTRAINT rastar_accounts_linked_has_session
        CHECK (status = 'refused' OR sealed_session IS NOT NULL);

-- One-time links to the page where a person signs in to Rastar: only a SHA-256 of the state
-- is kept (the state is in the link); single use, a few tries, ten minutes by default.
CREATE TABLE rastar_link_states (
    state_sha256  TEXT PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    tries         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rastar_link_states_expiry_idx ON rastar_link_states (expires_at);

-- What a reminder's pick buttons stand for: a button carries a random token and two
-- indexes (Telegram allows 64 bytes); the days and dishes it may pick are here, for the
-- person it was sent to only.
CREATE TABLE rastar_pick_offers (
    token_sha256  TEXT PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    days          JSONB NOT NULL,  -- [{"date": "YYYY-MM-DD", "dishes": [{"schedule_id", "food_id", "name"}]}]
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX rastar_pick_offers_expiry_idx ON rastar_pick_offers (expires_at);
