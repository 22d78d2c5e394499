"""The notifications-queue format (delivery ids, one execution a message), against moto's SQS."""

from __future__ import annotations

import json

import pytest
from pipeline import make_queues, receive_all

from job_scheduler.delivery.outbox import MAX_CALL_BYTES, DeliveryBatch, Outbox, calls, pack


@pytest.mark.parametrize(
    "count, per_message, expected_sizes",
    [(120, 50, [50, 50, 20]), (50, 50, [50]), (1, 50, [1]), (1000, 500, [500, 500])],
)
def test_pack_groups_ids_by_count(count, per_message, expected_sizes):
    batches = list(pack(7, "promo", list(range(1, count + 1)), per_message))
    assert [len(batch.delivery_ids) for batch in batches] == expected_sizes
    assert [i for batch in batches for i in batch.delivery_ids] == list(range(1, count + 1))
    assert all(len(b.to_json().encode()) <= MAX_CALL_BYTES for b in batches)


def test_calls_stay_within_ten_entries_and_the_call_size():
    bodies = [b.to_json() for b in pack(1, "j", list(range(10**12, 10**12 + 12_500)), 500)]
    assert [len(group) for group in calls(bodies)] == [10, 10, 5]
    assert all(
        sum(len(body.encode()) for body in group) <= MAX_CALL_BYTES for group in calls(bodies)
    )


def test_round_trip():
    batch = DeliveryBatch(3, "weekly-hello", (4, 5, 6))
    assert DeliveryBatch.from_json(batch.to_json()) == batch


def test_a_message_of_the_earlier_format_is_read_with_what_it_carried():
    body = json.dumps(
        {
            "execution_id": 3,
            "job": "j",
            "deliveries": [
                {"delivery_id": 8, "user_id": 1, "chat_id": 10, "text": "<b>hi</b>",
                 "parse_mode": "HTML", "silent": True},
            ],
        }
    )  # fmt: skip
    batch = DeliveryBatch.from_json(body)
    assert batch.delivery_ids == (8,)
    assert batch.inline == {8: {"text": "<b>hi</b>", "parse_mode": "HTML", "silent": True}}


def test_hundreds_of_messages_are_accepted_by_sqs(aws):
    queues = make_queues(aws)
    outbox = Outbox(queues.sqs, queues.notifications["url"])

    sent = outbox.send(pack(9, "promo", list(range(1, 10_001)), 500))

    received = receive_all(queues, queues.notifications)
    assert sent == len(received) == 20
    ids = [i for m in received for i in json.loads(m["Body"])["deliveries"]]
    assert sorted(ids) == list(range(1, 10_001))
