-- depends: 0010.admin-roles
-- An admin token may carry its admin's own Telegram user id: "Send me a test" sends a
-- job's message there only (not an execution, not counted).
ALTER TABLE admin_tokens ADD COLUMN telegram_user_id BIGINT;
