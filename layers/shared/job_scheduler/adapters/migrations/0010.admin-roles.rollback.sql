-- Back to 0009: without roles every token changes everything. Refuse while viewers exist,
-- rather than make them admins.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM admin_tokens WHERE role = 'viewer' AND revoked_at IS NULL) THEN
        RAISE EXCEPTION 'cannot roll back 0010.admin-roles: live viewer tokens would become admins; revoke them first (jobsctl admin-token revoke NAME)';
    END IF;
END
$$;
ALTER TABLE admin_tokens DROP COLUMN role;
