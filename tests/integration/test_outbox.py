"""The notifications-queue format and its size limits, against moto's SQS."""

from __future__ import annotations

import json

import pytest
from pipeline import make_queues, receive_all

from job_scheduler.delivery.outbox import (
    MAX_CALL_BYTES,
    Delivery,
    DeliveryBatch,
    Outbox,
    calls,
    pack,
)

PERSIAN_4000 = "س" * 4000  # two bytes each in UTF-8


def deliveries(count: int, text: str = "hi") -> list[Delivery]:
    return [Delivery(i, i, 1000 + i, text, "HTML", False) for i in range(count)]


@pytest.mark.parametrize(
    "count, text, per_message, expected_messages",
    [
        (120, "hi", 50, 3),  # by count
        (600, PERSIAN_4000, 50, 20),  # by size: ~8 KB each, 30 fit in a message
        (1, PERSIAN_4000, 50, 1),
    ],
)
def test_pack_respects_count_and_encoded_size(count, text, per_message, expected_messages):
    batches = list(pack(7, "promo", deliveries(count, text), per_message))
    assert len(batches) == expected_messages
    assert sum(len(b.deliveries) for b in batches) == count
    assert all(len(b.to_json().encode()) <= MAX_CALL_BYTES for b in batches)
    assert all(len(b.deliveries) <= per_message for b in batches)


def test_calls_stay_within_ten_entries_and_the_call_size():
    small = [DeliveryBatch(1, "j", tuple(deliveries(1))).to_json()] * 25
    big = [b.to_json() for b in pack(1, "j", deliveries(600, PERSIAN_4000), 50)]
    assert [len(group) for group in calls(small)] == [10, 10, 5]
    assert all(sum(len(body.encode()) for body in group) <= MAX_CALL_BYTES for group in calls(big))


def test_round_trip_keeps_characters_sqs_refuses_raw():
    text = "a\ufffeb\uffffc\n<b>"
    batch = DeliveryBatch(3, "j", tuple(deliveries(1, text)))
    body = batch.to_json()
    assert "\ufffe" not in body and "\uffff" not in body
    assert DeliveryBatch.from_json(body) == batch


def test_long_messages_to_hundreds_of_users_are_accepted_by_sqs(aws):
    queues = make_queues(aws)
    outbox = Outbox(queues.sqs, queues.notifications["url"])
    weird = PERSIAN_4000[:-2] + "\ufffe\n"

    sent = outbox.send(pack(9, "promo", deliveries(600, weird), 50))

    received = receive_all(queues, queues.notifications)
    assert sent == len(received) == 20
    texts = [d["text"] for m in received for d in json.loads(m["Body"])["deliveries"]]
    assert len(texts) == 600 and set(texts) == {weird}
