-- depends: 0002.execution-leases
-- Users' links to the Rastar food service.

CREATE TABLE rastar_accounts (
    user_id             BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The user's Rastar access token, Fernet-encrypted (crypto.py); never stored plain.
    sealed_token        TEXT NOT NULL,
    -- 'refused': Rastar rejected the token (expired, revoked); the user must link again.
    status              TEXT NOT NULL DEFAULT 'linked' CHECK (status IN ('linked', 'refused')),
    refused_at          TIMESTAMPTZ,
    refused_reason      TEXT,
    -- When the user was told to link again: once per refusal, not every night.
    relink_notified_at  TIMESTAMPTZ,
    linked_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT rastar_accounts_refused_has_reason
        CHECK (status = 'linked' OR (refused_at IS NOT NULL AND refused_reason IS NOT NULL))
);
