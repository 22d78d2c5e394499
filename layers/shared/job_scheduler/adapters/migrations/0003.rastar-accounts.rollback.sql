-- Refuse rather than drop users' Rastar links with the table.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM rastar_accounts) THEN
        RAISE EXCEPTION 'cannot roll back 0003.rastar-accounts: users have linked Rastar accounts that would be lost; delete the rows of rastar_accounts first if that is meant';
    END IF;
END
$$;
DROP TABLE rastar_accounts;
