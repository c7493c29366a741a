"""pipeline.dedupe: publish first, then mark seen (a mark without its record would lose the event)."""

from __future__ import annotations

import pytest

from pipeline.dedupe import publish_once


async def test_publishes_an_unseen_event_and_marks_it_after():
    seen: dict[str, bool] = {}
    marked_when_published: list[bool] = []

    async def publish() -> None:
        marked_when_published.append("fp" in seen)

    assert await publish_once("fp", seen, publish, lambda fp: seen.__setitem__(fp, True))
    assert marked_when_published == [False]  # not marked while the record was being handed over
    assert seen == {"fp": True}


async def test_drops_a_seen_event():
    published: list[str] = []

    async def publish() -> None:
        published.append("fp")

    assert not await publish_once("fp", {"fp"}, publish, lambda fp: None)
    assert published == []


async def test_a_failed_publish_leaves_the_event_unseen():
    seen: set[str] = set()

    async def publish() -> None:
        raise ConnectionError("the worker dies here")

    with pytest.raises(ConnectionError):
        await publish_once("fp", seen, publish, seen.add)
    assert seen == set()  # a re-read of the event publishes it
    calls: list[str] = []

    async def publish_again() -> None:
        calls.append("fp")

    assert await publish_once("fp", seen, publish_again, seen.add)
    assert calls == ["fp"] and seen == {"fp"}
