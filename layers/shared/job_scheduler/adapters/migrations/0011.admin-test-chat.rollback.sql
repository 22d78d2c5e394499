ALTER TABLE admin_tokens DROP COLUMN telegram_user_id;
