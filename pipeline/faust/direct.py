"""Records of the source topics processed as the consumer hands them over, without an agent's stream.

A stream costs more per record than the worker's whole pass over a body of ten events (BENCHMARKS.md): the
conductor decodes each record into an Event and puts it on the stream's queue; the stream takes it off, runs
its sensors and context, and acks the one before. The pass awaits nothing, so it can run inside the
conductor's delivery: `DirectTopic` is a Faust topic whose queue (`Handoff`) processes each record at once
and acks it, as the stream would have once the agent had taken the next. Offsets, commits, rebalances and
the recovery stay Faust's: the record is acked only once processed, and a record of an earlier generation
is not processed (it comes again after the seek, as a stream skips it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust


class Handoff:
    """Stands in for a topic's queue, which the conductor puts each record on."""

    def __init__(
        self,
        app: Any,
        handle: Callable[[Any], None],
        ready: Callable[[], bool],
        wait: Callable[[], Awaitable],
    ) -> None:
        self.app, self.handle, self.ready, self.wait = app, handle, ready, wait

    def full(self) -> bool:
        """Until `ready()`, the conductor awaits `put` (a full queue), which waits for it."""
        return not self.ready()

    def put_nowait_enhanced(self, value: Any, **_pressure: Any) -> None:
        """The conductor's call (by keyword in its Cython build): `value` is the record `decode` gave."""
        message = value
        app = self.app
        if message.generation_id != app.consumer_generation_id or not app.flow_control.is_active():
            return  # fetched before a rebalance: read again after the seek to the committed offsets
        self.handle(message)
        message.ack(app.consumer)

    async def put(self, message: Any) -> None:
        await self.wait()
        self.put_nowait_enhanced(message)


class DirectTopic(faust.Topic):
    """A topic whose records go to `handoff` as they are fetched (`Message`s: keys and values raw bytes)."""

    def __init__(self, app: Any, *topics: str, handoff: Handoff) -> None:
        super().__init__(
            app, topics=list(topics), key_type=bytes, value_type=bytes, key_serializer="raw",
            value_serializer="raw",
        )  # fmt: skip
        self._handoff = handoff
        self.decode = _undecoded  # type: ignore[method-assign]  # Topic compiles its own into the instance

    @property
    def queue(self) -> Any:
        return self._handoff

    async def put(self, value: Any) -> None:
        """What the conductor awaits while the queue is full (until ready): the handoff's own put."""
        await self._handoff.put(value)


async def _undecoded(message: Any, *, propagate: bool = False) -> Any:
    return message  # the handoff takes the message itself: no Event


def subscribe(
    app: Any,
    topics: list[str],
    handle: Callable[[Any], None],
    ready: Callable[[], bool],
    wait: Callable[[], Awaitable],
) -> DirectTopic:
    """Subscribe the app to `topics`, each record given to `handle(message)` once `ready()`."""
    topic = DirectTopic(app, *topics, handoff=Handoff(app, handle, ready, wait))
    app.topics.add(topic)
    return topic
