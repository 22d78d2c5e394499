-- Back to 0006: a session cannot become the earlier single token. Refuse, saying what to do,
-- rather than drop people's links.
DO $$
DECLARE
    linked INTEGER;
BEGIN
    SELECT count(*) INTO linked FROM rastar_accounts;
    IF linked > 0 THEN
        RAISE EXCEPTION 'cannot roll back 0007.rastar-sessions: % Rastar accounts hold sessions the earlier protocol cannot use; unlink them first (jobsctl user unlink-rastar)', linked;
    END IF;
END
$$;
DROP TABLE rastar_pick_offers;
DROP TABLE rastar_link_states;
ALTER TABLE rastar_accounts
    DROP CONSTRAINT rastar_accounts_linked_has_session,
    DROP COLUMN access_expires_at,
    DROP COLUMN sealed_session,
    ADD COLUMN sealed_token TEXT NOT NULL;
