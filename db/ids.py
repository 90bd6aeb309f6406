"""Task ids: UUIDv7 (RFC 9562), a millisecond timestamp followed by 74 random bits.

Ids that sort by creation time make the primary key index grow at its right edge, like the
listing indexes: an insert touches the few pages every recent insert touched, not a random
page of an index that outgrew memory long ago (a random UUIDv4 does). The random part keeps
them unguessable; what an id gives away is the millisecond its task was submitted, which its
`created_at` shows anyway.
"""

import os
import time
import uuid

_TIMESTAMP_BITS = 48
_VERSION = 0x7
_VARIANT = 0b10


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7 for now (or for the given Unix time in milliseconds)."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    random_bits = int.from_bytes(os.urandom(10), "big")
    rand_a = random_bits >> 68  # 12 bits
    rand_b = random_bits & ((1 << 62) - 1)  # 62 bits
    value = (
        (ms & ((1 << _TIMESTAMP_BITS) - 1)) << 80
        | _VERSION << 76
        | rand_a << 64
        | _VARIANT << 62
        | rand_b
    )
    return uuid.UUID(int=value)
