"""Time in the aggregates: tumbling windows of event time, and the Kafka timestamp of what they publish."""

from __future__ import annotations

import math
import time

# A broker refuses a record whose timestamp is more than log.message.timestamp.after.max.ms ahead of its clock
# (1 h by default since Kafka 4.0), and no record carries one past int64 milliseconds (a send raises, or fails
# after the fact and the record is lost). An event time beyond that stays in the value, not on the record.
MAX_AHEAD_S = 1800.0


def window_start(ts: float, size_s: float) -> float:
    """Start of the tumbling window of `size_s` seconds that contains `ts` (multiples of size since epoch):
    start <= ts < start + size_s."""
    start = float(math.floor(ts / size_s) * size_s)
    if start > ts:  # ts / size_s rounded up to the next integer
        start -= size_s
    return start


def record_time_ms(ts: float | None) -> int | None:
    """The Kafka timestamp (ms) of a record about event time `ts`: `ts`, or None (the time of sending) when
    a broker would refuse it."""
    if ts is not None and 0 <= ts <= time.time() + MAX_AHEAD_S:
        return int(ts * 1000)
    return None
