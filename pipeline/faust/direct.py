"""Records of the source topics processed as the consumer hands them over, without an agent's stream.

A stream costs more per record than the worker's whole pass over a body of ten events (BENCHMARKS.md): the
conductor decodes each record into an Event and puts it on the stream's queue; the stream takes it off, runs
its sensors and context, and acks the one before. The pass awaits nothing, so it can run inside the
conductor's delivery: `DirectTopic` is a Faust topic whose queue (`Handoff`) processes each record at once
and acks it, as the stream would have once the agent had taken the next. Offsets, commits, rebalances and
the recovery stay Faust's: the record is acked only once processed, and a record of an earlier generation
is not processed (it comes again after the seek, as a stream skips it).

Faust's fetcher awaits each record's delivery through `Service.wait_first` (the delivery raced against a
rebalance's `suspend_flow`): four tasks and an `asyncio.wait` per record, ~80 us, more than the pass over a
body costs per event. `drain` is Faust's fetch loop with one change: a record of the direct topic, while
nothing can make its delivery wait (the hand-over ready, the flow not suspended, Faust's producer buffer
below its limit), is handed over in place, as the conductor's delivery would have done without suspending
inside `wait_first`, minus its lock and awaits. Any other record goes through `wait_first` as before.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING, Consumer


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
    _DIRECT[app] = topic
    return topic


_DIRECT: weakref.WeakKeyDictionary[Any, DirectTopic] = weakref.WeakKeyDictionary()
_faust_drain_messages = Consumer._drain_messages


def delivers_at_once(app: Any, consumer: Any, topic: DirectTopic) -> Callable[[str], bool]:
    """Whether the conductor's delivery of a record of `topic` (a name) completes without suspending: it
    awaits the flow control and Faust's producer buffer, then puts the record on the hand-over."""
    names = frozenset(topic.topics)
    handoff = topic._handoff
    flow = app.flow_control
    suspended = consumer.suspend_flow.is_set
    buffer = app.producer.buffer

    def at_once(name: str) -> bool:
        return (
            name in names
            and handoff.ready()
            and flow.is_active()
            and not suspended()
            and buffer.size <= buffer.max_messages
        )

    return at_once


async def drain(self: Consumer, fetcher: Any) -> None:
    """Faust 0.15's `Consumer._drain_messages`, but a record that `delivers_at_once` is handed over in
    place: the conductor's delivery would only take its lock, await the flow and the producer's buffer (both
    free, as checked), and put the undecoded record on the hand-over."""
    topic = _DIRECT.get(self.app)
    if topic is None:
        return await _faust_drain_messages(self, fetcher)
    at_once = delivers_at_once(self.app, self, topic)
    hand_over = topic._handoff.put_nowait_enhanced
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            ait = cast(AsyncIterator, getmany(timeout=1.0))
            await self.sleep(0)  # getmany may not release the loop
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if at_once(tp.topic):
                            hand_over(message)  # the change: what the conductor's delivery comes to
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
                unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


def apply() -> None:
    """Install the fetch loop that delivers direct records at once (idempotent; others as Faust does)."""
    Consumer._drain_messages = drain  # type: ignore[method-assign]
