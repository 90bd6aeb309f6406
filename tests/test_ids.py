"""Task ids are UUIDv7: time first, so the primary key grows at its right edge."""

import time
import uuid

from db.ids import uuid7


def test_an_id_is_a_version_7_rfc_uuid_carrying_its_millisecond():
    # Given a moment in milliseconds
    moment = 1_795_000_000_123

    # When an id is made for it
    task_id = uuid7(moment)

    # Then it is an RFC 9562 version 7 UUID whose first 48 bits are that moment
    assert task_id.version == 7
    assert task_id.variant == uuid.RFC_4122
    assert task_id.int >> 80 == moment


def test_ids_sort_by_the_millisecond_they_were_made_in():
    # Given ids made a millisecond apart, many in each
    earlier = [uuid7(1_795_000_000_000) for _ in range(200)]
    later = [uuid7(1_795_000_000_001) for _ in range(200)]

    # Then every later one sorts after every earlier one, and none repeats
    assert max(earlier) < min(later)
    assert len(set(earlier + later)) == 400


def test_ids_made_now_are_close_to_the_clock():
    before = time.time_ns() // 1_000_000
    task_id = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= task_id.int >> 80 <= after
