-- depends: 0009.history-retention
-- An admin token is an admin (changes anything) or a viewer (reads only). Every token made
-- before roles existed could change everything: they stay admins.
ALTER TABLE admin_tokens
    ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'viewer'));
