"""'Send me a test': a custom job's message rendered for the admin and sent to their own
Telegram chat only. It is not an execution: nothing is counted, nobody else is reached;
the audit log records it. A paid broadcast's test goes as a plain send: one message needs
no paid rate, and costs no Stars."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from job_scheduler.adapters.db import Conn
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.audit import record_change
from job_scheduler.errors import InvalidJob
from job_scheduler.messages.languages import LANGUAGE
from job_scheduler.messages.rendering import message_for
from job_scheduler.model import Job, Recipient


def send_test(
    conn: Conn,
    telegram: TelegramClient,
    job: Job,
    chat_id: int,
    actor: str,
    now: datetime,
) -> int:
    """Telegram's message id of the test sent to ``chat_id``; the admin is its recipient
    (as the users table knows them, else by their chat id alone)."""
    if not job.is_custom:
        raise InvalidJob(f"{job.name} is a coded job: its messages come from its code, per"
                         " person, and cannot be sent as a test", "name")  # fmt: skip
    row = conn.execute(
        "SELECT u.id, u.first_name, u.last_name, u.username, " + LANGUAGE + " AS language"
        " FROM users u WHERE u.telegram_chat_id = %s", (chat_id,),
    ).fetchone()  # fmt: skip
    recipient = Recipient(0, chat_id)
    if row:
        recipient = Recipient(row["id"], chat_id, row["first_name"], row["last_name"],
                              row["username"], row["language"])  # fmt: skip
    message = replace(message_for(job, recipient, now), paid_broadcast=False)
    message_id = telegram.deliver(chat_id, message)
    with conn.transaction():
        record_change(conn, actor, "test_send", "job", job.name, None,
                      {"chat_id": chat_id, "telegram_message_id": message_id}, now)  # fmt: skip
    return message_id
